#pragma once
// Internal: the timed kernel table the profiler swaps in for the CPU's while it runs.
namespace xomni::profiler {

// true: every CPU kernel call is timed (the table the CPU had is kept and called underneath);
// false: the plain table is back.
void install_profiled_kernels(bool on);

}  // namespace xomni::profiler
