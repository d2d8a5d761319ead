#pragma once
// A picture of a pipeline schedule: one row per rank, a box per forward (F) and backward (B) of a
// micro-batch with its number (forward 0x4682c8 blue, backward 0xf09632 orange), a time axis, and
// the measured bubble fraction in the title. Under interleaved 1F1B a box shows micro/chunk.
#include <string>
#include <vector>

#include "xomni/parallel/pipeline.h"

namespace xomni::cli {

struct TimelinePlot {
  int width = 1400;     // pixels
  int row_height = 40;  // pixels per rank
  std::string title;    // prefixed to the bubble line when non-empty
};

// Draws `events` (every rank's, one step) to a PNG at `path`. The bubble is measured over the
// ranks present (bubble_fraction with stages = the number of distinct ranks) and returned.
double plot_timeline_png(const std::vector<parallel::TimelineEvent>& events,
                         const std::string& path, const TimelinePlot& options = {});

// Whether the events come from interleaved 1F1B (some box on a chunk other than 0).
bool has_chunks(const std::vector<parallel::TimelineEvent>& events);
// A box's label: the micro-batch number, or "micro/chunk" when `chunked`.
std::string box_label(const parallel::TimelineEvent& e, bool chunked);

}  // namespace xomni::cli
