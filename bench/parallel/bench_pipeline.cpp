// The 1F1B pipeline bubble, run as `mpirun -np P --bind-to none` (P = stages): every stage does a
// fixed amount of work per micro-batch (forward ~2 ms, backward ~4 ms) and the bubble fraction is
// measured from the gathered timeline of all stages, next to the analytic (p-1)/(m+p-1), for
// m = 4, 8, 16. With --chunks V the schedule is interleaved 1F1B over V model chunks per stage,
// each doing 1/V of the stage's work (the same total), against the analytic (p-1)/(V*m+p-1). Two
// kinds of work: "matmul" (real compute, 1 thread per rank; more ranks than cores then compete for
// them) and "sleep" (the stage waits its time without using a core, which measures the schedule and
// its messages alone). Prints a Markdown section on rank 0.
//
// usage: bench_pipeline [repeats=5] [--chunks V (1, 2, 3 or 6)] [--sleep-ms F (2)] [--rows-only]
//                       [--timeline FILE]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/random.h"
#include "xomni/parallel/mpi_comm.h"
#include "xomni/parallel/pipeline.h"

using namespace xomni;
using namespace xomni::parallel;

namespace {

constexpr int64_t kDim = 256;   // activations [kDim, kDim] f32 (256 KiB per message)
constexpr int kMatmuls = 6;     // per forward: ~2 ms at ~100 GFLOP/s on one core
double sleep_forward_s = 2e-3;  // --sleep-ms; the backward sleeps twice as long

// An op whose forward and backward just take the given time (the "sleep" work).
Tensor timed_identity(const Tensor& x, double forward_s, double backward_s) {
  std::this_thread::sleep_for(std::chrono::duration<double>(forward_s));
  Tensor out = x.detach().clone();
  return record(out, "timed_identity", {x},
                [backward_s](const Tensor& g, const std::vector<bool>&) {
                  std::this_thread::sleep_for(std::chrono::duration<double>(backward_s));
                  return std::vector<Tensor>{g};
                });
}

struct Result {
  int v;
  int64_t m;
  double forward_ms, backward_ms, makespan_ms, bubble, analytic;
};

// All ranks' events of one run, gathered to every rank.
std::vector<TimelineEvent> gather_events(Communicator& world,
                                         const std::vector<TimelineEvent>& mine) {
  const int64_t n = int64_t(mine.size());
  constexpr int64_t kCols = 5;
  Tensor local = Tensor::empty({n, kCols}, DType::f64);
  double* d = local.data<double>();
  for (int64_t i = 0; i < n; ++i) {
    const TimelineEvent& e = mine[size_t(i)];
    d[kCols * i] = double(e.micro);
    d[kCols * i + 1] = e.phase == 'F' ? 0 : 1;
    d[kCols * i + 2] = e.start;
    d[kCols * i + 3] = e.end;
    d[kCols * i + 4] = double(e.chunk);
  }
  Tensor all = Tensor::empty({world.size() * n, kCols}, DType::f64);
  world.all_gather(local, all);
  std::vector<TimelineEvent> out;
  const double* a = all.data<double>();
  for (int r = 0; r < world.size(); ++r)
    for (int64_t i = 0; i < n; ++i) {
      const double* row = a + kCols * (r * n + i);
      out.push_back(
          {r, r, int64_t(row[0]), row[1] == 0 ? 'F' : 'B', row[2], row[3], 0, int(row[4])});
    }
  return out;
}

// The first field of /proc/loadavg ("?" where it cannot be read).
std::string load_average() {
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  if (!f) return "?";
  char buf[32] = {};
  const int got = std::fscanf(f, "%31s", buf);
  std::fclose(f);
  return got == 1 ? buf : "?";
}

Result measure(MpiCommunicator& pp, bool sleep_work, int64_t m, int v, int repeats,
               const std::string& timeline_path) {
  const int p = pp.size(), s = pp.rank();
  Generator gen(7 + uint64_t(s));
  std::vector<Tensor> w;
  for (int k = 0; k < kMatmuls; ++k)
    w.push_back(mul(randn({kDim, kDim}, gen), 1.0 / 16.0).detach().set_requires_grad(true));
  const Tensor x0 = randn({kDim, kDim}, gen);
  // Chunk c (virtual stage c*p + s) does matmuls [c*kMatmuls/v, (c+1)*kMatmuls/v) or sleeps 1/v
  // of the stage's time: the stage's work is the same for every v.
  std::vector<StageFunctions> chunks(static_cast<size_t>(v));
  for (int c = 0; c < v; ++c) {
    const bool last = c * p + s == p * v - 1;
    chunks[size_t(c)].activation_shape = {kDim, kDim};
    chunks[size_t(c)].forward = [&, c, last](int64_t, const Tensor& input) {
      Tensor h = input.defined() ? input : x0;
      if (sleep_work) {
        h = timed_identity(mul(h, w[size_t(c)]), sleep_forward_s / v, 2 * sleep_forward_s / v);
      } else {
        for (int k = c * kMatmuls / v; k < (c + 1) * kMatmuls / v; ++k)
          h = relu(matmul(h, w[size_t(k)]));
      }
      return last ? mean(mul(h, h)) : h;
    };
  }
  std::vector<double> bubbles, fwd, bwd, span;
  for (int rep = -1; rep < repeats; ++rep) {  // rep -1 warms up (allocations, page faults)
    for (Tensor& t : w) t.zero_grad();
    std::vector<TimelineEvent> mine;
    run_interleaved_1f1b(pp, chunks, m, &mine);
    if (rep < 0) continue;
    const std::vector<TimelineEvent> all = gather_events(pp, mine);
    bubbles.push_back(bubble_fraction(all, p));
    double f = 0, b = 0, t0 = 1e30, t1 = -1e30;
    for (const TimelineEvent& e : all) {
      (e.phase == 'F' ? f : b) += e.end - e.start;
      t0 = std::min(t0, e.start);
      t1 = std::max(t1, e.end);
    }
    fwd.push_back(f / double(p * m * v));  // per box: one chunk's forward or backward
    bwd.push_back(b / double(p * m * v));
    span.push_back(t1 - t0);
    if (rep == 0 && !timeline_path.empty() && s == 0) append_timeline_jsonl(timeline_path, all);
  }
  // The median repeat (by bubble) stands for the configuration.
  std::vector<size_t> idx(bubbles.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return bubbles[a] < bubbles[b]; });
  const size_t k = idx[idx.size() / 2];
  return {v,
          m,
          fwd[k] * 1e3,
          bwd[k] * 1e3,
          span[k] * 1e3,
          bubbles[k],
          double(p - 1) / double(int64_t(v) * m + p - 1)};
}

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int repeats = 5;
  bool rows_only = false;
  int v = 1;
  std::string timeline;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rows-only") == 0)
      rows_only = true;
    else if (std::strcmp(argv[i], "--chunks") == 0 && i + 1 < argc)
      v = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--sleep-ms") == 0 && i + 1 < argc)
      sleep_forward_s = std::max(0.1, std::atof(argv[++i])) * 1e-3;
    else if (std::strcmp(argv[i], "--timeline") == 0 && i + 1 < argc)
      timeline = argv[++i];
    else
      repeats = std::max(1, std::atoi(argv[i]));
  }
  int rc = 0;
  try {
    XOMNI_CHECK(v >= 1 && kMatmuls % v == 0, "--chunks ", v, " must divide the ", kMatmuls,
                " matmuls of a stage (1, 2, 3 or 6)");
    auto world = mpi_world();
    const int p = world->size();
    if (!timeline.empty() && world->rank() == 0) std::remove(timeline.c_str());  // one run per file
    std::vector<std::pair<const char*, Result>> rows;
    for (bool sleep_work : {false, true})
      for (int64_t m : {4, 8, 16})
        rows.emplace_back(sleep_work ? "sleep" : "matmul",
                          measure(*world, sleep_work, m, v, repeats,
                                  !sleep_work && m == 8 ? timeline : std::string()));
    if (world->rank() == 0) {
      if (!rows_only) {
        const unsigned cores = std::thread::hardware_concurrency();
        std::printf("## Pipeline bubble (%s)\n\n", v == 1 ? "1F1B" : "interleaved 1F1B");
        std::printf(
            "`bench/parallel/bench_pipeline.cpp` under `mpirun -np P --bind-to none`, one thread "
            "per rank, on a %u-core machine: P pipeline stages, m micro-batches, each stage doing "
            "the same work per micro-batch. *matmul*: six 256x256x256 matmuls + relu forward "
            "(backward ~2x); *sleep*: the stage sleeps %.0f ms forward and %.0f ms backward, so no "
            "core "
            "is used and the schedule and its 256 KiB messages are measured alone; v model chunks "
            "per stage (interleaved 1F1B when v > 1) share that work equally. Measured "
            "bubble = 1 - busy / (P x makespan) from the gathered timelines of all stages (median "
            "of %d steps after a warm-up); analytic = (P-1)/(v*m+P-1). With more ranks than cores "
            "(P=4 here) the *matmul* stages compete for cores: boxes stretch when several stages "
            "compute at once and a stage whose message has arrived may wait for a core, so those "
            "rows show oversubscription as much as the schedule; the *sleep* rows are the "
            "schedule's own. *ideal "
            "makespan* = (v*m+P-1) x (forward + backward) with the measured mean box (one "
            "chunk's forward or backward) times: what the schedule takes with instant messages and "
            "equal boxes; the measured makespan's excess over "
            "it is message latency and waiting for a core (the 1-minute load average was %s "
            "when this ran; other jobs shared the machine).\n\n",
            cores, sleep_forward_s * 1e3, 2 * sleep_forward_s * 1e3, repeats,
            load_average().c_str());
        std::printf(
            "| P | v | m | work | forward ms | backward ms | ideal makespan ms | makespan ms | "
            "measured bubble | analytic (P-1)/(v*m+P-1) |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n");
      }
      for (const auto& [work, r] : rows)
        std::printf("| %d | %d | %lld | %s | %.2f | %.2f | %.1f | %.1f | %.3f | %.3f |\n", p, r.v,
                    static_cast<long long>(r.m), work, r.forward_ms, r.backward_ms,
                    double(int64_t(r.v) * r.m + p - 1) * (r.forward_ms + r.backward_ms),
                    r.makespan_ms, r.bubble, r.analytic);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_pipeline: %s\n", e.what());
    rc = 1;
  }
  MPI_Finalize();
  return rc;
}
