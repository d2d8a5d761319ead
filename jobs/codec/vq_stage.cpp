// The vq stage: the tokenizer's quantizer and the adapter trained through a small causal LM that
// reads the image codes (adapted to its width, as a prefix) and then a caption or a question,
// and is supervised on the caption or the answer: X-Omni aligns its codebook with a language
// model on understanding tasks, so that codes carry meaning. The encoder is frozen (unless
// vq.train_encoder). Codes unused for restart_every steps are restarted from the encoder's outputs.
// With vq.pixel_weight > 0 a linear head also asks each code for its own patch's pixels.
#include <algorithm>

#include "codec/byte_text.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_stage.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/parallel/tp_layers.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::codec {
namespace {

constexpr uint32_t kTaskDraw = 2, kChoiceDraw = 3;

// An LM batch: image codes as the prefix, then text ids; targets cover both (-100 on the codes).
struct TextBatch {
  Tensor ids;      // [B, L] i64
  Tensor targets;  // [B, N + L] i64
};

class VqStage final : public train::Stage {
 public:
  VqStage(const CodecJob& job, const train::ParallelSetup& par)
      : job_(job), par_(par), data_(job, par) {
    const uint64_t seed = job.trainer.run.seed;
    tokenizer_ = make_tokenizer(job.tokenizer, seed, &par);
    if (!job.tokenizer_checkpoint.empty()) {
      // The trained encoder (siglip stage). A run that resumes reads its own checkpoint after.
      CheckpointReader reader(job.tokenizer_checkpoint);
      check_same_tokenizer(job.tokenizer, checkpoint_job(reader).tokenizer,
                           job.tokenizer_checkpoint);
      read_component(reader, "tokenizer", *tokenizer_);
    }
    // The quantizer trains; the vision tower only with vq.train_encoder; the text tower and the
    // contrastive scale never (they serve the siglip stage).
    for (const nn::ParamInfo& p : tokenizer_->parameter_infos()) {
      const bool trains = p.name.rfind("quantizer.", 0) == 0 ||
                          (job.vq.train_encoder && p.name.rfind("vision.", 0) == 0);
      if (!trains) Tensor(p.tensor).set_requires_grad(false);
    }
    adapter_ =
        plugins::create_adapter(job.adapter.plugin, component_context(job.adapter, seed, &par));
    lm_ = plugins::create_backbone(job.lm.plugin, component_context(job.lm, seed, &par));
    usage_ = Tensor::zeros({tokenizer_->codebook_size()}, DType::i64);
    if (job.vq.pixel_weight > 0) {
      const int64_t p = tokenizer_->patch_size();
      Generator gen;
      gen.set_state(seed ^ 0x91c5e1edULL, 0);
      pixel_head_ = std::make_unique<nn::Linear>(tokenizer_->code_dim(), 3 * p * p, true, gen);
    }
  }

  std::vector<nn::ParamInfo> parameters() const override {
    std::vector<nn::ParamInfo> out = tokenizer_->parameter_infos("tokenizer.");
    for (const nn::ParamInfo& p : adapter_->parameter_infos("adapter.")) out.push_back(p);
    for (const nn::ParamInfo& p : lm_->parameter_infos("lm.")) out.push_back(p);
    if (pixel_head_)
      for (const nn::ParamInfo& p : pixel_head_->parameter_infos("pixel_head.")) out.push_back(p);
    return out;
  }

  // One backward pass per micro-batch.
  int64_t backward_passes_per_step() const override { return job_.trainer.loop.grad_accum; }

