// The devices the planner knows, and device files (`xomni plan --calibrate` writes one).
#include <toml++/toml.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "plan/step_model.h"
#include "xomni/core/tensor/error.h"

namespace xomni::plan {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Spec sheets: NVIDIA H100 SXM5 and H200 SXM datasheets (dense bf16 989.4 TFLOP/s, tf32 494.7;
// NVLink 4 at 900 GB/s total = 450 GB/s per direction; 8 x 400 Gb/s NDR InfiniBand per 8-GPU
// node = 50 GB/s per GPU). Achievable fractions (stated assumptions, not measured here): 70% of
// the matmul peak for the step's large GEMMs, 80% of link bandwidth (NCCL bus bandwidth), and
// 3 GiB per GPU for the CUDA context, NCCL and cuBLAS workspaces and allocator fragmentation.
DeviceSpec nvidia(const char* name, double memory_gib, const char* provenance) {
  DeviceSpec d;
  d.name = name;
  d.peak_flops = 989.4e12;
  d.peak_flops_fp32 = 494.7e12;
  d.achievable = 0.70;
  d.memory_bytes = memory_gib * kGiB;
  d.memory_bw = 0.8 * (memory_gib > 100 ? 4.8e12 : 3.35e12);
  d.devices_per_node = 8;
  d.intra_bw = 0.8 * 450e9;
  d.intra_latency = 10e-6;
  d.inter_bw = 0.8 * 50e9;
  d.inter_latency = 20e-6;
  d.runtime_bytes = 3.0 * kGiB;
  d.provenance = provenance;
  return d;
}

}  // namespace

double DeviceSpec::achieved_flops(bool bf16, int64_t rows) const {
  if (bf16 || rows <= 0 || achievable_by_rows.empty())
    return achievable * (bf16 ? peak_flops : peak_flops_fp32);
  // Linear in log(rows) between the calibrated sizes, flat beyond them.
  const auto& t = achievable_by_rows;
  if (rows <= t.front().first) return t.front().second * peak_flops_fp32;
  for (size_t i = 1; i < t.size(); ++i) {
    if (rows > t[i].first) continue;
    const double a = std::log(double(t[i - 1].first)), b = std::log(double(t[i].first));
    const double w = (std::log(double(rows)) - a) / (b - a);
    return ((1 - w) * t[i - 1].second + w * t[i].second) * peak_flops_fp32;
  }
  return t.back().second * peak_flops_fp32;
}

double DeviceSpec::achieved_attention_flops(bool bf16) const {
  return attention_achievable > 0 ? attention_achievable * peak_flops_fp32 : achieved_flops(bf16);
}

DeviceSpec device_spec(const std::string& name) {
  if (name == "h100")
    return nvidia("h100", 80.0, "NVIDIA H100 SXM5 datasheet; achievable fractions assumed");
  if (name == "h200")
    return nvidia("h200", 141.0, "NVIDIA H200 SXM datasheet; achievable fractions assumed");
  if (name == "cpu") {
    // This box (2 cores of an AMD EPYC, Zen 5 class, 23 GiB; the VMs before it were Intel), one
    // thread per rank (OMP_NUM_THREADS=1): the medians of three `xomni plan --calibrate` runs at
    // 2 ranks on the 27.8M LM on 2026-12-07, OPENBLAS_CORETYPE=Haswell as the environment sets
    // it (docs/SCALING.md, "Calibration"). Machines change: calibrate the one you plan for.
    DeviceSpec d;
    d.name = "cpu";
    d.peak_flops = 438e9;         // vdpbf16ps, one core, measured (docs/PERF.md)
    d.peak_flops_fp32 = 236.8e9;  // 2 AVX-512 FMA x 16 lanes x 2 flop x 3.7 GHz, measured
    d.achievable = 0.794;         // the step's linears forward + backward at 1024 rows
    d.achievable_by_rows = {{128, 0.766}, {256, 0.749}, {512, 0.732}, {1024, 0.794}};
    d.attention_achievable = 0.210;  // causal attention forward + backward, 8 x 128 tokens
    d.memory_bytes = 23.0 * kGiB;
    d.memory_bw = 39.9e9;          // an f32 add of 2 x 64 MiB: 38.9, 39.9 and 41.6 GB/s
    d.devices_per_node = 1 << 20;  // every rank on this one box
    d.cores = 2.0;                 // both ranks' GEMMs at once over one alone: 1.99-2.00
    d.memory_cores = 2.0;          // both ranks' adds at once over one alone: 1.84-2.00
    // The tiny X-Omni policy (hidden 128, 6 layers) sampling 8 rows: 89-96 us per layer and call
    // (xomni plan jobs/tiny/xomni_rl.toml --calibrate); calibrate for another model.
    d.layer_call_overhead_s = 91e-6;
    d.intra_bw = 8.3e9;         // MPI over shared memory: 16 MiB all-reduce, 8.0-8.6 GB/s
    d.intra_latency = 0.55e-6;  // 8-byte all-reduce, best of 20, 0.51-0.66 us per step
    d.inter_bw = d.intra_bw;
    d.inter_latency = d.intra_latency;
    d.runtime_bytes = 38.0 * 1024 * 1024;  // peak RSS of a near-empty training run
    d.ranks_share_node = true;
    // overlap_grad_reduce: 29-126 ms exposed -> 0.1-5 ms at dp=2; overlap_param_gather: the
    // gather's wait 3.5-4.6 ms -> 0.05-0.08 ms (PERF.md)
    d.overlap_dp = true;
    d.provenance = "this box, xomni plan --calibrate (docs/SCALING.md)";
    return d;
  }
  throw Error("unknown device '" + name + "' (known: h100, h200, cpu; or --device-file FILE)");
}

std::string device_toml(const DeviceSpec& d) {
  std::ostringstream o;
  o.precision(10);
  o << "# xomni plan device file\n[device]\nname = \"" << d.name << "\"\n"
    << "peak_flops = " << d.peak_flops << "\npeak_flops_fp32 = " << d.peak_flops_fp32
    << "\nachievable = " << d.achievable << "\nattention_achievable = " << d.attention_achievable;
  if (!d.achievable_by_rows.empty()) {
    o << "\ngemm_rows = [";
    for (size_t i = 0; i < d.achievable_by_rows.size(); ++i)
      o << (i ? ", " : "") << d.achievable_by_rows[i].first;
    o << "]\ngemm_achievable = [";
    for (size_t i = 0; i < d.achievable_by_rows.size(); ++i)
      o << (i ? ", " : "") << d.achievable_by_rows[i].second;
    o << "]";
  }
  o << "\nmemory_bytes = " << d.memory_bytes << "\nmemory_bw = " << d.memory_bw
    << "\ndevices_per_node = " << d.devices_per_node << "\nintra_bw = " << d.intra_bw
    << "\nintra_latency = " << d.intra_latency << "\ninter_bw = " << d.inter_bw
    << "\ninter_latency = " << d.inter_latency << "\nruntime_bytes = " << d.runtime_bytes
    << "\nranks_share_node = " << (d.ranks_share_node ? "true" : "false") << "\ncores = " << d.cores
    << "\nmemory_cores = " << d.memory_cores
    << "\nlayer_call_overhead_s = " << d.layer_call_overhead_s
    << "\noverlap_dp = " << (d.overlap_dp ? "true" : "false") << "\nprovenance = \"" << d.provenance
    << "\"\n";
  return o.str();
}

namespace {
// gemm_rows = [...] and gemm_achievable = [...]: both or neither, equally long, rows ascending
// and positive, fractions positive.
std::vector<std::pair<int64_t, double>> rows_table(const toml::table& doc,
                                                   const std::string& path) {
  const toml::array* rows = doc.at_path("device.gemm_rows").as_array();
  const toml::array* frac = doc.at_path("device.gemm_achievable").as_array();
  XOMNI_CHECK(bool(rows) == bool(frac), path,
              ": [device] gemm_rows and gemm_achievable come together (arrays of equal length)");
  std::vector<std::pair<int64_t, double>> out;
  if (!rows) return out;
  XOMNI_CHECK(rows->size() == frac->size() && !rows->empty(), path,
              ": [device] gemm_rows and gemm_achievable must be non-empty and equally long");
  for (size_t i = 0; i < rows->size(); ++i) {
    const auto r = (*rows)[i].value<int64_t>();
    const auto f = (*frac)[i].value<double>();
    XOMNI_CHECK(r && *r > 0 && (out.empty() || *r > out.back().first), path,
                ": [device] gemm_rows must be positive integers in ascending order");
    XOMNI_CHECK(f && *f > 0, path, ": [device] gemm_achievable must be positive numbers");
    out.emplace_back(*r, *f);
  }
  return out;
}
}  // namespace

DeviceSpec read_device_file(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, "cannot open device file ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  toml::table doc;
  try {
    doc = toml::parse(ss.str(), path);
  } catch (const toml::parse_error& e) {
    throw Error(path + ":" + std::to_string(e.source().begin.line) +
                ": TOML syntax error: " + std::string(e.description()));
  }
  DeviceSpec d;
  auto number = [&](const char* key, double& out, bool positive) {
    const auto n = doc.at_path(std::string("device.") + key);
    XOMNI_CHECK(n && n.is_number(), path, ": [device] ", key, " is missing or not a number");
    out = *n.value<double>();
    XOMNI_CHECK(!positive || out > 0, path, ": [device] ", key, " must be > 0, got ", out);
  };
  // Keys older device files lack: absent keeps the default, present must be a number >= 0.
  auto optional = [&](const char* key, double& out) {
    const auto n = doc.at_path(std::string("device.") + key);
    if (!n) return;
    XOMNI_CHECK(n.is_number() && *n.value<double>() >= 0, path, ": [device] ", key,
                " must be a number >= 0");
    out = *n.value<double>();
  };
  auto flag = [&](const char* key, bool& out) {
    const auto n = doc.at_path(std::string("device.") + key);
    if (!n) return;
    XOMNI_CHECK(n.is_boolean(), path, ": [device] ", key, " must be true or false");
    out = *n.value<bool>();
  };
  d.name = doc.at_path("device.name").value_or(std::string("file"));
  d.provenance = doc.at_path("device.provenance").value_or(path);
  double per_node = 0;
  number("peak_flops", d.peak_flops, true);
  number("peak_flops_fp32", d.peak_flops_fp32, true);
  number("achievable", d.achievable, true);
  optional("attention_achievable", d.attention_achievable);
  number("memory_bytes", d.memory_bytes, true);
  number("memory_bw", d.memory_bw, true);
  number("devices_per_node", per_node, true);
  number("intra_bw", d.intra_bw, true);
  number("intra_latency", d.intra_latency, false);
  number("inter_bw", d.inter_bw, true);
  number("inter_latency", d.inter_latency, false);
  number("runtime_bytes", d.runtime_bytes, false);
  flag("ranks_share_node", d.ranks_share_node);
  optional("cores", d.cores);
  optional("memory_cores", d.memory_cores);
  optional("layer_call_overhead_s", d.layer_call_overhead_s);
  d.achievable_by_rows = rows_table(doc, path);
  flag("overlap_dp", d.overlap_dp);
  d.devices_per_node = int(std::min(per_node, double(1 << 20)));
  return d;
}

}  // namespace xomni::plan
