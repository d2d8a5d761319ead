#include "train/signals.h"

#include <csignal>

namespace xomni::train {

std::atomic<bool>& stop_requested() {
  static std::atomic<bool> flag{false};
  return flag;
}

void install_stop_signal_handlers() {
  auto handler = [](int) { stop_requested().store(true); };
  std::signal(SIGINT, handler);
  std::signal(SIGTERM, handler);
  std::signal(SIGUSR1, handler);
}

}  // namespace xomni::train
