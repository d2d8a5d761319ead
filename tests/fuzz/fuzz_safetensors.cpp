// safetensors files: the JSON header, dtypes, shapes and data offsets. A file that loads must
// save and load back to the same tensors.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "fuzz_target.h"
#include "xomni/core/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_safetensors", [&] {
    const std::string path =
        xomni::fuzz::write_scratch("in.safetensors", xomni::fuzz::as_text(data, size));
    const xomni::TensorMap loaded = xomni::load_safetensors_any(path);
    const std::string copy = xomni::fuzz::scratch_dir() + "/copy.safetensors";
    xomni::save_safetensors(copy, loaded);
    const xomni::TensorMap again = xomni::load_safetensors_any(copy);
    bool same = again.size() == loaded.size();
    for (const auto& [name, t] : loaded) {
      const auto it = again.find(name);
      same = same && it != again.end() && it->second.shape() == t.shape() &&
             it->second.dtype() == t.dtype() &&
             std::memcmp(it->second.contiguous().raw_data(), t.contiguous().raw_data(),
                         size_t(t.numel()) * xomni::dtype_size(t.dtype())) == 0;
    }
    if (!same) {
      std::fprintf(stderr, "fuzz_safetensors: save + load changed the tensors\n");
      std::abort();
    }
  });
}
