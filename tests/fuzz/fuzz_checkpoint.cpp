// HDF5 checkpoints: structure, format version, completion marker, CRCs, and reading every
// tensor of a file that verifies.
#include "fuzz_target.h"
#include "xomni/core/io/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_checkpoint", [&] {
    const std::string path =
        xomni::fuzz::write_scratch("ckpt-00000001.h5", xomni::fuzz::as_text(data, size));
    if (!xomni::checkpoint_problem(path).empty()) return;
    const xomni::CheckpointReader reader(path);
    for (const std::string& name : reader.tensor_names()) reader.read_tensor(name);
  });
}