  train::StepOutput forward_backward(std::vector<parallel::TimelineEvent>*) override {
    const double accum = double(job_.trainer.loop.grad_accum);
    const double ranks = double(par_.layout().dp);
    StepMetrics metrics;
    double loss = 0;
    for (int64_t m = 0; m < job_.trainer.loop.grad_accum; ++m) {
      const IndexedBatch b = data_.next_train();
      const Tensor images = images_to_tensor(b.samples, job_.data);
      if (m == 0) maybe_restart_dead_codes(images);
      const plugins::QuantizedImages q = tokenizer_->quantize(images);
      count_usage(q.ids);
      const TextLoss lm = text_loss(q.codes, texts(b, job_.trainer.run.seed));
      const double tokens = std::max(1.0, train::sum_over_data(double(lm.tokens), par_));
      const Tensor lm_share = mul(lm.sum, 1.0 / tokens);
      Tensor total = add(lm_share, mul(q.losses.total, 1.0 / ranks));
      // StepMetrics averages over ranks; this rank's share times the ranks averages to the sum.
      std::vector<std::pair<std::string, double>> parts = {{"lm_loss", lm_share.item() * ranks}};
      parts.insert(parts.end(), q.losses.parts.begin(), q.losses.parts.end());
      if (pixel_head_) {
        const Tensor mse = pixel_loss(q, images);
        total = add(total, mul(mse, job_.vq.pixel_weight / ranks));
        parts.emplace_back("vq_pixel_mse", mse.item());
      }
      loss += total.item() / accum;
      mul(total, 1.0 / accum).backward();
      metrics.add(parts);
    }
    ++steps_;
    train::StepOutput out;
    out.loss = train::sum_over_data(loss, par_);
    out.metrics = metrics.means(par_);
    out.metrics.emplace_back("vq_restarted", double(restarted_));
    return out;
  }

  double items_per_step() const override {
    return double(job_.trainer.loop.batch_size * job_.trainer.loop.grad_accum);
  }
  double flops_per_step() const override { return 0; }

  bool has_evaluation() const override { return data_.has_valid(); }
  // The LM's loss on the validation captions and answers, given the codes.
  double evaluate() override {
    NoGradGuard no_grad;
    double loss = 0, tokens = 0;
    for (const IndexedBatch& b : data_.valid_batches()) {
      const plugins::QuantizedImages q =
          tokenizer_->quantize(images_to_tensor(b.samples, job_.data));
      const TextLoss lm = text_loss(q.codes, texts(b, /*seed=*/0));
      loss += lm.sum.item();
      tokens += double(lm.tokens);
    }
    return train::sum_over_data(loss, par_) / std::max(1.0, train::sum_over_data(tokens, par_));
  }

  // The code usage since the last restart (summed over the data-parallel ranks: every rank calls
  // this when a checkpoint is written) and the step count travel with the data position, so a
  // resumed run, under any layout, restarts the same codes at the same steps.
  train::DataPositions data_positions() const override {
    const Tensor total = usage_.clone();
    par_.groups->dp().all_reduce(total);
    std::vector<int64_t> usage(total.data<int64_t>(), total.data<int64_t>() + total.numel());
    usage.push_back(steps_);
    train::DataPositions p = data_.positions();
    p["vq_usage"] = usage;
    return p;
  }
  void restore_data_positions(const train::DataPositions& positions) override {
    data_.restore(positions);
    const std::vector<int64_t>& u = positions.at("vq_usage");
    XOMNI_CHECK(int64_t(u.size()) == usage_.numel() + 1, "the checkpoint's code usage has ",
                u.size() - 1, " codes but the codebook has ", usage_.numel());
    // The sum over the ranks lives on data-parallel rank 0; the next restart sums again.
    usage_.fill_(0);
    if (par_.coord().dp == 0) std::copy(u.begin(), u.end() - 1, usage_.data<int64_t>());
    steps_ = u.back();
  }

 private:
  struct Text {
    std::string prompt, answer;
  };

  // Per sample: a question and its answer (with probability vq.vqa_fraction, when it has any),
  // else its longest caption after a fixed instruction.
  std::vector<Text> texts(const IndexedBatch& b, uint64_t seed) const {
    std::vector<Text> out;
    for (size_t j = 0; j < b.samples.size(); ++j) {
      const ImageSample& s = b.samples[j];
      const bool vqa =
          !s.qa.empty() && sample_uniform(seed, b.index[j], kTaskDraw) < job_.vq.vqa_fraction;
      if (vqa) {
        const double u = sample_uniform(seed, b.index[j], kChoiceDraw);
        const auto& [question, answer] =
            s.qa[std::min(s.qa.size() - 1, size_t(u * double(s.qa.size())))];
        out.push_back({question + " ", answer});
        continue;
      }
      XOMNI_CHECK(!s.captions.empty(), job_.data.train, ": sample ", b.index[j],
                  " has neither a caption nor a question");
      out.push_back({"Describe the image. ", longest_caption(s.captions)});
    }
    return out;
  }

