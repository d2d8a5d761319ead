// xomni image encode|decode|reconstruct|tokenize-shards: the trained image codec from the command
// line. The tokenizer comes from a siglip or vq checkpoint, the decoder from a decoder checkpoint
// (which also names its tokenizer), so each command needs only checkpoint paths.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "codec/codec_eval.h"
#include "codec/image_grid.h"
#include "staged_folder.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::cli {
namespace {

using codec::LoadedDecoder;
using codec::LoadedTokenizer;

struct Sizing {
  int64_t short_edge = 0, max_long_edge = 0;  // 0: keep the file's size
};

Sizing take_sizing(std::vector<std::string>& args) {
  Sizing s;
  s.short_edge = parse_int(take_option(args, "--size"), "--size", 0, 0, 1 << 16);
  s.max_long_edge = parse_int(take_option(args, "--max-size"), "--max-size", 0, 0, 1 << 16);
  return s;
}

void no_more_options(const std::vector<std::string>& args, const char* command) {
  for (const std::string& a : args)
    XOMNI_CHECK(a.rfind("--", 0) != 0, "unknown option '", a, "' for xomni image ", command,
                " (see xomni image --help)");
}

// An image as the tokenizer takes it: resized when asked, otherwise its sides must be multiples
// of the patch; `name` (a file, a dataset sample) is in every error.
Image fit_for_patch(Image img, const Sizing& sizing, int64_t patch, const std::string& name) {
  if (sizing.short_edge > 0) img = fit_image(img, sizing.short_edge, sizing.max_long_edge);
  XOMNI_CHECK(img.width >= patch && img.height >= patch, name, ": the image is ", img.width, "x",
              img.height, ", smaller than one ", patch, "x", patch, " patch of the tokenizer");
  XOMNI_CHECK(img.width % patch == 0 && img.height % patch == 0, name, ": the image is ", img.width,
              "x", img.height, " and the tokenizer's patch ", patch,
              " does not divide both sides; pass --size N to resize (short edge N) or crop it");
  return img;
}

Tensor load_image(const std::string& path, const Sizing& sizing, int64_t patch) {
  return codec::image_to_tensor(fit_for_patch(read_image(path), sizing, patch, path));
}

// The decoder's tokenizer: --tokenizer when given, else the checkpoint its job names (a path as
// it was where the decoder was trained).
LoadedTokenizer decoder_tokenizer(const LoadedDecoder& dec, const std::string& decoder_ckpt,
                                  const std::string& override_path) {
  if (!override_path.empty()) return codec::load_tokenizer(override_path, nullptr);
  XOMNI_CHECK(std::filesystem::exists(dec.tokenizer_checkpoint), decoder_ckpt,
              ": the decoder was trained on the codes of ", dec.tokenizer_checkpoint,
              ", which is not there from this folder; pass --tokenizer PATH");
  return codec::load_tokenizer(dec.tokenizer_checkpoint, nullptr);
}

// "h w id id id ..." per line, the grid first.
std::string ids_line(const Tensor& ids, int64_t h, int64_t w) {
  std::ostringstream out;
  out << h << ' ' << w;
  const Tensor t = ids.to(DType::i64).contiguous();
  for (int64_t i = 0; i < t.numel(); ++i) out << ' ' << t.data<int64_t>()[i];
  return out.str();
}

int encode(std::vector<std::string> args) {
  const std::string ckpt = take_option(args, "--tokenizer");
  const Sizing sizing = take_sizing(args);
  no_more_options(args, "encode");
  XOMNI_CHECK(!ckpt.empty(), "--tokenizer CHECKPOINT is required (a siglip or vq checkpoint)");
  XOMNI_CHECK(!args.empty(), "no image files given");
  const LoadedTokenizer tok = codec::load_tokenizer(ckpt, nullptr);
  const int64_t p = tok.tokenizer->patch_size();
  for (const std::string& path : args) {
    const Tensor image = load_image(path, sizing, p);
    const Tensor ids = tok.tokenizer->encode(image);
    std::printf("%s\n", ids_line(ids, image.size(2) / p, image.size(3) / p).c_str());
  }
  return 0;
}

// Reads "h w ids..." lines; every id must be in the codebook.
std::vector<std::vector<int64_t>> read_id_lines(const std::string& path) {
  std::ifstream in(path);
  XOMNI_CHECK(in, path, ": cannot open the id file");
  std::vector<std::vector<int64_t>> out;
  std::string line;
  for (int64_t line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream words(line);
    std::vector<int64_t> v;
    std::string word;
    while (words >> word) {
      size_t used = 0;
      long long x = 0;
      try {
        x = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      XOMNI_CHECK(used == word.size() && used > 0, path, ":", line_no, ": '", word,
                  "' is not an integer");
      v.push_back(x);
    }
    XOMNI_CHECK(v.size() >= 2 && v[0] > 0 && v[1] > 0, path, ":", line_no,
                ": a line is \"h w\" then h*w code ids");
    XOMNI_CHECK(int64_t(v.size()) == 2 + v[0] * v[1], path, ":", line_no, ": the grid is ", v[0],
                "x", v[1], " = ", v[0] * v[1], " codes but the line has ", v.size() - 2);
    out.push_back(std::move(v));
  }
  return out;
}

int decode(std::vector<std::string> args) {
  const std::string ckpt = take_option(args, "--decoder");
  const std::string tok_path = take_option(args, "--tokenizer");
  const std::string out_dir = take_option(args, "--out");
  const int64_t steps = parse_int(take_option(args, "--steps"), "--steps", 0, 0, 100000);
  const int64_t seed = parse_int(take_option(args, "--seed"), "--seed", 0, 0);
  no_more_options(args, "decode");
  XOMNI_CHECK(!ckpt.empty(), "--decoder CHECKPOINT is required (a decoder-stage checkpoint)");
  XOMNI_CHECK(!out_dir.empty(), "--out DIR is required");
  XOMNI_CHECK(args.size() == 1,
              "expected one id file (lines of \"h w ids...\" as xomni image "
              "encode writes them)");
  const LoadedDecoder dec = codec::load_decoder(ckpt, nullptr);
  const LoadedTokenizer tok = decoder_tokenizer(dec, ckpt, tok_path);
  const std::vector<std::vector<int64_t>> lines = read_id_lines(args[0]);
  const int64_t K = tok.tokenizer->codebook_size();
  for (size_t i = 0; i < lines.size(); ++i)
    for (size_t j = 2; j < lines[i].size(); ++j)
      XOMNI_CHECK(lines[i][j] >= 0 && lines[i][j] < K, args[0], ": image ", i + 1, ", code ", j - 1,
                  ": id ", lines[i][j], " is outside the tokenizer's codebook [0, ", K, ")");
  std::filesystem::create_directories(out_dir);
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::vector<int64_t>& v = lines[i];
    Tensor ids = Tensor::empty({1, v[0] * v[1]}, DType::i64);
    std::copy(v.begin() + 2, v.end(), ids.data<int64_t>());
    const Tensor codes = tok.tokenizer->code_embeddings(ids);
    const Tensor image = dec.decoder->decode(codes, v[0], v[1], uint64_t(seed) + i, steps);
    char name[32];
    std::snprintf(name, sizeof name, "%05zu.png", i);
    write_png(codec::tensor_to_images(image)[0], out_dir + "/" + name);
  }
  std::printf("%zu images in %s\n", lines.size(), out_dir.c_str());
  return 0;
}

// Images from files, or the first N samples of an image dataset, with their names.
std::vector<std::pair<Image, std::string>> gather_images(const std::vector<std::string>& files,
                                                         const std::string& dataset,
                                                         int64_t count) {
  std::vector<std::pair<Image, std::string>> out;
  for (const std::string& f : files) out.emplace_back(read_image(f), f);
  if (!dataset.empty()) {
    const ImageDataset ds = ImageDataset::open(dataset);
    for (int64_t i = 0; i < std::min(count, ds.size()); ++i)
      out.emplace_back(ds.get(i).image, dataset + " sample " + std::to_string(i));
  }
  XOMNI_CHECK(!out.empty(), "no images: give image files or --dataset DIR");
  return out;
}

int reconstruct(std::vector<std::string> args) {
  const std::string ckpt = take_option(args, "--decoder");
  const std::string tok_path = take_option(args, "--tokenizer");
  const std::string out = take_option(args, "--out");
  const std::string dataset = take_option(args, "--dataset");
  const int64_t count = parse_int(take_option(args, "--count"), "--count", 16, 1, 100000);
  const int64_t steps = parse_int(take_option(args, "--steps"), "--steps", 0, 0, 100000);
  const int64_t seed = parse_int(take_option(args, "--seed"), "--seed", 0, 0);
  Sizing sizing = take_sizing(args);
  no_more_options(args, "reconstruct");
  XOMNI_CHECK(!ckpt.empty(), "--decoder CHECKPOINT is required (a decoder-stage checkpoint)");
  XOMNI_CHECK(!out.empty(), "--out grid.png is required");
  const LoadedDecoder dec = codec::load_decoder(ckpt, nullptr);
  const LoadedTokenizer tok = decoder_tokenizer(dec, ckpt, tok_path);
  const int64_t p = tok.tokenizer->patch_size();
  std::vector<Image> originals, decoded;
  double sq_err = 0, values = 0;
  for (auto& [img, name] : gather_images(args, dataset, count)) {
    const Tensor x = codec::image_to_tensor(fit_for_patch(std::move(img), sizing, p, name));
    const Tensor codes = tok.tokenizer->code_embeddings(tok.tokenizer->encode(x));
    const Tensor y = dec.decoder->decode(codes, x.size(2) / p, x.size(3) / p,
                                         uint64_t(seed) + originals.size(), steps);
    const Tensor d = sub(y, x);
    sq_err += sum(mul(d, d)).item();
    values += double(d.numel());
    originals.push_back(codec::tensor_to_images(x)[0]);
    decoded.push_back(codec::tensor_to_images(y)[0]);
  }
  write_png(codec::side_by_side_grid(originals, decoded), out);
  const double mse = sq_err / values;
  std::printf("%zu images -> %s (originals left, reconstructions right); PSNR %.2f dB\n",
              originals.size(), out.c_str(), 10.0 * std::log10(1.0 / std::max(mse, 1e-12)));
  return 0;
}

int tokenize_shards(std::vector<std::string> args) {
  const std::string ckpt = take_option(args, "--tokenizer");
  const std::string out = take_option(args, "--out");
  const int64_t offset = parse_int(take_option(args, "--id-offset"), "--id-offset", 0, 0, 1 << 30);
  const int64_t batch = parse_int(take_option(args, "--batch"), "--batch", 16, 1, 4096);
  const bool overwrite = take_flag(args, "--overwrite");
  Sizing sizing = take_sizing(args);
  no_more_options(args, "tokenize-shards");
  XOMNI_CHECK(!ckpt.empty(), "--tokenizer CHECKPOINT is required (a siglip or vq checkpoint)");
  XOMNI_CHECK(!out.empty(), "--out DIR is required");
  XOMNI_CHECK(args.size() == 1, "expected one image dataset folder");
  const LoadedTokenizer tok = codec::load_tokenizer(ckpt, nullptr);
  const ImageDataset ds = ImageDataset::open(args[0]);
  const int64_t p = tok.tokenizer->patch_size();
  StagedFolder staged(out, overwrite, "--overwrite");
  std::vector<std::vector<int32_t>> documents;
  const auto start = std::chrono::steady_clock::now();
  NoGradGuard no_grad;
  // Images are read once, in order; a batch is encoded when it is full or the next image has
  // another size (one size per batch).
  std::vector<Tensor> pending;
  const auto encode_pending = [&] {
    if (pending.empty()) return;
    const Tensor ids = tok.tokenizer->encode(cat(pending, 0)).contiguous();
    pending.clear();
    const int64_t n = ids.size(1);
    for (int64_t b = 0; b < ids.size(0); ++b) {
      const int64_t* row = ids.data<int64_t>() + b * n;
      std::vector<int32_t> doc;
      for (int64_t j = 0; j < n; ++j) doc.push_back(int32_t(row[j] + offset));
      documents.push_back(std::move(doc));
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\r%lld/%lld images, %.1f images/s",
                 static_cast<long long>(documents.size()), static_cast<long long>(ds.size()),
                 double(documents.size()) / std::max(s, 1e-9));
  };
  for (int64_t i = 0; i < ds.size(); ++i) {
    Tensor x = codec::image_to_tensor(
        fit_for_patch(ds.get(i).image, sizing, p, args[0] + " sample " + std::to_string(i)));
    if (!pending.empty() &&
        (int64_t(pending.size()) == batch || x.shape() != pending.front().shape()))
      encode_pending();
    pending.push_back(std::move(x));
  }
  encode_pending();
  std::fprintf(stderr, "\n");
  write_token_shards(staged.path(), documents, int64_t(1) << 20,
                     tok.tokenizer->codebook_size() + offset);
  staged.commit();
  std::printf("%zu images -> %s (ids %lld..%lld)\n", documents.size(), out.c_str(),
              static_cast<long long>(offset),
              static_cast<long long>(offset + tok.tokenizer->codebook_size() - 1));
  return 0;
}

// "1,4,16" -> {1, 4, 16}
std::vector<int64_t> parse_steps(const std::string& text) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(parse_int(text.substr(start, comma - start), "--steps", 0, 1, 100000));
    start = comma + 1;
  }
  return out;
}

