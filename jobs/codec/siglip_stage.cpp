// The siglip stage: the tokenizer's vision tower and a text tower trained with the tokenizer's
// contrastive loss on (image, caption) pairs. Each sample's caption is drawn from its captions by
// its position in the data stream. Negatives are the other pairs of the rank's micro-batch.
#include <cmath>

#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_stage.h"

namespace xomni::codec {
namespace {

constexpr uint32_t kCaptionDraw = 1;

class SiglipStage final : public ImageBatchStage {
 public:
  SiglipStage(const CodecJob& job, const train::ParallelSetup& par) : ImageBatchStage(job, par) {
    tokenizer_ = make_tokenizer(job.tokenizer, job.trainer.run.seed, &par);
    // The quantizer is the vq stage's; it takes no part in the contrastive loss.
    for (const nn::ParamInfo& p : tokenizer_->parameter_infos())
      if (p.name.rfind("quantizer.", 0) == 0) Tensor(p.tensor).set_requires_grad(false);
  }

  std::vector<nn::ParamInfo> parameters() const override {
    return tokenizer_->parameter_infos("tokenizer.");
  }

 protected:
  plugins::LossTerms objective(const IndexedBatch& b, uint64_t seed) override {
    return tokenizer_->contrastive_loss(images_to_tensor(b.samples, job_.data), captions(b, seed));
  }

 private:
  // One caption per sample: its longest (siglip.caption = "longest") or one drawn uniformly.
  std::vector<std::string> captions(const IndexedBatch& b, uint64_t seed) const {
    std::vector<std::string> out;
    for (size_t j = 0; j < b.samples.size(); ++j) {
      const std::vector<std::string>& c = b.samples[j].captions;
      XOMNI_CHECK(!c.empty(), job_.data.train, ": sample ", b.index[j],
                  " has no caption; the siglip stage trains on image-caption pairs");
      if (job_.siglip.longest_caption) {
        out.push_back(longest_caption(c));
        continue;
      }
      const double u = sample_uniform(seed, b.index[j], kCaptionDraw);
      out.push_back(c[std::min(c.size() - 1, size_t(u * double(c.size())))]);
    }
    return out;
  }

  std::unique_ptr<plugins::ImageTokenizer> tokenizer_;
};

}  // namespace

std::unique_ptr<train::Stage> make_siglip_stage(const CodecJob& job,
                                                const train::ParallelSetup& par) {
  return std::make_unique<SiglipStage>(job, par);
}

}  // namespace xomni::codec
