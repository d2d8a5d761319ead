#pragma once
// `xomni data mm-pack`: image datasets (and texts) -> loss-masked multimodal token shards, the
// folder's multimodal.json and a copy of the text tokenizer (see mm_documents.h for the documents
// and docs/DATA.md for the folder).
//
// Kinds (per image, in dataset order; the caption of a document is drawn per image with a seeded
// counter-based RNG, so it does not depend on batching):
//   generation     one generation document (a drawn caption)
//   understanding  one understanding document per question/answer pair (or per
//                  questions_per_document pairs, in order: the image once, then several turns,
//                  which spends far fewer tokens on repeated images); an image without pairs
//                  gives one captioning document (question "Describe the image.", a drawn caption)
//   mixture        both of the above for every image
//   text           text documents, every token counted: each caption, each question + "\n" +
//                  answer, and each paragraph of the text files; shards of the text vocabulary
// An image without captions gives no generation or captioning document.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace xomni::mm {

struct MmPackOptions {
  std::string tokenizer;            // tokenizer.json holding <SOM>, <EOM>, <IMAGE>, <|endoftext|>
  std::string image_tokenizer;      // a vq (or siglip) checkpoint; optional for kind text
  std::string decoder;              // a decoder checkpoint, recorded only; may be empty
  std::vector<std::string> images;  // image dataset folders
  std::vector<std::string> text_files;  // kind text: extra paragraphs
  std::string kind = "mixture";         // generation | understanding | mixture | text
  uint64_t seed = 0;
  int64_t short_edge = 0, max_long_edge = 0;  // resize images first (0: keep their size)
  int64_t batch = 16;                         // images encoded together (one size per batch)
  int64_t questions_per_document = 1;         // understanding: turns after one image
  int64_t tokens_per_shard = int64_t(1) << 20;
};

struct MmPackSummary {
  int64_t images = 0;
  int64_t generation = 0, understanding = 0, text = 0;  // documents of each kind
  int64_t tokens = 0, supervised = 0;
  int64_t text_vocab_size = 0, image_vocab_size = 0, vocab_size = 0;  // the shards' vocab_size
  std::map<std::pair<int64_t, int64_t>, int64_t> grids;               // (h, w) -> images
  std::vector<std::pair<int64_t, int64_t>> grid_order;                // in order of first image
};

// Writes the shards, multimodal.json and tokenizer.json into `out_dir` (an existing, empty
// folder: the caller stages it).
MmPackSummary mm_pack(const MmPackOptions& options, const std::string& out_dir);

// The index of the caption drawn for image `image_index` (over all datasets, in order) for
// `purpose` (0 generation, 1 captioning) among `count` captions.
int64_t draw_caption(uint64_t seed, int64_t image_index, int purpose, int64_t count);

}  // namespace xomni::mm
