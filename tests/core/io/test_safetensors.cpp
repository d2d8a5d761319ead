// safetensors reading/writing, sharded folders and damaged files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "check.h"
#include "xomni/core/io/safetensors.h"

using namespace xomni;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("xomni_st_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST(Safetensors, RoundTripEveryDtype) {
  const fs::path d = temp_dir("roundtrip");
  TensorMap in;
  in["a.f32"] = test::uniform({3, 4}, 1, DType::f32);
  in["b.f64"] = test::uniform({5}, 2, DType::f64);
  in["c.bf16"] = test::uniform({2, 2}, 3, DType::f32).to(DType::bf16);
  in["d.f16"] = test::uniform({7}, 4, DType::f32).to(DType::f16);
  in["e.i64"] = Tensor::arange(6);
  in["f.i32"] = Tensor::arange(4, DType::i32);
  in["g.u8"] = Tensor::from_vector<uint8_t>({1, 0, 1}, {3});
  in["h.strided"] = transpose(test::uniform({3, 2}, 5, DType::f32), 0, 1);
  save_safetensors((d / "m.safetensors").string(), in);
  TensorMap out = load_safetensors_any(d.string() + "/m.safetensors");
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [name, t] : in) {
    ASSERT_EQ(out.at(name).dtype(), t.dtype()) << name;
    ASSERT_EQ(out.at(name).shape(), t.shape()) << name;
    EXPECT_EQ(out.at(name).to(DType::f64).to_vector<double>(), t.to(DType::f64).to_vector<double>())
        << name;
  }
}

