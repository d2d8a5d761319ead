// The devices the planner knows, and device files (`xomni plan --calibrate` writes one).
#include <toml++/toml.h>

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

double DeviceSpec::achieved_flops(bool bf16) const {
  return achievable * (bf16 ? peak_flops : peak_flops_fp32);
}

DeviceSpec device_spec(const std::string& name) {
  if (name == "h100")
    return nvidia("h100", 80.0, "NVIDIA H100 SXM5 datasheet; achievable fractions assumed");
  if (name == "h200")
    return nvidia("h200", 141.0, "NVIDIA H200 SXM datasheet; achievable fractions assumed");
  if (name == "cpu") {
    // This box (2 cores of a Sapphire Rapids class Xeon, nominally 2.1 GHz, 23 GiB), one thread
    // per rank (OMP_NUM_THREADS=1): two `xomni plan --calibrate` runs at 2 ranks on the idle box
    // on 2026-12-07 (docs/SCALING.md, "Calibration"; earlier runs under other builds' load
    // ranged 70-160% of the nominal peak and 1.25-1.78 cores).
    DeviceSpec d;
    d.name = "cpu";
    d.peak_flops = 268.8e9;       // AVX512-BF16, one core (docs/PERF.md, "Peaks assumed")
    d.peak_flops_fp32 = 134.4e9;  // 2 AVX-512 FMA x 16 lanes x 2 flop x 2.1 GHz
    d.achievable = 0.84;          // the linears' forward + backward at 1024 rows (forward: 0.89)
    d.memory_bytes = 23.0 * kGiB;
    d.memory_bw = 40.4e9;          // an f32 add of 2 x 64 MiB: 40.4 and 40.8 GB/s
    d.devices_per_node = 1 << 20;  // every rank on this one box
    d.cores = 2.0;                 // both ranks' GEMMs at once over one alone: 1.97 and 2.00
    d.intra_bw = 8.9e9;            // MPI over shared memory: 16 MiB all-reduce, 7.1 and 10.8 GB/s
    d.intra_latency = 0.4e-6;      // 8-byte all-reduce, best of 20, 0.3 and 0.5 us per step
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
    << "\nachievable = " << d.achievable << "\nmemory_bytes = " << d.memory_bytes
    << "\nmemory_bw = " << d.memory_bw << "\ndevices_per_node = " << d.devices_per_node
    << "\nintra_bw = " << d.intra_bw << "\nintra_latency = " << d.intra_latency
    << "\ninter_bw = " << d.inter_bw << "\ninter_latency = " << d.inter_latency
    << "\nruntime_bytes = " << d.runtime_bytes
    << "\nranks_share_node = " << (d.ranks_share_node ? "true" : "false") << "\ncores = " << d.cores
    << "\noverlap_dp = " << (d.overlap_dp ? "true" : "false") << "\nprovenance = \"" << d.provenance
    << "\"\n";
  return o.str();
}

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
  number("memory_bytes", d.memory_bytes, true);
  number("memory_bw", d.memory_bw, true);
  number("devices_per_node", per_node, true);
  number("intra_bw", d.intra_bw, true);
  number("intra_latency", d.intra_latency, false);
  number("inter_bw", d.inter_bw, true);
  number("inter_latency", d.inter_latency, false);
  number("runtime_bytes", d.runtime_bytes, false);
  flag("ranks_share_node", d.ranks_share_node);
  if (const auto c = doc.at_path("device.cores")) {
    XOMNI_CHECK(c.is_number() && *c.value<double>() >= 0, path,
                ": [device] cores must be a number >= 0");
    d.cores = *c.value<double>();
  }
  flag("overlap_dp", d.overlap_dp);
  d.devices_per_node = int(std::min(per_node, double(1 << 20)));
  return d;
}

}  // namespace xomni::plan
