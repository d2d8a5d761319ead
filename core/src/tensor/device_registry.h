#pragma once
// Internal: one entry per device kind (an allocator, a kernel table), set by the backend that
// provides it. Lookups are one atomic load, so they are cheap enough for every op call.
#include <array>
#include <atomic>

#include "xomni/core/tensor/device.h"
#include "xomni/core/tensor/error.h"

namespace xomni {

template <typename Entry>
class DeviceRegistry {
 public:
  // `what` names the entry in errors ("kernels", "allocator"); `cpu` is always present.
  DeviceRegistry(const char* what, const Entry* cpu) : what_(what) {
    slots_[slot(Device::Kind::cpu)].store(cpu);
  }

  // Installs `entry` for every device of `kind`; returns the one it replaces (may be null).
  const Entry* set(Device::Kind kind, const Entry* entry) {
    return slots_[slot(kind)].exchange(entry, std::memory_order_acq_rel);
  }

  const Entry& get(Device device) const {
    const Entry* e = slots_[slot(device.kind)].load(std::memory_order_acquire);
    if (!e)
      throw Error(detail::concat("no ", what_, " for device ", device.str(),
                                 " in this build (built without CUDA)"));
    return *e;
  }

 private:
  static size_t slot(Device::Kind kind) { return size_t(kind); }

  const char* what_;
  std::array<std::atomic<const Entry*>, 2> slots_{};  // one per Device::Kind
};

}  // namespace xomni