TEST(Safetensors, ShardedFolderWithIndex) {
  const fs::path d = temp_dir("sharded");
  save_safetensors((d / "part-1.safetensors").string(), {{"x", Tensor::arange(3).to(DType::f32)}});
  save_safetensors((d / "part-2.safetensors").string(), {{"y", Tensor::ones({2, 2})}});
  std::ofstream(d / "model.safetensors.index.json")
      << R"({"metadata": {}, "weight_map": {"x": "part-1.safetensors", "y": "part-2.safetensors"}})";
  TensorMap m = load_safetensors_any(d.string());
  EXPECT_EQ(m.at("x").to_vector<float>(), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(m.at("y").shape(), (Shape{2, 2}));
}

TEST(Safetensors, DamagedFilesGiveClearErrors) {
  const fs::path d = temp_dir("damaged");
  const std::string path = (d / "m.safetensors").string();
  save_safetensors(path, {{"w", Tensor::ones({64, 64})}});
  fs::resize_file(path, fs::file_size(path) / 2);
  try {
    load_safetensors(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  }
  std::ofstream(d / "junk.safetensors") << "not a safetensors file at all";
  EXPECT_THROW(load_safetensors((d / "junk.safetensors").string()), Error);
  EXPECT_THROW(load_safetensors_any((d / "missing").string()), Error);
}

namespace {
// A file with `header` as its JSON header and `data_bytes` zero bytes of data.
std::string write_raw(const fs::path& dir, const std::string& name, const std::string& header,
                      size_t data_bytes) {
  const std::string path = (dir / name).string();
  std::ofstream out(path, std::ios::binary);
  const uint64_t len = header.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out << header << std::string(data_bytes, '\0');
  return path;
}

// The error of loading `path`; fails the test when it loads.
std::string load_error(const std::string& path) {
  return test::error_message([&] { load_safetensors(path); });
}
}  // namespace

TEST(Safetensors, HeaderOfTheWrongShapeIsRefusedNamingFileAndTensor) {
  const fs::path d = temp_dir("header");
  struct Case {
    const char* name;
    std::string header;
    size_t data;
    const char* expect;  // part of the message besides the file
  };
  const Case cases[] = {
      {"null", "null", 0, "not a JSON object"},
      {"array", "[1, 2]", 0, "not a JSON object"},
      {"entry_not_object", R"({"w": 5})", 0, "'w'"},
      {"dtype_number", R"({"w": {"dtype": 1, "shape": [1], "data_offsets": [0, 4]}})", 4, "'w'"},
      {"shape_string", R"({"w": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}})", 8,
       "'w'"},
      {"shape_fraction", R"({"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 8]}})", 8,
       "not a non-negative integer"},
      {"shape_negative", R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8,
       "not a non-negative integer"},
      {"offsets_fraction", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}})", 8,
       "not a non-negative integer"},
      {"offsets_three", R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4, 8]}})", 8,
       "not [begin, end]"},
      {"offsets_backwards", R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}})", 8,
       "end before they begin"},
      {"size_mismatch", R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8,
       "needs 12"},
      // 2^32 x 2^32 elements of 4 bytes: the byte count overflows 64 bits.
      {"shape_overflow",
       R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}})", 8,
       "64 bits"},
      {"overlap",
       R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
       12, "overlap"},
      {"same_bytes_twice",
       R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
           "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
       8, "overlap"},
      {"gap",
       R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
           "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})",
       12, "belong to no tensor"},
      {"past_the_end", R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8,
       "'w'"},
      {"unknown_dtype", R"({"w": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}})", 1, "F8"},
  };
  for (const Case& c : cases) {
    const std::string path = write_raw(d, std::string(c.name) + ".safetensors", c.header, c.data);
    const std::string msg = load_error(path);
    EXPECT_TRUE(test::contains(msg, path)) << c.name << ": " << msg;
    EXPECT_TRUE(test::contains(msg, c.expect)) << c.name << ": " << msg;
  }
  // A header length of 200 MiB in a file that really is that long: refused before reading it.
  const std::string long_header = (d / "long_header.safetensors").string();
  {
    std::ofstream out(long_header, std::ios::binary);
    const uint64_t len = uint64_t(200) << 20;
    out.write(reinterpret_cast<const char*>(&len), 8);
  }
  fs::resize_file(long_header, 8 + (uint64_t(200) << 20));  // sparse: no disk used
  std::string msg = load_error(long_header);
  EXPECT_TRUE(test::contains(msg, long_header)) << msg;
  EXPECT_TRUE(test::contains(msg, "header claims 209715200 bytes")) << msg;
  // Shorter than the 8-byte length field.
  const std::string tiny = (d / "tiny.safetensors").string();
  std::ofstream(tiny, std::ios::binary) << "abc";
  EXPECT_TRUE(test::contains(load_error(tiny), tiny));
}

TEST(Safetensors, ValidLayoutsInAnyHeaderOrderLoad) {
  const fs::path d = temp_dir("order");
  // Entries listed against their byte order, plus __metadata__ and a zero-size tensor.
  const std::string path = write_raw(d, "ok.safetensors",
                                     R"({"__metadata__": {"format": "pt"},
          "z": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
          "a": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]},
          "e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [12, 12]}})",
                                     12);
  const TensorMap m = load_safetensors(path);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.at("z").shape(), (Shape{2}));
  EXPECT_EQ(m.at("e").numel(), 0);
}

TEST(Safetensors, IndexWithNonStringFileIsRefused) {
  const fs::path d = temp_dir("index_types");
  std::ofstream(d / "model.safetensors.index.json") << R"({"weight_map": {"w": 3}})";
  std::string msg = test::error_message([&] { load_safetensors_any(d.string()); });
  EXPECT_TRUE(test::contains(msg, "model.safetensors.index.json")) << msg;
  EXPECT_TRUE(test::contains(msg, "'w'")) << msg;
  // Shards live beside the index: a path that leaves the folder is refused.
  std::ofstream(d / "model.safetensors.index.json", std::ios::trunc)
      << R"({"weight_map": {"w": "../other/model.safetensors"}})";
  msg = test::error_message([&] { load_safetensors_any(d.string()); });
  EXPECT_TRUE(test::contains(msg, "not a file name in this folder")) << msg;
}
