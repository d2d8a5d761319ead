// The per-op profiler: rows per kernel and phase with exact call counts, FLOPs and bytes of a
// known graph; self/total accounting of nested scopes; nothing recorded while off; the Chrome
// trace as valid JSON with every scope once, nested inside its parent.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "check.h"
#include "xomni/core/tensor/profiler.h"

using namespace xomni;

namespace {

const profiler::OpStat* find_row(const std::vector<profiler::OpStat>& rows, const std::string& name,
                                 const std::string& phase) {
  for (const profiler::OpStat& r : rows)
    if (r.name == name && r.phase == phase) return &r;
  return nullptr;
}

struct StopProfiler {  // a failed assertion must not leave the profiler on for later tests
  ~StopProfiler() { profiler::stop(); }
};

}  // namespace

TEST(Profiler, LinearForwardAndBackwardRows) {
  const int64_t N = 6, in = 5, out = 7;
  Generator gen(3);
  Tensor x = randn({N, in}, gen), w = randn({out, in}, gen);
  x.set_requires_grad();
  w.set_requires_grad();
  StopProfiler guard;
  profiler::start();
  Tensor y = linear(x, w);
  sum(y).backward();
  profiler::stop();
  const std::vector<profiler::OpStat> rows = profiler::stats();

  const profiler::OpStat* fwd = find_row(rows, "linear", "forward");
  ASSERT_NE(fwd, nullptr);
  EXPECT_EQ(fwd->calls, 1);
  EXPECT_DOUBLE_EQ(fwd->flops, 2.0 * N * in * out);
  EXPECT_DOUBLE_EQ(fwd->bytes, 4.0 * (N * in + out * in + N * out));  // x, w read; y written
  // Backward: dx = g w and dw = g^T x, two products of the same size as the forward's.
  const profiler::OpStat* bwd = find_row(rows, "matmul", "backward");
  ASSERT_NE(bwd, nullptr);
  EXPECT_EQ(bwd->calls, 2);
  EXPECT_DOUBLE_EQ(bwd->flops, 2 * 2.0 * N * in * out);
  EXPECT_EQ(find_row(rows, "linear", "backward"), nullptr);
  EXPECT_EQ(find_row(rows, "matmul", "forward"), nullptr);

  // The engine's scope holds every backward kernel: its total is at least their sum.
  const profiler::OpStat* engine = find_row(rows, "autograd_engine", "backward");
  ASSERT_NE(engine, nullptr);
  EXPECT_EQ(engine->calls, 1);
  double backward_kernels = 0;
  for (const profiler::OpStat& r : rows) {
    EXPECT_GE(r.self_s, 0.0) << r.name;
    EXPECT_LE(r.self_s, r.total_s + 1e-12) << r.name;
    if (r.phase == "backward" && r.name != "autograd_engine") backward_kernels += r.total_s;
  }
  EXPECT_GE(engine->total_s + 1e-9, backward_kernels);
  EXPECT_NEAR(engine->self_s, engine->total_s - backward_kernels, 1e-9);
}

TEST(Profiler, NothingIsRecordedWhileOff) {
  StopProfiler guard;
  profiler::start();
  Tensor a = Tensor::ones({4, 4});
  Tensor b = matmul(a, a);
  profiler::stop();
  const size_t rows = profiler::stats().size(), events = profiler::events().size();
  ASSERT_GT(rows, 0u);
  Tensor c = matmul(b, b);  // off: the plain kernel table, no scope
  { profiler::Scope s("ignored"); }
  EXPECT_EQ(profiler::stats().size(), rows);
  EXPECT_EQ(profiler::events().size(), events);
  EXPECT_EQ(find_row(profiler::stats(), "matmul", "forward")->calls, 1);
  EXPECT_FLOAT_EQ(c.to_vector<float>()[0], 64.0f);  // still computes: 4 * (4 * 1)
}

TEST(Profiler, NestedScopesSplitSelfFromTotal) {
  using namespace std::chrono_literals;
  StopProfiler guard;
  profiler::start();
  {
    profiler::Scope outer("outer");
    std::this_thread::sleep_for(20ms);
    {
      profiler::PhaseScope phase("optimizer");
      profiler::Scope inner("inner");
      std::this_thread::sleep_for(30ms);
    }
  }
  profiler::stop();
  const std::vector<profiler::OpStat> rows = profiler::stats();
  const profiler::OpStat* outer = find_row(rows, "outer", "forward");
  const profiler::OpStat* inner = find_row(rows, "inner", "optimizer");
  ASSERT_NE(outer, nullptr);
  ASSERT_NE(inner, nullptr);
  EXPECT_GE(inner->total_s, 0.030);
  EXPECT_NEAR(inner->self_s, inner->total_s, 1e-12);
  EXPECT_GE(outer->total_s, 0.050);
  EXPECT_NEAR(outer->self_s, outer->total_s - inner->total_s, 1e-9);
  EXPECT_GE(outer->self_s, 0.020);

  const std::string table = profiler::format_table(rows, outer->total_s, 1);
  EXPECT_NE(table.find("outer"), std::string::npos);
  EXPECT_NE(table.find("(100.0%)"), std::string::npos) << table;  // the rows cover the scope
}

TEST(Profiler, ChromeTraceIsValidJsonWithNestedEvents) {
  const Tensor a = Tensor::ones({8, 8});
  StopProfiler guard;
  profiler::start();
  {
    profiler::Scope step("step \"one\"");  // a name that needs escaping
    matmul(a, a);
  }
  profiler::stop();
  const nlohmann::json trace =
      nlohmann::json::parse(profiler::chrome_trace_json(profiler::events(), 3));
  const auto& ev = trace.at("traceEvents");
  ASSERT_EQ(ev.size(), 3u);  // process name, the step, the matmul
  EXPECT_EQ(ev[0].at("ph"), "M");
  EXPECT_EQ(ev[1].at("name"), "step \"one\"");
  EXPECT_EQ(ev[2].at("name"), "matmul");
  for (size_t i = 1; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].at("ph"), "X");
    EXPECT_EQ(ev[i].at("pid"), 3);
  }
  const double s0 = ev[1].at("ts"), d0 = ev[1].at("dur"), s1 = ev[2].at("ts"), d1 = ev[2].at("dur");
  EXPECT_LE(s0, s1);
  EXPECT_LE(s1 + d1, s0 + d0 + 1e-3);  // the product lies inside the step (1 ns of rounding)
  EXPECT_DOUBLE_EQ(ev[2].at("args").at("flops").get<double>(), 2.0 * 8 * 8 * 8);
}
