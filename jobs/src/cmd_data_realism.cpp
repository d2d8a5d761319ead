// xomni data realism: the realism scorer's labelled images. For each dataset image, its codes
// from the frozen tokenizer are rendered twice by the decoder, as they are (kind "clean", label 1)
// and corrupted (kind "corrupted", label 0; jobs/realism/corruption.h), with the same sampler
// seed, so both classes carry the decoder's own artefacts and differ only in the codes. The first
// --count images make OUT/train, the next --heldout make OUT/heldout, and OUT/heldout_real pairs
// those held-out images' own pixels (kind "real") with the same corrupted renderings.
// xomni data realism-eval scores such a dataset with a trained scorer (accuracy per kind).
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "cli.h"
#include "cmd_data.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "realism/corruption.h"
#include "realism/realism_job.h"
#include "realism/realism_model.h"
#include "staged_folder.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::cli {
namespace {

struct Options {
  std::string tokenizer, decoder, images, out;
  int64_t count = 0, heldout = 0, size = 0, steps = 0, batch = 8, seed = 0;
  bool overwrite = false;
};

// One split: images [first, first + n) of the dataset -> its folder(s).
struct SplitWriter {
  std::unique_ptr<StagedFolder> rendered, real;  // real: only for the held-out split
  std::unique_ptr<ImageShardWriter> rendered_writer, real_writer;
};

// --tokenizer, else the checkpoint the decoder's job names (a path as it was where the decoder
// was trained).
std::string tokenizer_path(const Options& o, const codec::LoadedDecoder& dec) {
  if (!o.tokenizer.empty()) return o.tokenizer;
  XOMNI_CHECK(std::filesystem::exists(dec.tokenizer_checkpoint), o.decoder,
              ": the decoder was trained on the codes of ", dec.tokenizer_checkpoint,
              ", which is not there from this folder; pass --tokenizer PATH");
  return dec.tokenizer_checkpoint;
}

class RealismDataMaker {
 public:
  explicit RealismDataMaker(const Options& o)
      : o_(o),
        dec_(codec::load_decoder(o.decoder, nullptr)),
        tok_(codec::load_tokenizer(tokenizer_path(o, dec_), nullptr)),
        ds_(ImageDataset::open(o.images)) {
    XOMNI_CHECK(o.count + o.heldout <= ds_.size(), o.images, ": holds ", ds_.size(),
                " images, fewer than --count ", o.count, " + --heldout ", o.heldout);
  }

  // Renders images [first, first + n) into `w`; returns the number of pairs.
  int64_t split(int64_t first, int64_t n, SplitWriter& w) {
    std::vector<ImageSample> pending;
    int64_t done = 0;
    const auto flush = [&] {
      if (pending.empty()) return;
      render(pending, first + done, w);
      done += int64_t(pending.size());
      pending.clear();
      std::fprintf(stderr, "\r%lld/%lld pairs", static_cast<long long>(done),
                   static_cast<long long>(n));
    };
    for (int64_t i = first; i < first + n; ++i) {
      ImageSample s = ds_.get(i);
      if (o_.size > 0) s.image = fit_image(s.image, o_.size, 0);
      const int64_t p = tok_.tokenizer->patch_size();
      XOMNI_CHECK(s.image.width % p == 0 && s.image.height % p == 0, o_.images, " sample ", i,
                  ": the image is ", s.image.width, "x", s.image.height,
                  " and the tokenizer's patch ", p, " does not divide both sides; pass --size N");
      if (!pending.empty() &&
          (int64_t(pending.size()) == o_.batch || pending[0].image.width != s.image.width ||
           pending[0].image.height != s.image.height))
        flush();
      pending.push_back(std::move(s));
    }
    flush();
    std::fprintf(stderr, "\n");
    return done;
  }