  TextBatch text_batch(const std::vector<Text>& texts, int64_t prefix) const {
    std::vector<ByteExample> ex;
    int64_t L = 1;
    for (const Text& t : texts) {
      ex.push_back(byte_example(t.prompt, t.answer, job_.vq.max_text_tokens));
      L = std::max(L, int64_t(ex.back().ids.size()));
    }
    const int64_t B = int64_t(texts.size());
    TextBatch tb{Tensor::full({B, L}, double(kByteEnd), DType::i64),
                 Tensor::full({B, prefix + L}, -100.0, DType::i64)};
    for (int64_t i = 0; i < B; ++i) {
      const ByteExample& e = ex[size_t(i)];
      std::copy(e.ids.begin(), e.ids.end(), tb.ids.data<int64_t>() + i * L);
      std::copy(e.targets.begin(), e.targets.end(),
                tb.targets.data<int64_t>() + i * (prefix + L) + prefix);
    }
    return tb;
  }

  // The summed next-token loss over the supervised text tokens of this rank's batch, and their
  // number.
  struct TextLoss {
    Tensor sum;
    int64_t tokens = 0;
  };
  TextLoss text_loss(const Tensor& codes, const std::vector<Text>& texts) const {
    const int64_t N = codes.size(1);
    const TextBatch tb = text_batch(texts, N);
    plugins::BackboneInputs in;
    in.prefix_embeddings = adapter_->forward(codes);
    XOMNI_CHECK(in.prefix_embeddings.size(2) == lm_->hidden_size(), job_.adapter.where,
                ": the adapter's output width ", in.prefix_embeddings.size(2),
                " is not the LM's hidden size ", lm_->hidden_size(), " (", job_.lm.where, ")");
    const Tensor logits = lm_->logits(tb.ids, in);
    const Tensor targets = tb.targets.contiguous();
    int64_t counted = 0;
    for (int64_t i = 0; i < targets.numel(); ++i) counted += targets.data<int64_t>()[i] != -100;
    return {sum(lm_->token_nll(logits, targets)), counted};
  }

  // The mean squared error of the pixel head's reading of each code against its patch's pixels.
  Tensor pixel_loss(const plugins::QuantizedImages& q, const Tensor& images) const {
    const Tensor error =
        sub((*pixel_head_)(q.codes), patch_pixels(images, tokenizer_->patch_size()));
    return mean(mul(error, error));
  }

  void count_usage(const Tensor& ids) {
    const Tensor flat = ids.to(DType::i64).contiguous();
    int64_t* u = usage_.data<int64_t>();
    for (int64_t i = 0; i < flat.numel(); ++i) ++u[flat.data<int64_t>()[i]];
  }

  // Every vq.restart_every steps: codes no rank used since the last restart take encoder outputs of
  // data-parallel rank 0's batch, so every rank makes the same change.
  void maybe_restart_dead_codes(const Tensor& images) {
    restarted_ = 0;
    const int64_t every = job_.vq.restart_every;
    if (every == 0 || steps_ == 0 || steps_ % every != 0) return;
    NoGradGuard no_grad;
    par_.groups->dp().all_reduce(usage_);
    Tensor candidates = tokenizer_->quantize(images).continuous.contiguous();
    candidates = reshape(candidates, {-1, candidates.size(2)}).contiguous();
    par_.groups->dp().broadcast(candidates, 0);
    Generator gen;
    gen.set_state(job_.trainer.run.seed ^ 0x5eedc0deULL, uint64_t(steps_) << 20);
    restarted_ = tokenizer_->restart_dead_codes(usage_, candidates, gen);
    usage_.fill_(0);
  }

  const CodecJob& job_;
  const train::ParallelSetup& par_;
  CodecData data_;
  std::unique_ptr<plugins::ImageTokenizer> tokenizer_;
  std::unique_ptr<plugins::Adapter> adapter_;
  std::unique_ptr<plugins::Backbone> lm_;
  std::unique_ptr<nn::Linear> pixel_head_;  // vq.pixel_weight > 0 only
  Tensor usage_;                            // [K] codes chosen by this rank since the last restart
  int64_t steps_ = 0;                       // steps this stage has run (restored on resume)
  int64_t restarted_ = 0;
};

}  // namespace

std::unique_ptr<train::Stage> make_vq_stage(const CodecJob& job, const train::ParallelSetup& par) {
  return std::make_unique<VqStage>(job, par);
}

}  // namespace xomni::codec
