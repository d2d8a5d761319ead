#pragma once
// The codec stages' batches: image samples resized as X-Omni preprocesses them (short edge to
// data.image_size, long edge capped, aspect kept) and stacked into [B, 3, H, W] f32 in [0, 1],
// and the per-sample choices (which caption, which question) drawn from the sample's position in
// the data stream, so they need no state of their own and resume exactly.
#include <cstdint>
#include <optional>
#include <vector>

#include "codec/codec_job.h"
#include "train/checkpoint.h"
#include "train/parallel_setup.h"
#include "xomni/core/data/image_loader.h"
#include "xomni/core/io/image.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni::codec {

// Samples -> [B, 3, H, W]; every sample must resize to the same size (one aspect ratio per batch),
// otherwise an Error names the two sizes.
Tensor images_to_tensor(const std::vector<ImageSample>& samples, const ImageDataOptions& data);

// Images [B, 3, H, W] in [0, 1] -> their p x p patches [B, (H/p) * (W/p), 3 * p * p] in [-1, 1]:
// the patches in raster order, each flattened as the ViT flattens it (channel, row, column).
Tensor patch_pixels(const Tensor& images, int64_t p);
// One image as [1, 3, H, W] f32 in [0, 1].
Tensor image_to_tensor(const Image& image);
// [B, 3, H, W] in [0, 1] -> images (rounded to 8 bits).
std::vector<Image> tensor_to_images(const Tensor& images);

// The longest of a sample's captions (the dense one in the synthetic world; the first of equal
// length); `captions` must not be empty.
const std::string& longest_caption(const std::vector<std::string>& captions);

// A uniform draw in [0, 1) for (seed, global sample index, purpose).
double sample_uniform(uint64_t seed, int64_t sample, uint32_t purpose);

// One rank's batch and the global stream index of each of its samples.
struct IndexedBatch {
  std::vector<ImageSample> samples;
  std::vector<int64_t> index;
};

// The training and validation image streams of a stage, split over the data-parallel ranks: the
// main dataset (data.train) and, optionally, a second one of another image size (data.train_text:
// text images are wide) that a data.text_fraction share of the batches comes from. A batch comes
// from one stream, so its images share one size; the choice is a pure function of the seed and
// the batch's number, the same on every rank.
class CodecData {
 public:
  CodecData(const CodecJob& job, const train::ParallelSetup& par);
  IndexedBatch next_train();
  bool has_valid() const { return !valid_.empty(); }
  // The validation batches, always the same ones (fresh loaders with seed 0): data.eval_batches
  // from each validation dataset.
  std::vector<IndexedBatch> valid_batches() const;
  train::DataPositions positions() const;
  void restore(const train::DataPositions& positions);
  int64_t local_batch() const { return local_batch_; }

 private:
  struct Stream {
    ImageDataset dataset;
    std::unique_ptr<ImageLoader> loader;
    int64_t index_offset;  // added to the stream's sample numbers (distinct per-sample draws)
  };
  const CodecJob& job_;
  int64_t dp_rank_, dp_size_, local_batch_;
  int64_t batches_ = 0;          // training batches taken so far (every rank the same)
  std::vector<Stream> streams_;  // main, then text
  std::vector<ImageDataset> valid_;
};

}  // namespace xomni::codec