 private:
  // One batch of samples, the first being dataset image `index`.
  void render(const std::vector<ImageSample>& samples, int64_t index, SplitWriter& w) {
    NoGradGuard no_grad;
    const int64_t B = int64_t(samples.size()), p = tok_.tokenizer->patch_size();
    const int64_t gh = samples[0].image.height / p, gw = samples[0].image.width / p;
    std::vector<Tensor> xs;
    for (const ImageSample& s : samples) xs.push_back(codec::image_to_tensor(s.image));
    const Tensor ids = tok_.tokenizer->encode(cat(xs, 0)).to(DType::i64).contiguous();
    const int64_t n = gh * gw;
    std::vector<int64_t> both(size_t(2 * B * n));
    std::vector<std::string> what(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<int64_t> clean(ids.data<int64_t>() + b * n,
                                       ids.data<int64_t>() + (b + 1) * n);
      const realism::CorruptedCodes bad =
          realism::corrupt_codes(clean, gh, gw, tok_.tokenizer->codebook_size(),
                                 uint64_t(o_.seed) * 1000003 + uint64_t(index + b));
      std::copy(clean.begin(), clean.end(), both.begin() + b * n);
      std::copy(bad.ids.begin(), bad.ids.end(), both.begin() + (B + b) * n);
      what[size_t(b)] = bad.description;
    }
    const Tensor codes = tok_.tokenizer->code_embeddings(Tensor::from_vector(both, {2 * B, n}));
    const std::vector<Image> rendered = codec::tensor_to_images(
        dec_.decoder->decode(codes, gh, gw, uint64_t(o_.seed) + uint64_t(index), o_.steps));
    for (int64_t b = 0; b < B; ++b) {
      const ImageSample& src = samples[size_t(b)];
      const std::string from = "\"source\": \"" + std::to_string(index + b) + "\"";
      ImageSample clean{rendered[size_t(b)],
                        realism::kCleanKind,
                        "{\"label\": 1, " + from + "}",
                        src.captions,
                        {}};
      ImageSample bad{rendered[size_t(B + b)],
                      realism::kCorruptedKind,
                      "{\"label\": 0, " + from + ", \"corruption\": \"" + what[size_t(b)] + "\"}",
                      src.captions,
                      {}};
      w.rendered_writer->add(clean);
      w.rendered_writer->add(bad);
      if (w.real_writer) {
        w.real_writer->add(ImageSample{
            src.image, realism::kRealKind, "{\"label\": 1, " + from + "}", src.captions, {}});
        w.real_writer->add(bad);
      }
    }
  }

  const Options& o_;
  codec::LoadedDecoder dec_;
  codec::LoadedTokenizer tok_;
  ImageDataset ds_;
};

int64_t number(std::vector<std::string>& args, const char* flag, int64_t fallback, int64_t lo) {
  return parse_int(take_option(args, flag), flag, fallback, lo);
}

}  // namespace

int data_realism_main(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  Options o;
  o.tokenizer = take_option(args, "--tokenizer");
  o.decoder = take_option(args, "--decoder");
  o.images = take_option(args, "--images");
  o.out = take_option(args, "--out");
  o.count = number(args, "--count", 0, 1);
  o.heldout = number(args, "--heldout", std::max<int64_t>(1, o.count / 4), 0);
  o.size = number(args, "--size", 0, 0);
  o.steps = number(args, "--steps", 0, 0);
  o.batch = number(args, "--batch", 8, 1);
  o.seed = number(args, "--seed", 0, 0);
  o.overwrite = take_flag(args, "--overwrite");
  for (const std::string& a : args)
    XOMNI_CHECK(false, "unexpected argument '", a,
                "' for xomni data realism (see xomni data --help)");
  XOMNI_CHECK(!o.decoder.empty(), "--decoder CHECKPOINT is required (a decoder-stage checkpoint)");
  XOMNI_CHECK(!o.images.empty(), "--images DIR is required (an image dataset)");
  XOMNI_CHECK(!o.out.empty(), "--out DIR is required");
  XOMNI_CHECK(o.count > 0, "--count N is required (training pairs)");
  const auto t0 = std::chrono::steady_clock::now();
  RealismDataMaker maker(o);
  std::filesystem::create_directories(o.out);
  const auto open = [&](const std::string& name) {
    return std::make_unique<StagedFolder>(o.out + "/" + name, o.overwrite, "--overwrite");
  };
  SplitWriter train, held;
  train.rendered = open("train");
  train.rendered_writer = std::make_unique<ImageShardWriter>(train.rendered->path(), 512);
  const int64_t n_train = maker.split(0, o.count, train);
  train.rendered_writer->finish();
  train.rendered->commit();
  int64_t n_held = 0;
  if (o.heldout > 0) {
    held.rendered = open("heldout");
    held.real = open("heldout_real");
    held.rendered_writer = std::make_unique<ImageShardWriter>(held.rendered->path(), 512);
    held.real_writer = std::make_unique<ImageShardWriter>(held.real->path(), 512);
    n_held = maker.split(o.count, o.heldout, held);
    held.rendered_writer->finish();
    held.real_writer->finish();
    held.rendered->commit();
    held.real->commit();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %lld training pairs, %lld held-out pairs (%lld decoded images) in %.1f s\n",
              o.out.c_str(), static_cast<long long>(n_train), static_cast<long long>(n_held),
              static_cast<long long>(2 * (n_train + n_held)), secs);
  return 0;
}

