#pragma once
// Internal: the profiler's scope calls for code that cannot use an RAII Scope because it learns
// part of the cost only at the end (a kernel adds the bytes of the tensor it returns).
namespace xomni::profiler {

// Opens a scope (sets `active` when the scope is recorded: profiler on, profiled thread).
void begin_scope(const char* name, double flops, double bytes, bool& active);
// Closes the innermost scope, adding `extra_bytes` to what it began with.
void end_scope(double extra_bytes);

}  // namespace xomni::profiler
