#include "codec/codec_data.h"

#include <cmath>
#include <string>

#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/random.h"

namespace xomni::codec {

Tensor images_to_tensor(const std::vector<ImageSample>& samples, const ImageDataOptions& data) {
  XOMNI_CHECK(!samples.empty(), "images_to_tensor: an empty batch");
  std::vector<Image> fitted;
  fitted.reserve(samples.size());
  for (const ImageSample& s : samples) {
    fitted.push_back(fit_image(s.image, data.image_size, data.max_image_size));
    const Image& a = fitted.front();
    const Image& b = fitted.back();
    XOMNI_CHECK(a.width == b.width && a.height == b.height, "a batch of ", data.train,
                " mixes image sizes after resizing (", a.width, "x", a.height, " and ", b.width,
                "x", b.height, "); batches need one aspect ratio (crop or bucket the dataset)");
  }
  const int64_t B = int64_t(fitted.size()), H = fitted[0].height, W = fitted[0].width;
  Tensor out = Tensor::empty({B, 3, H, W}, DType::f32);
  float* o = out.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x)
          o[((b * 3 + c) * H + y) * W + x] = float(fitted[size_t(b)].at(x, y)[c]) / 255.0f;
  return out;
}

std::vector<Image> tensor_to_images(const Tensor& images) {
  XOMNI_CHECK(images.dim() == 4 && images.size(1) == 3,
              "tensor_to_images: expects [B, 3, H, W], "
              "got ",
              shape_str(images.shape()));
  const Tensor t = images.to(DType::f32).contiguous();
  const int64_t B = t.size(0), H = t.size(2), W = t.size(3);
  const float* p = t.data<float>();
  std::vector<Image> out;
  for (int64_t b = 0; b < B; ++b) {
    Image img(W, H);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const float v = std::fmin(std::fmax(p[((b * 3 + c) * H + y) * W + x], 0.0f), 1.0f);
          img.at(x, y)[c] = uint8_t(std::lround(v * 255.0f));
        }
    out.push_back(std::move(img));
  }
  return out;
}

double sample_uniform(uint64_t seed, int64_t sample, uint32_t purpose) {
  uint32_t r[4];
  philox4x32(seed ^ (uint64_t(purpose) << 48), uint64_t(sample), r);
  return double((uint64_t(r[0]) << 21) ^ (r[1] >> 11)) / 9007199254740992.0;  // 53 bits
}

CodecData::CodecData(const CodecJob& job, const train::ParallelSetup& par)
    : job_(job), dp_rank_(par.coord().dp), dp_size_(par.layout().dp) {
  const int64_t B = job.trainer.loop.batch_size;
  XOMNI_CHECK(B % dp_size_ == 0, job.trainer.source, ": train.batch_size=", B,
              " is not divisible by the data-parallel size dp=", dp_size_);
  local_batch_ = B / dp_size_;
  train_.emplace(ImageDataset::open(job.data.train));
  XOMNI_CHECK(train_->size() > 0, job.data.train, ": the image dataset is empty");
  loader_.emplace(std::vector<std::pair<ImageDataset, double>>{{*train_, 1.0}}, local_batch_,
                  job.trainer.run.seed, dp_rank_, dp_size_, job.data.prefetch);
  if (!job.data.valid.empty()) valid_.emplace(ImageDataset::open(job.data.valid));
}

IndexedBatch CodecData::next_train() {
  const int64_t first = loader_->samples_consumed();
  IndexedBatch b;
  b.samples = loader_->next();
  for (int64_t j = 0; j < int64_t(b.samples.size()); ++j)
    b.index.push_back(first + dp_rank_ + j * dp_size_);
  return b;
}

std::vector<IndexedBatch> CodecData::valid_batches() const {
  ImageLoader loader({{*valid_, 1.0}}, local_batch_, /*seed=*/0, dp_rank_, dp_size_,
                     /*prefetch=*/0);
  std::vector<IndexedBatch> out;
  for (int64_t i = 0; i < job_.data.eval_batches; ++i) {
    const int64_t first = loader.samples_consumed();
    IndexedBatch b;
    b.samples = loader.next();
    for (int64_t j = 0; j < int64_t(b.samples.size()); ++j)
      b.index.push_back(first + dp_rank_ + j * dp_size_);
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace xomni::codec
