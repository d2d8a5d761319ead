#include "realism/realism_stage.h"

#include "xomni/core/data/image_loader.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/random.h"

namespace xomni::realism {
namespace {

void check_layout(const train::ParallelSetup& par) {
  const parallel::Layout& l = par.layout();
  XOMNI_CHECK(l.tp == 1 && l.cp == 1 && l.pp == 1, par.where,
              ": the realism stage (a small convolutional scorer) runs data-parallel only; set "
              "parallel.tp = 1, parallel.cp = 1 and parallel.pp = 1 (got tp=",
              l.tp, ", cp=", l.cp, ", pp=", l.pp, ")");
  XOMNI_CHECK(!par.tp.sequence_parallel, par.where,
              ": the realism stage does not split sequences; set parallel.sequence_parallel = "
              "false");
}

ImageDataset open_nonempty(const std::string& dir) {
  ImageDataset ds = ImageDataset::open(dir);
  XOMNI_CHECK(ds.size() > 0, dir, ": the image dataset is empty");
  return ds;
}

constexpr const char* kPositionKey = "realism_images";

class RealismStage final : public train::Stage {
 public:
  RealismStage(const RealismJob& job, const train::ParallelSetup& par)
      : job_(job), par_(par), dp_rank_(par.coord().dp), dp_size_(par.layout().dp) {
    const int64_t B = job.trainer.loop.batch_size;
    XOMNI_CHECK(B % dp_size_ == 0, job.trainer.source, ": train.batch_size=", B,
                " is not divisible by the data-parallel size dp=", dp_size_);
    local_batch_ = B / dp_size_;
    Generator gen(job.trainer.run.seed);
    model_ = std::make_unique<RealismModel>(job.model, gen);
    train_ = std::make_unique<ImageLoader>(
        std::vector<std::pair<ImageDataset, double>>{{open_nonempty(job.data.train), 1.0}},
        local_batch_, job.trainer.run.seed, dp_rank_, dp_size_, job.data.prefetch);
    if (!job.data.valid.empty()) valid_.push_back(open_nonempty(job.data.valid));
  }

  std::vector<nn::ParamInfo> parameters() const override {
    return model_->parameter_infos(kScorerPrefix);
  }

  train::StepOutput forward_backward(std::vector<parallel::TimelineEvent>*) override {
    // Gradients summed over data-parallel ranks and micro-batches are the step mean's.
    const double share = 1.0 / double(dp_size_ * job_.trainer.loop.grad_accum);
    double loss = 0, correct = 0, seen = 0;
    for (int64_t m = 0; m < job_.trainer.loop.grad_accum; ++m) {
      const Scored s = score(augmented(), job_.data.train);
      loss += s.loss.item() * share;
      mul(s.loss, share).backward();
      correct += s.correct, seen += s.count;
    }
    train::StepOutput out;
    out.loss = train::sum_over_data(loss, par_);
    out.metrics = {
        {"accuracy", train::sum_over_data(correct, par_) / train::sum_over_data(seen, par_)}};
    return out;
  }

  double items_per_step() const override {
    return double(job_.trainer.loop.batch_size * job_.trainer.loop.grad_accum);
  }
  double flops_per_step() const override { return 0; }  // not modelled
  bool has_evaluation() const override { return !valid_.empty(); }

  // The mean loss over data.eval_batches held-out batches (always the same ones: a fresh loader
  // with seed 0), and their accuracy for evaluation_metrics().
  double evaluate() override {
    NoGradGuard no_grad;
    ImageLoader loader({{valid_[0], 1.0}}, local_batch_, /*seed=*/0, dp_rank_, dp_size_,
                       /*prefetch=*/0);
    double loss = 0, correct = 0, seen = 0;
    for (int64_t i = 0; i < job_.data.eval_batches; ++i) {
      const Scored s = score(loader.next(), job_.data.valid);
      loss += s.loss.item(), correct += s.correct, seen += s.count;
    }
    heldout_accuracy_ = train::sum_over_data(correct, par_) / train::sum_over_data(seen, par_);
    return train::sum_over_data(loss / double(job_.data.eval_batches), par_) / double(dp_size_);
  }
  std::vector<std::pair<std::string, double>> evaluation_metrics() const override {
    return {{"heldout_accuracy", heldout_accuracy_}};
  }

