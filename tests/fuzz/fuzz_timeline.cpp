// Pipeline timeline JSONL (`xomni timeline`): reading, the bubble fraction and the picture.
#include "fuzz_target.h"
#include "timeline_plot.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_timeline", [&] {
    const auto events = xomni::parallel::read_timeline_jsonl(
        xomni::fuzz::write_scratch("timeline.jsonl", xomni::fuzz::as_text(data, size)));
    if (events.empty()) return;
    xomni::cli::plot_timeline_png(events, xomni::fuzz::scratch_dir() + "/timeline.png");
  });
}
