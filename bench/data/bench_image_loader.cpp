// Image data throughput: ImageShardWriter writing 64x64 samples, and ImageLoader reading them
// back in batches of 32 (with and without the prefetch thread, and with a 1 ms sleep standing in
// for a step between batches). Prints JSON {name: value}.
//   xomni_bench_image_loader [num_samples]
// The shards lie in a temporary folder; reads come from the page cache (the files were just
// written), so the loader numbers are CPU costs (pread + copies + sample assembly), not disk.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "xomni/core/data/image_data.h"
#include "xomni/core/data/image_loader.h"

using namespace xomni;
namespace fs = std::filesystem;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

int main(int argc, char** argv) {
  const int64_t n = argc > 1 ? std::atoll(argv[1]) : 8192;
  const int64_t side = 64, batch = 32;
  std::string tmpl = (fs::temp_directory_path() / "xomni_bench_images_XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return 1;
  const std::string dir = tmpl + "/ds";

  auto t0 = std::chrono::steady_clock::now();
  {
    ImageShardWriter w(dir, 1024);
    ImageSample s;
    s.kind = "scene";
    s.captions = {"a red circle above a blue square",
                  "a dense caption of about this length "
                  "describing every object in the scene"};
    s.qa = {{"what colour is the circle?", "red"}};
    s.image = Image(side, side);
    for (int64_t i = 0; i < n; ++i) {
      for (size_t k = 0; k < s.image.rgb.size(); ++k) s.image.rgb[k] = uint8_t(k * 31 + i * 7);
      s.metadata_json = "{\"id\":" + std::to_string(i) + ",\"objects\":[]}";
      w.add(s);
    }
    w.finish();
  }
  const double write_s = seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  const ImageDataset d = ImageDataset::open(dir);
  const double open_s = seconds_since(t0);

  // step_ms: a stand-in for the training step between next() calls, as a sleep: a GPU step
  // mostly waits on the device, leaving the host core to the prefetch thread.
  auto loader_rate = [&](int64_t prefetch, double step_ms) {
    ImageLoader l({{d, 1.0}}, batch, 1, 0, 1, prefetch);
    for (int k = 0; k < 4; ++k) l.next();  // warm up
    const int64_t batches = n / batch;
    const auto start = std::chrono::steady_clock::now();
    int64_t bytes = 0;
    for (int64_t k = 0; k < batches; ++k) {
      for (const ImageSample& s : l.next()) bytes += int64_t(s.image.rgb.size());
      if (step_ms > 0)
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(step_ms));
    }
    const double secs = seconds_since(start);
    return bytes > 0 ? double(batches * batch) / secs : 0.0;
  };
  const double load_prefetch = loader_rate(2, 0), load_sync = loader_rate(0, 0);
  const double step_prefetch = loader_rate(2, 1.0), step_sync = loader_rate(0, 1.0);

  std::printf(
      "{\"samples\": %lld, \"image_size\": \"%lldx%lld\", \"batch\": %lld,\n"
      " \"shard_write_images_per_s\": %.0f, \"dataset_open_s\": %.4f,\n"
      " \"loader_images_per_s_prefetch2\": %.0f, \"loader_images_per_s_no_prefetch\": %.0f,\n"
      " \"with_1ms_step_images_per_s_prefetch2\": %.0f, "
      "\"with_1ms_step_images_per_s_no_prefetch\": %.0f}\n",
      static_cast<long long>(n), static_cast<long long>(side), static_cast<long long>(side),
      static_cast<long long>(batch), double(n) / write_s, open_s, load_prefetch, load_sync,
      step_prefetch, step_sync);
  std::error_code ec;
  fs::remove_all(tmpl, ec);
  return 0;
}
