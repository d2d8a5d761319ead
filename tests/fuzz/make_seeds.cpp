// Writes the seed corpus of every fuzz target into OUT/<target>/ (fuzz_<target>.cpp): small valid
// inputs of each format (made by the project's own writers) and, for text formats, files from the
// repository. Usage: fuzz_make_seeds OUT REPO_ROOT. The committed corpus (tests/fuzz/corpus) was
// made with it.
#include <cstddef>  // jpeglib.h needs size_t and FILE declared first
#include <cstdio>
// clang-format off
#include <jpeglib.h>
// clang-format on
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "xomni/bpe/trainer.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/data/token_data.h"
#include "xomni/core/io/checkpoint.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/io/safetensors.h"
#include "xomni/parallel/pipeline.h"
#include "xomni/world/prompt_sets.h"

namespace fs = std::filesystem;
using namespace xomni;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

Image gradient(int64_t w, int64_t h) {
  Image im(w, h);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      uint8_t* px = im.at(x, y);
      px[0] = uint8_t(x * 16), px[1] = uint8_t(y * 16), px[2] = uint8_t((x + y) * 8);
    }
  return im;
}

void write_jpeg(const Image& im, const fs::path& path, bool progressive) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  FILE* f = std::fopen(path.c_str(), "wb");
  jpeg_stdio_dest(&c, f);
  c.image_width = JDIMENSION(im.width), c.image_height = JDIMENSION(im.height);
  c.input_components = 3, c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 80, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  for (int64_t y = 0; y < im.height; ++y) {
    JSAMPROW row = const_cast<uint8_t*>(im.at(0, y));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

// "<manifest>\n----\n<shard>", the two-file input of the dataset targets.
std::string two_files(const fs::path& dir) {
  return read_file(dir / "manifest.json") + "\n----\n" + read_file(dir / "shard-00000.h5");
}

void copy_text(const fs::path& from, const fs::path& to) {
  write_file(to, read_file(from));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT REPO_ROOT\n");
    return 2;
  }
  const fs::path out(argv[1]), repo(argv[2]);
  const fs::path tmp = out / ".work";
  fs::create_directories(tmp);
  for (const char* target : {"checkpoint", "checkpoint_fields", "safetensors", "token_shards",
                             "image_shards", "image", "tokenizer_json", "prompts", "captions",
                             "job_toml", "reward_toml", "timeline", "scene_metadata"})
    fs::create_directories(out / target);

  // Checkpoint: a tensor of each stored kind plus every metadata group.
  {
    CheckpointWriter w((tmp / "ckpt").string(), 7);
    w.write_tensor("model/w", Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3}));
    w.write_tensor("model/ids", Tensor::from_vector<int64_t>({0, 1, 2, 3}, {4}));
    w.write_tensor("optimizer/w.exp_avg", Tensor::full({2, 3}, 0.5));
    w.set_config("[train]\nsteps = 7\n");
    w.set_rng_state("init", {42, 3});
    w.set_data_position("train", {1, 2, 3});
    w.set_metadata("stage", "lm");
    copy_text(w.commit(), out / "checkpoint" / "ckpt.h5");
  }
  // checkpoint_fields: the choices that make a complete checkpoint with one f32 tensor
  // (fuzz_checkpoint_fields.cpp): version 1, step 5, one dataset model/w f32 [2] with its dtype
  // and a correct crc32, then the completion marker.
  write_file(out / "checkpoint_fields" / "one_tensor", std::string("\x04\x00\x04\x00\x01"
                                                                   "\x00\x01\x00\x01\x02"
                                                                   "\x00\x00\x80\x3f"
                                                                   "\x00\x00\x00\x40"
                                                                   "\x04\x03"
                                                                   "\x04\x00",
                                                                   19));
  // Scene metadata of one prompt of each GenEval category.
  for (const auto& p : world::eval_set("geneval"))
    if (p.task == "scene" && !fs::exists(out / "scene_metadata" / (p.category + ".json")))
      write_file(out / "scene_metadata" / (p.category + ".json"), p.metadata_json);
  // A two-stage 1F1B timeline with two micro-batches, as append_timeline_jsonl writes it.
  {
    std::vector<parallel::TimelineEvent> events;
    for (int rank = 0; rank < 2; ++rank)
      for (const auto& [phase, micro] : parallel::one_f_one_b_order(rank, 2, 2)) {
        const double start = 0.001 * double(events.size());
        events.push_back({rank, rank, micro, phase, start, start + 0.0008, 3});
      }
    parallel::append_timeline_jsonl((out / "timeline" / "two_stages.jsonl").string(), events);
  }
  // safetensors: f32 and i64 tensors.
  save_safetensors((out / "safetensors" / "two.safetensors").string(),
                   {{"a.weight", Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {3, 2})},
                    {"b.bias", Tensor::from_vector<int64_t>({7, 8, 9}, {3})}});
  // Token shards: three documents.
  write_token_shards((tmp / "tokens").string(), {{1, 2, 3}, {4, 5}, {6}}, 1000, 16);
  write_file(out / "token_shards" / "three_docs", two_files(tmp / "tokens"));
  // The same with a per-token loss mask (format version 3).
  write_token_shards((tmp / "masked").string(), {{1, 2, 3}, {4, 5}, {6}}, {{0, 1, 1}, {0, 1}, {1}},
                     1000, 16);
  write_file(out / "token_shards" / "three_docs_masked", two_files(tmp / "masked"));
  // Image shards: two small captioned samples with a question.
  {
    ImageShardWriter w((tmp / "images").string(), 100);
    for (int i = 0; i < 2; ++i) {
      ImageSample s;
      s.image = gradient(4 + i, 3);
      s.kind = "scene";
      s.metadata_json = "{\"objects\":[]}";
      s.captions = {"a gradient", "a small gradient image"};
      s.qa = {{"what is it?", "a gradient"}};
      w.add(s);
    }
    w.finish();
    write_file(out / "image_shards" / "two_samples", two_files(tmp / "images"));
  }
  // Images: PNG, baseline and progressive JPEG.
  write_png(gradient(8, 6), (out / "image" / "gradient.png").string());
  write_jpeg(gradient(8, 6), out / "image" / "gradient.jpg", false);
  write_jpeg(gradient(9, 7), out / "image" / "progressive.jpg", true);
  // A small trained tokenizer with one special token.
  bpe::train_bpe({"hello world, hello tokens", "the cat sat on the mat"}, 270, {"<|endoftext|>"})
      .save((out / "tokenizer_json" / "small.json").string());
  // Prompts: a line of each task.
  {
    std::string lines;
    for (const char* set : {"geneval", "text_short", "vqa_scene"})
      lines += world::prompt_json_line(world::eval_set(set).front()) + "\n";
    write_file(out / "prompts" / "three_tasks.jsonl", lines);
  }
  write_file(out / "captions" / "both_forms.jsonl",
             "{\"file\": \"a.png\", \"caption\": \"a cat\"}\n\n"
             "{\"file\": \"sub/b.jpg\", \"captions\": [\"a dog\", \"a brown dog\"]}\n");
  // Text formats from the repository.
  for (const char* job : {"lm.toml", "lm_slurm.toml"})
    copy_text(repo / "jobs" / "tiny" / job, out / "job_toml" / job);
  write_file(out / "reward_toml" / "two_rewards.toml",
             "[[rewards]]\nplugin = \"ocr\"\nweight = 1.0\nconfig = \"psm = 7\"\n\n"
             "[[rewards]]\nplugin = \"build/libxomni_reward_contrast.so\"\nlabel = \"contrast\"\n"
             "weight = 0.1\n[rewards.config]\nscale = 2\n");
  fs::remove_all(tmp);
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