namespace {

// "corrupted/<kind of corruption>" from the metadata xomni data realism writes ("" without one):
// accuracy per corruption as well as per label.
std::string corruption_of(const std::string& metadata) {
  const std::string key = "\"corruption\": \"";
  const size_t at = metadata.find(key);
  if (at == std::string::npos) return "";
  const size_t start = at + key.size();
  const size_t end = metadata.find_first_of(" \"", start);
  return "corrupted/" + metadata.substr(start, end - start);
}

}  // namespace

int data_realism_eval_main(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  const std::string ckpt = take_option(args, "--checkpoint");
  const int64_t batch = parse_int(take_option(args, "--batch"), "--batch", 32, 1, 4096);
  XOMNI_CHECK(!ckpt.empty(), "--checkpoint CKPT is required (a realism-stage checkpoint)");
  XOMNI_CHECK(args.size() == 1 && args[0].rfind("--", 0) != 0,
              "usage: xomni data realism-eval --checkpoint CKPT DATASET_DIR [--batch B]");
  const std::unique_ptr<realism::RealismModel> model = realism::load_realism_model(ckpt);
  const ImageDataset ds = ImageDataset::open(args[0]);
  NoGradGuard no_grad;
  // Per kind: samples, correct verdicts (logit > 0 for label 1), sum of sigmoid(logit).
  std::map<std::string, std::array<double, 3>> by_kind;
  for (int64_t first = 0; first < ds.size(); first += batch) {
    std::vector<Image> images;
    std::vector<ImageSample> samples;
    for (int64_t i = first; i < std::min(ds.size(), first + batch); ++i) {
      samples.push_back(ds.get(i));
      images.push_back(samples.back().image);
    }
    const Tensor logits = (*model)(realism::realism_batch(images, model->options().image_size));
    const std::vector<float> z = logits.to_vector<float>();
    for (size_t i = 0; i < z.size(); ++i) {
      const std::string& kind = samples[i].kind;
      const bool real = realism::label_of_kind(kind, args[0]) > 0.5f;
      for (const std::string& key : {kind, corruption_of(samples[i].metadata_json)}) {
        if (key.empty()) continue;
        auto& k = by_kind[key];
        k[0] += 1, k[1] += (z[i] > 0) == real ? 1 : 0, k[2] += 1.0 / (1.0 + std::exp(-z[i]));
      }
    }
  }
  double n = 0, correct = 0;
  for (const auto& [kind, k] : by_kind) {
    std::printf("%-18s %6.0f samples  accuracy %.4f  mean score %.4f\n", kind.c_str(), k[0],
                k[1] / k[0], k[2] / k[0]);
    if (kind.find('/') == std::string::npos) n += k[0], correct += k[1];
  }
  std::printf("%s: accuracy %.4f over %.0f samples\n", args[0].c_str(), correct / n, n);
  return 0;
}

}  // namespace xomni::cli
