// The decoder stage: a diffusion decoder trained offline on (image, codes) pairs, the codes from
// the frozen tokenizer of the vq stage (tokenizer.checkpoint). The decoder's checkpoint holds the
// decoder alone; its job names the tokenizer checkpoint whose codes it decodes.
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_stage.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/plugins/component_registry.h"

namespace xomni::codec {
namespace {

// The noise and timesteps of a micro-batch: a pure function of the seed and the batch's first
// sample, so a resumed run draws what an uninterrupted one would.
Generator batch_generator(uint64_t seed, int64_t first_sample) {
  Generator gen;
  gen.set_state(seed ^ 0xdec0de5eedULL, uint64_t(first_sample) << 24);
  return gen;
}

class DecoderStage final : public ImageBatchStage {
 public:
  DecoderStage(const CodecJob& job, const train::ParallelSetup& par) : ImageBatchStage(job, par) {
    tokenizer_ = load_tokenizer(job.tokenizer_checkpoint, &par).tokenizer;
    for (const nn::ParamInfo& p : tokenizer_->parameter_infos())
      Tensor(p.tensor).set_requires_grad(false);
    decoder_ = plugins::create_diffusion_decoder(
        job.decoder.plugin, component_context(job.decoder, job.trainer.run.seed, &par));
    XOMNI_CHECK(decoder_->code_dim() == tokenizer_->code_dim(), job.decoder.where,
                ": the decoder reads codes of dimension ", decoder_->code_dim(),
                " but the tokenizer of ", job.tokenizer_checkpoint, " makes codes of dimension ",
                tokenizer_->code_dim());
    XOMNI_CHECK(decoder_->pixels_per_token() == tokenizer_->patch_size(), job.decoder.where,
                ": the decoder draws ", decoder_->pixels_per_token(),
                " pixels per token but the tokenizer's patch is ", tokenizer_->patch_size());
  }

  std::vector<nn::ParamInfo> parameters() const override {
    return decoder_->parameter_infos("decoder.");
  }

 protected:
  plugins::LossTerms objective(const IndexedBatch& b, uint64_t seed) override {
    Generator gen = batch_generator(seed, b.index.front());
    const Tensor images = images_to_tensor(b.samples, job_.data);
    Tensor codes;
    {
      NoGradGuard no_grad;
      codes = tokenizer_->code_embeddings(tokenizer_->encode(images));
    }
    const int64_t p = tokenizer_->patch_size();
    return decoder_->training_loss(images, codes, images.size(2) / p, images.size(3) / p, gen);
  }

 private:
  std::unique_ptr<plugins::ImageTokenizer> tokenizer_;
  std::unique_ptr<plugins::DiffusionDecoder> decoder_;
};

}  // namespace

std::unique_ptr<train::Stage> make_decoder_stage(const CodecJob& job,
                                                 const train::ParallelSetup& par) {
  return std::make_unique<DecoderStage>(job, par);
}

}  // namespace xomni::codec
