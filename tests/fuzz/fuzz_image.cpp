// PNG and JPEG decoding (the one image reader of the project), then the X-Omni resize.
#include "fuzz_target.h"
#include "xomni/core/io/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return xomni::fuzz::run_guarded("fuzz_image", [&] {
    const std::string path = xomni::fuzz::write_scratch("in.img", xomni::fuzz::as_text(data, size));
    const xomni::Image image = xomni::read_image(path);
    xomni::fit_image(image, 16, 32);
  });
}
