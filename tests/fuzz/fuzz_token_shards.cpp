// Token datasets: manifest.json and one HDF5 shard (the input is "<manifest>\n----\n<shard>").
#include <filesystem>

#include "fuzz_target.h"
#include "xomni/core/data/token_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_token_shards", [&] {
    const auto [manifest, shard] = xomni::fuzz::split_two(xomni::fuzz::as_text(data, size));
    std::filesystem::create_directories(xomni::fuzz::scratch_dir() + "/tokens");
    xomni::fuzz::write_scratch("tokens/manifest.json", manifest);
    xomni::fuzz::write_scratch("tokens/shard-00000.h5", shard);
    const auto ds = xomni::TokenDataset::open(xomni::fuzz::scratch_dir() + "/tokens");
    int64_t total = 0;
    for (int64_t i = 0; i < ds.num_documents(); ++i) {
      for (int32_t id : ds.document(i)) total += id;
      for (uint8_t m : ds.document_mask(i)) total += m;
    }
    (void)total;
  });
}