  train::DataPositions data_positions() const override { return {{kPositionKey, train_->state()}}; }
  void restore_data_positions(const train::DataPositions& p) override {
    const auto it = p.find(kPositionKey);
    XOMNI_CHECK(it != p.end(), "the checkpoint has no data position '", kPositionKey,
                "' (a checkpoint of another stage?)");
    train_->restore(it->second);
  }

 private:
  struct Scored {
    Tensor loss;  // the batch's mean BCE
    double correct = 0, count = 0;
  };

  // The next training batch, its images mirrored where the draw for their place in the stream
  // (rank r takes samples first + r + j * dp, as ImageLoader splits them) says so.
  std::vector<ImageSample> augmented() {
    const int64_t first = train_->samples_consumed();
    std::vector<ImageSample> batch = train_->next();
    if (!job_.data.hflip) return batch;
    for (size_t j = 0; j < batch.size(); ++j) {
      uint32_t r[4];
      philox4x32(job_.trainer.run.seed ^ 0xf11bf11bULL,
                 uint64_t(first + dp_rank_ + int64_t(j) * dp_size_), r);
      if (r[0] & 1u) mirror(batch[j].image);
    }
    return batch;
  }

  static void mirror(Image& im) {
    for (int64_t y = 0; y < im.height; ++y)
      for (int64_t x = 0; x < im.width / 2; ++x)
        for (int c = 0; c < 3; ++c) std::swap(im.at(x, y)[c], im.at(im.width - 1 - x, y)[c]);
  }

  Scored score(const std::vector<ImageSample>& samples, const std::string& dataset) {
    std::vector<Image> images;
    std::vector<float> labels;
    for (const ImageSample& s : samples) {
      images.push_back(s.image);
      labels.push_back(label_of_kind(s.kind, dataset));
    }
    const Tensor y = Tensor::from_vector(labels, {int64_t(labels.size())});
    const Tensor logits = (*model_)(realism_batch(images, job_.model.image_size));
    Scored out;
    out.loss = binary_cross_entropy_with_logits(logits, y);
    const std::vector<float> z = logits.detach().to_vector<float>();
    for (size_t i = 0; i < z.size(); ++i) out.correct += (z[i] > 0) == (labels[i] > 0.5f) ? 1 : 0;
    out.count = double(z.size());
    return out;
  }

  const RealismJob& job_;
  const train::ParallelSetup& par_;
  int64_t dp_rank_, dp_size_, local_batch_ = 0;
  std::unique_ptr<RealismModel> model_;
  std::unique_ptr<ImageLoader> train_;
  std::vector<ImageDataset> valid_;
  double heldout_accuracy_ = 0;
};

}  // namespace

std::unique_ptr<train::Stage> make_realism_stage(const RealismJob& job,
                                                 const train::ParallelSetup& par) {
  check_layout(par);
  return std::make_unique<RealismStage>(job, par);
}

train::TrainResult run_realism_training(const RealismJob& job, int64_t max_steps_this_run,
                                        const parallel::MpiCommunicator* world) {
  parallel::ModelDims dims;
  dims.num_hidden_layers = 1;  // no blocks to split: the layout check above refuses pp
  const train::ParallelSetup par =
      train::setup_parallel(job.trainer.parallel, dims, job.trainer.source + " [parallel]", world);
  std::unique_ptr<train::Stage> stage = make_realism_stage(job, par);
  return train::run_training(*stage, job.trainer, {}, par, max_steps_this_run);
}

}  // namespace xomni::realism
