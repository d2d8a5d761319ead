#include "mm/mm_pack.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli_tokenizer.h"
#include "codec/codec_components.h"
#include "codec/codec_data.h"
#include "mm/mm_corpus.h"
#include "mm/mm_documents.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/random.h"

namespace xomni::mm {

namespace fs = std::filesystem;

namespace {

enum class Kind { generation, understanding, mixture, text };

Kind parse_kind(const std::string& k) {
  if (k == "generation") return Kind::generation;
  if (k == "understanding") return Kind::understanding;
  if (k == "mixture") return Kind::mixture;
  if (k == "text") return Kind::text;
  throw Error("--kind '" + k + "' is not one of generation, understanding, mixture, text");
}

// The documents and their masks, counted as they come.
struct Collected {
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<uint8_t>> masks;
  MmPackSummary summary;
  void add(Document doc, int64_t MmPackSummary::*kind) {
    ++(summary.*kind);
    summary.tokens += int64_t(doc.ids.size());
    summary.supervised += doc.supervised();
    ids.push_back(std::move(doc.ids));
    masks.push_back(std::move(doc.mask));
  }
};

// An image as the tokenizer takes it: resized when asked; its sides must be multiples of the
// patch. `name` says which sample in errors.
Tensor image_tensor(Image img, const MmPackOptions& o, int64_t patch, const std::string& name) {
  if (o.short_edge > 0) img = fit_image(img, o.short_edge, o.max_long_edge);
  XOMNI_CHECK(img.width >= patch && img.height >= patch && img.width % patch == 0 &&
                  img.height % patch == 0,
              name, ": the image is ", img.width, "x", img.height,
              " and the image tokenizer's patch ", patch,
              " does not tile it; pass --size N to resize it (short edge N, a multiple of ", patch,
              ")");
  return codec::image_to_tensor(img);
}

// The documents of one image by kind (see mm_pack.h).
void image_documents(const DocumentBuilder& b, const MmPackOptions& o, Kind kind,
                     int64_t image_index, const ImageSample& s, const ImageCodes& codes,
                     Collected& out) {
  const auto caption = [&](int purpose) {
    return s
        .captions[size_t(draw_caption(o.seed, image_index, purpose, int64_t(s.captions.size())))];
  };
  if ((kind == Kind::generation || kind == Kind::mixture) && !s.captions.empty())
    out.add(b.generation(caption(0), codes), &MmPackSummary::generation);
  if (kind == Kind::understanding || kind == Kind::mixture) {
    const size_t per = size_t(o.questions_per_document);
    for (size_t first = 0; first < s.qa.size(); first += per) {
      const std::vector<std::pair<std::string, std::string>> turns(
          s.qa.begin() + int64_t(first),
          s.qa.begin() + int64_t(std::min(first + per, s.qa.size())));
      out.add(b.understanding(codes, turns), &MmPackSummary::understanding);
    }
    if (s.qa.empty() && !s.captions.empty())
      out.add(b.understanding(codes, kCaptionQuestion, caption(1)), &MmPackSummary::understanding);
  }
}

// Encodes every image of the datasets (batches of one size) and builds its documents.
void image_kinds(const DocumentBuilder& b, const plugins::ImageTokenizer& tok,
                 const MmPackOptions& o, Kind kind, Collected& out) {
  const int64_t patch = tok.patch_size();
  NoGradGuard no_grad;
  struct Pending {
    Tensor image;
    ImageSample sample;
    int64_t index;
  };
  std::vector<Pending> pending;
  const auto start = std::chrono::steady_clock::now();
  int64_t index = 0;
  const auto encode_pending = [&] {
    if (pending.empty()) return;
    std::vector<Tensor> images;
    for (const Pending& p : pending) images.push_back(p.image);
    const Tensor ids = tok.encode(cat(images, 0)).to(DType::i64).contiguous();
    const int64_t h = pending[0].image.size(2) / patch, w = pending[0].image.size(3) / patch;
    XOMNI_CHECK(ids.dim() == 2 && ids.size(1) == h * w, "the image tokenizer gave ", ids.size(1),
                " codes for a ", h, "x", w, " grid");
    for (size_t j = 0; j < pending.size(); ++j) {
      ImageCodes codes{h, w, {}};
      const int64_t* row = ids.data<int64_t>() + int64_t(j) * h * w;
      codes.codes.assign(row, row + h * w);
      if (out.summary.grids[{h, w}]++ == 0) out.summary.grid_order.emplace_back(h, w);
      ++out.summary.images;
      image_documents(b, o, kind, pending[j].index, pending[j].sample, codes, out);
    }
    pending.clear();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\r%lld images, %.1f images/s", static_cast<long long>(out.summary.images),
                 double(out.summary.images) / std::max(s, 1e-9));
  };
  for (const std::string& dir : o.images) {
    const ImageDataset ds = ImageDataset::open(dir);
    for (int64_t i = 0; i < ds.size(); ++i, ++index) {
      ImageSample s = ds.get(i);
      Tensor x = image_tensor(std::move(s.image), o, patch, dir + " sample " + std::to_string(i));
      if (!pending.empty() &&
          (int64_t(pending.size()) == o.batch || x.shape() != pending.front().image.shape()))
        encode_pending();
      s.image = Image{};
      pending.push_back({std::move(x), std::move(s), index});
    }
  }
  encode_pending();
  if (out.summary.images > 0) std::fprintf(stderr, "\n");
}

void text_kind(const DocumentBuilder& b, const MmPackOptions& o, Collected& out) {
  for (const std::string& dir : o.images) {
    const ImageDataset ds = ImageDataset::open(dir);
    for (int64_t i = 0; i < ds.size(); ++i) {
      const ImageSample s = ds.get(i);
      for (const std::string& c : s.captions) out.add(b.text(c), &MmPackSummary::text);
      for (const auto& [q, a] : s.qa) out.add(b.text(q + "\n" + a), &MmPackSummary::text);
    }
  }
  for (const std::string& p : file_paragraphs(o.text_files))
    out.add(b.text(p), &MmPackSummary::text);
}

std::string absolute(const std::string& path) {
  return path.empty() ? std::string() : fs::absolute(path).lexically_normal().string();
}

}  // namespace

