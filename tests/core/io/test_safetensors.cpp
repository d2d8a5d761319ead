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
