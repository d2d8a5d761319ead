// The siglip stage: the tokenizer's vision tower and a text tower trained with the tokenizer's
// contrastive loss on (image, caption) pairs. Each sample's caption is drawn from its captions by
// its position in the data stream. Negatives are the other pairs of the rank's micro-batch.
#include <cmath>

#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_stage.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::codec {
namespace {

constexpr uint32_t kCaptionDraw = 1;

class SiglipStage final : public train::Stage {
 public:
  SiglipStage(const CodecJob& job, const train::ParallelSetup& par)
      : job_(job), par_(par), data_(job, par) {
    tokenizer_ = make_tokenizer(job.tokenizer, job.trainer.run.seed, &par);
    // The quantizer is the vq stage's; it takes no part in the contrastive loss.
    for (const nn::ParamInfo& p : tokenizer_->parameter_infos())
      if (p.name.rfind("quantizer.", 0) == 0) Tensor(p.tensor).set_requires_grad(false);
  }

  std::vector<nn::ParamInfo> parameters() const override {
    return tokenizer_->parameter_infos("tokenizer.");
  }

  train::StepOutput forward_backward(std::vector<parallel::TimelineEvent>*) override {
    const double share = micro_batch_share(job_, par_);
    StepMetrics metrics;
    double loss = 0;
    for (int64_t m = 0; m < job_.trainer.loop.grad_accum; ++m) {
      const IndexedBatch b = data_.next_train();
      const plugins::LossTerms lt = tokenizer_->contrastive_loss(
          images_to_tensor(b.samples, job_.data), captions(b, job_.trainer.run.seed));
      loss += lt.total.item() * share;
      mul(lt.total, share).backward();
      metrics.add(lt.parts);
    }
    train::StepOutput out;
    out.loss = train::sum_over_data(loss, par_);
    out.metrics = metrics.means(par_);
    return out;
  }

  double items_per_step() const override {
    return double(job_.trainer.loop.batch_size * job_.trainer.loop.grad_accum);
  }
  double flops_per_step() const override { return 0; }  // not modelled for the codec yet

  bool has_evaluation() const override { return data_.has_valid(); }
  double evaluate() override {
    NoGradGuard no_grad;
    double loss = 0;
    const std::vector<IndexedBatch> batches = data_.valid_batches();
    for (const IndexedBatch& b : batches)
      loss +=
          tokenizer_
              ->contrastive_loss(images_to_tensor(b.samples, job_.data), captions(b, /*seed=*/0))
              .total.item();
    return train::sum_over_data(loss / double(batches.size()), par_) / double(par_.layout().dp);
  }

  train::DataPositions data_positions() const override { return data_.positions(); }
  void restore_data_positions(const train::DataPositions& positions) override {
    data_.restore(positions);
  }

 private:
  // One caption per sample, drawn uniformly from its captions.
  std::vector<std::string> captions(const IndexedBatch& b, uint64_t seed) const {
    std::vector<std::string> out;
    for (size_t j = 0; j < b.samples.size(); ++j) {
      const std::vector<std::string>& c = b.samples[j].captions;
      XOMNI_CHECK(!c.empty(), job_.data.train, ": sample ", b.index[j],
                  " has no caption; the siglip stage trains on image-caption pairs");
      const double u = sample_uniform(seed, b.index[j], kCaptionDraw);
      out.push_back(c[std::min(c.size() - 1, size_t(u * double(c.size())))]);
    }
    return out;
  }

  const CodecJob& job_;
  const train::ParallelSetup& par_;
  CodecData data_;
  std::unique_ptr<plugins::ImageTokenizer> tokenizer_;
};

}  // namespace

std::unique_ptr<train::Stage> make_siglip_stage(const CodecJob& job,
                                                const train::ParallelSetup& par) {
  return std::make_unique<SiglipStage>(job, par);
}

}  // namespace xomni::codec