// This program's own path, to run the OCR pass in a child process with its own thread limit.
std::string self_path() {
  return std::filesystem::read_symlink("/proc/self/exe").string();
}

int eval(std::vector<std::string> args) {
  codec::CodecEvalOptions o;
  o.tokenizer = take_option(args, "--tokenizer");
  o.decoder = take_option(args, "--decoder");
  o.dataset = take_option(args, "--dataset");
  o.out_dir = take_option(args, "--out");
  o.count = parse_int(take_option(args, "--count"), "--count", 200, 1);
  o.retrieval_count = parse_int(take_option(args, "--retrieval"), "--retrieval", 500, 1);
  o.image_size = parse_int(take_option(args, "--size"), "--size", 0, 0, 1 << 16);
  const std::string steps = take_option(args, "--steps");
  if (!steps.empty()) o.steps = parse_steps(steps);
  const bool ocr = !take_flag(args, "--no-ocr");
  no_more_options(args, "eval");
  XOMNI_CHECK(args.empty(), "unexpected argument '", args.empty() ? "" : args[0], "'");
  XOMNI_CHECK(!o.tokenizer.empty(), "--tokenizer CHECKPOINT is required (the vq checkpoint)");
  XOMNI_CHECK(!o.dataset.empty(), "--dataset DIR is required (a held-out image dataset)");
  XOMNI_CHECK(!o.out_dir.empty(), "--out DIR is required");
  // Tesseract is fast only with OMP_THREAD_LIMIT=1, which would also cap this process's threads.
  if (ocr && !o.decoder.empty())
    o.ocr_command = "OMP_THREAD_LIMIT=1 '" + self_path() + "' image eval-ocr '" + o.out_dir + "'";
  const nlohmann::json result = codec::evaluate_codec(o);
  std::ofstream(o.out_dir + "/results.json") << result.dump(2) << "\n";
  std::printf("%s\n", result.dump(2).c_str());
  return 0;
}

