// Image datasets: manifest.json and one HDF5 shard (the input is "<manifest>\n----\n<shard>"),
// every sample read back.
#include <filesystem>

#include "fuzz_target.h"
#include "xomni/core/data/image_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_image_shards", [&] {
    const auto [manifest, shard] = xomni::fuzz::split_two(xomni::fuzz::as_text(data, size));
    std::filesystem::create_directories(xomni::fuzz::scratch_dir() + "/images");
    xomni::fuzz::write_scratch("images/manifest.json", manifest);
    xomni::fuzz::write_scratch("images/shard-00000.h5", shard);
    const auto ds = xomni::ImageDataset::open(xomni::fuzz::scratch_dir() + "/images");
    for (int64_t i = 0; i < ds.size(); ++i) ds.get(i);
  });
}
