#pragma once
// A picture of a pipeline schedule: one row per rank, a box per forward (F) and backward (B) of a
// micro-batch with its number (forward 0x4682c8 blue, backward 0xf09632 orange), a time axis, and
// the measured bubble fraction in the title.
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

}  // namespace xomni::cli