int eval_ocr(std::vector<std::string> args) {
  XOMNI_CHECK(args.size() == 1, "expected the folder xomni image eval wrote");
  std::printf("%s\n", codec::ocr_word_accuracy(args[0]).dump().c_str());
  return 0;
}

int run(const std::vector<std::string>& argv) {
  XOMNI_CHECK(!argv.empty(),
              "expected a command: encode, decode, reconstruct, tokenize-shards or eval");
  const std::string cmd = argv[0];
  const std::vector<std::string> rest(argv.begin() + 1, argv.end());
  if (cmd == "encode") return encode(rest);
  if (cmd == "decode") return decode(rest);
  if (cmd == "reconstruct") return reconstruct(rest);
  if (cmd == "tokenize-shards") return tokenize_shards(rest);
  if (cmd == "eval") return eval(rest);
  if (cmd == "eval-ocr") return eval_ocr(rest);
  throw Error("xomni image: unknown command '" + cmd +
              "' (encode, decode, reconstruct, tokenize-shards or eval)");
}

const Register reg(
    {"image", "the trained image codec: images <-> token ids, reconstructions, token shards",
     "usage:\n"
     "  xomni image encode --tokenizer CKPT [--size N [--max-size M]] IMAGE...\n"
     "      one line per image: \"h w\" (the token grid) then the h*w code ids\n"
     "  xomni image decode --decoder CKPT --out DIR [--steps S] [--seed N]\n"
     "                     [--tokenizer CKPT] IDS.txt\n"
     "      each line of IDS.txt (as encode writes it) -> DIR/00000.png, ...\n"
     "  xomni image reconstruct --decoder CKPT --out grid.png [--dataset DIR [--count N]]\n"
     "                          [--size N] [--steps S] [--seed N] [--tokenizer CKPT]\n"
     "                          [IMAGE...]\n"
     "      originals beside their encode -> decode reconstructions, and the PSNR\n"
     "  xomni image tokenize-shards --tokenizer CKPT --out DIR [--id-offset K] [--batch B]\n"
     "                              [--size N] [--overwrite] IMAGE_DATASET\n"
     "      an image dataset -> token shards (one document of h*w ids per image, + K)\n"
     "  xomni image eval --tokenizer VQ_CKPT [--decoder CKPT] --dataset DIR --out DIR\n"
     "                   [--count N] [--retrieval N] [--steps 1,4,16] [--size N] [--no-ocr]\n"
     "      held-out quality: PSNR per step count, scene-checker pass rate, OCR word\n"
     "      accuracy (reconstructed vs original), codebook use, VQA accuracy from the\n"
     "      codes, caption->image retrieval; DIR/results.json (docs/CODEC.md)\n\n"
     "CKPT for --tokenizer is a siglip or vq checkpoint (or a decoder checkpoint, whose\n"
     "tokenizer is used); --decoder takes a decoder-stage checkpoint, which names the\n"
     "tokenizer it decodes. --steps 0 uses the decoder's configured sampler steps.\n"
     "Images are resized only with --size (short edge N, aspect kept, long edge capped\n"
     "by --max-size); otherwise their sides must be multiples of the tokenizer's patch.",
     run});

}  // namespace
}  // namespace xomni::cli
