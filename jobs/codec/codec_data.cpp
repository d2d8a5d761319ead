#include "codec/codec_data.h"

#include <algorithm>
#include <cmath>
#include <memory>
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
    XOMNI_CHECK(a.width == b.width && a.height == b.height,
                "a batch mixes image sizes after resizing (", a.width, "x", a.height, " and ",
                b.width, "x", b.height,
                "); batches need one aspect ratio (crop or bucket the dataset)");
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

Tensor image_to_tensor(const Image& img) {
  Tensor t = Tensor::empty({1, 3, img.height, img.width}, DType::f32);
  float* p = t.data<float>();
  const int64_t plane = img.height * img.width;
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t c = 0; c < 3; ++c) p[c * plane + i] = float(img.rgb[size_t(3 * i + c)]) / 255.0f;
  return t;
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

Tensor patch_pixels(const Tensor& images, int64_t p) {
  XOMNI_CHECK(images.dim() == 4 && images.size(1) == 3 && p > 0 && images.size(2) % p == 0 &&
                  images.size(3) % p == 0,
              "patch_pixels: images of shape ", shape_str(images.shape()),
              " are not [B, 3, H, W] with sides multiples of the patch ", p);
  const int64_t B = images.size(0), H = images.size(2), W = images.size(3);
  const int64_t h = H / p, w = W / p;
  const Tensor x = reshape(add(mul(images, 2.0), -1.0), {B, 3, h, p, w, p});
  return reshape(permute(x, {0, 2, 4, 1, 3, 5}), {B, h * w, 3 * p * p});
}

const std::string& longest_caption(const std::vector<std::string>& captions) {
  return *std::max_element(
      captions.begin(), captions.end(),
      [](const std::string& a, const std::string& b) { return a.size() < b.size(); });
}

double sample_uniform(uint64_t seed, int64_t sample, uint32_t purpose) {
  uint32_t r[4];
  philox4x32(seed ^ (uint64_t(purpose) << 48), uint64_t(sample), r);
  return double((uint64_t(r[0]) << 21) ^ (r[1] >> 11)) / 9007199254740992.0;  // 53 bits
}

namespace {

constexpr uint32_t kStreamDraw = 9;
constexpr int64_t kTextIndexOffset = int64_t(1) << 40;
const char* const kStreamKeys[] = {"images", "text_images"};

// The next batch of `loader` with each sample's number in its stream (+ offset).
IndexedBatch take_batch(ImageLoader& loader, int64_t dp_rank, int64_t dp_size, int64_t offset) {
  const int64_t first = loader.samples_consumed();
  IndexedBatch b;
  b.samples = loader.next();
  for (int64_t j = 0; j < int64_t(b.samples.size()); ++j)
    b.index.push_back(offset + first + dp_rank + j * dp_size);
  return b;
}

ImageDataset open_nonempty(const std::string& dir) {
  ImageDataset ds = ImageDataset::open(dir);
  XOMNI_CHECK(ds.size() > 0, dir, ": the image dataset is empty");
  return ds;
}

}  // namespace

CodecData::CodecData(const CodecJob& job, const train::ParallelSetup& par)
    : job_(job), dp_rank_(par.coord().dp), dp_size_(par.layout().dp) {
  const int64_t B = job.trainer.loop.batch_size;
  XOMNI_CHECK(B % dp_size_ == 0, job.trainer.source, ": train.batch_size=", B,
              " is not divisible by the data-parallel size dp=", dp_size_);
  local_batch_ = B / dp_size_;
  const std::string dirs[] = {job.data.train, job.data.train_text};
  for (int s = 0; s < 2; ++s) {
    if (dirs[s].empty()) continue;
    ImageDataset ds = open_nonempty(dirs[s]);
    auto loader = std::make_unique<ImageLoader>(
        std::vector<std::pair<ImageDataset, double>>{{ds, 1.0}}, local_batch_,
        job.trainer.run.seed + uint64_t(s), dp_rank_, dp_size_, job.data.prefetch);
    streams_.push_back({std::move(ds), std::move(loader), s * kTextIndexOffset});
  }
  for (const std::string& dir : {job.data.valid, job.data.valid_text})
    if (!dir.empty()) valid_.push_back(open_nonempty(dir));
}

IndexedBatch CodecData::next_train() {
  size_t s = 0;
  if (streams_.size() > 1 &&
      sample_uniform(job_.trainer.run.seed, batches_, kStreamDraw) < job_.data.text_fraction)
    s = 1;
  ++batches_;
  return take_batch(*streams_[s].loader, dp_rank_, dp_size_, streams_[s].index_offset);
}

std::vector<IndexedBatch> CodecData::valid_batches() const {
  std::vector<IndexedBatch> out;
  for (size_t v = 0; v < valid_.size(); ++v) {
    ImageLoader loader({{valid_[v], 1.0}}, local_batch_, /*seed=*/0, dp_rank_, dp_size_,
                       /*prefetch=*/0);
    for (int64_t i = 0; i < job_.data.eval_batches; ++i)
      out.push_back(take_batch(loader, dp_rank_, dp_size_, int64_t(v) * kTextIndexOffset));
  }
  return out;
}

train::DataPositions CodecData::positions() const {
  train::DataPositions p{{"image_batches", {batches_}}};
  for (size_t s = 0; s < streams_.size(); ++s) p[kStreamKeys[s]] = streams_[s].loader->state();
  return p;
}

void CodecData::restore(const train::DataPositions& p) {
  const auto take = [&](const std::string& key) -> const std::vector<int64_t>& {
    const auto it = p.find(key);
    XOMNI_CHECK(it != p.end(), "the checkpoint has no data position '", key,
                "' (was it written with another data.train_text setting?)");
    return it->second;
  };
  batches_ = take("image_batches").at(0);
  for (size_t s = 0; s < streams_.size(); ++s) streams_[s].loader->restore(take(kStreamKeys[s]));
}

}  // namespace xomni::codec