int64_t draw_caption(uint64_t seed, int64_t image_index, int purpose, int64_t count) {
  XOMNI_CHECK(count >= 1, "draw_caption: no captions to draw from");
  uint32_t w[4];
  philox4x32(seed, (uint64_t(image_index) << 2) + uint64_t(purpose), w);
  const uint64_t r = uint64_t(w[0]) | (uint64_t(w[1]) << 32);
  return int64_t(r % uint64_t(count));
}

MmPackSummary mm_pack(const MmPackOptions& o, const std::string& out_dir) {
  const Kind kind = parse_kind(o.kind);
  XOMNI_CHECK(!o.tokenizer.empty(), "--tokenizer tokenizer.json is required");
  XOMNI_CHECK(kind == Kind::text || !o.image_tokenizer.empty(),
              "--image-tokenizer CHECKPOINT is required for --kind ", o.kind, " (a vq checkpoint)");
  XOMNI_CHECK(kind == Kind::text || !o.images.empty(), "--images DATASET is required for --kind ",
              o.kind);
  XOMNI_CHECK(kind == Kind::text || o.text_files.empty(),
              "--input text files make text documents: use them with --kind text");
  XOMNI_CHECK(!o.images.empty() || !o.text_files.empty(),
              "nothing to pack: give --images DATASET or (--kind text) --input FILE");
  XOMNI_CHECK(o.batch >= 1, "--batch must be >= 1");
  XOMNI_CHECK(o.decoder.empty() || fs::is_regular_file(o.decoder), "--decoder ", o.decoder,
              " is not a file (a decoder checkpoint, recorded in multimodal.json)");
  const auto tok = cli::load_tokenizer(o.tokenizer);
  std::optional<codec::LoadedTokenizer> image_tok;
  if (!o.image_tokenizer.empty()) image_tok = codec::load_tokenizer(o.image_tokenizer, nullptr);
  const int64_t K = image_tok ? image_tok->tokenizer->codebook_size() : 0;
  const DocumentBuilder builder(*tok, K, "--tokenizer " + o.tokenizer);

  Collected out;
  if (kind == Kind::text)
    text_kind(builder, o, out);
  else
    image_kinds(builder, *image_tok->tokenizer, o, kind, out);
  XOMNI_CHECK(!out.ids.empty(),
              "nothing to pack: the inputs gave no documents (images without "
              "captions or questions, empty text files?)");
  MmPackSummary& s = out.summary;
  s.text_vocab_size = builder.text_vocab_size();
  s.image_vocab_size = K;
  // Text documents hold text ids only: their shards fit a text-only model too.
  s.vocab_size = kind == Kind::text ? s.text_vocab_size : s.text_vocab_size + K;
  write_token_shards(out_dir, out.ids, out.masks, o.tokens_per_shard, s.vocab_size);
  // The file itself, byte for byte (a re-serialised one could differ from what other tools read).
  fs::copy_file(o.tokenizer, fs::path(out_dir) / "tokenizer.json",
                fs::copy_options::overwrite_existing);

  // The most common grid first, equals in the order their first images came (the first
  // --images dataset's first): generation and RL default to the first one, and wide text images
  // beside as many square scenes must not change that default.
  std::vector<std::pair<int64_t, int64_t>> by_count = s.grid_order;
  std::stable_sort(by_count.begin(), by_count.end(),
                   [&](const auto& a, const auto& b) { return s.grids.at(a) > s.grids.at(b); });
  nlohmann::json grids = nlohmann::json::array();
  for (const auto& [h, w] : by_count) grids.push_back({h, w});
  const SpecialTokenIds& sp = builder.special();
  const nlohmann::json mm = {
      {"format", "xomni-multimodal"},
      {"format_version", 1},
      {"kind", o.kind},
      {"text_tokenizer", "tokenizer.json"},
      {"text_vocab_size", s.text_vocab_size},
      {"image_vocab_size", K},
      {"image_tokenizer", absolute(o.image_tokenizer)},
      {"decoder", absolute(o.decoder)},
      {"grids", grids},
      {"special_tokens", {{"som", sp.som}, {"eom", sp.eom}, {"image", sp.image}, {"eos", sp.eos}}},
      {"documents",
       {{"generation", s.generation}, {"understanding", s.understanding}, {"text", s.text}}},
      {"num_tokens", s.tokens},
      {"supervised_tokens", s.supervised}};
  const std::string path = (fs::path(out_dir) / "multimodal.json").string();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << mm.dump(2) << '\n';
  f.close();
  XOMNI_CHECK(f, "cannot write ", path);
  return s;
}

}  // namespace xomni::mm
