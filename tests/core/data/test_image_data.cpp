// Image shards and the image loader: bitwise round trips, h5py reading the files independently,
// manifest-last atomicity, errors naming damaged or missing files, and the loader's determinism,
// data-parallel split, exact resume and mixing proportions.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "check.h"
#include "xomni/core/data/image_data.h"
#include "xomni/core/data/image_loader.h"

using namespace xomni;
namespace fs = std::filesystem;
using xomni::test::error_message;

namespace {

class ImageData : public xomni::test::TempDirTest {};

// Sample i of the h5py-checked dataset (see tests/support/h5py_image_check.py).
ImageSample sample(int64_t i) {
  ImageSample s;
  s.image = Image(3 + i, 2 + i % 3);
  for (int64_t y = 0; y < s.image.height; ++y)
    for (int64_t x = 0; x < s.image.width; ++x) {
      s.image.at(x, y)[0] = uint8_t((7 * i + x) % 256);
      s.image.at(x, y)[1] = uint8_t((11 * i + y) % 256);
      s.image.at(x, y)[2] = uint8_t((x * y) % 256);
    }
  s.kind = "k" + std::to_string(i);
  s.metadata_json = "{\"id\":" + std::to_string(i) + "}";
  s.captions = {"c" + std::to_string(i), "long \xc3\xbc " + std::to_string(i)};
  s.qa = {{"q" + std::to_string(i), "a" + std::to_string(i)}};
  return s;
}

bool same(const ImageSample& a, const ImageSample& b) {
  return a.image == b.image && a.kind == b.kind && a.metadata_json == b.metadata_json &&
         a.captions == b.captions && a.qa == b.qa;
}

// A dataset of n tiny samples whose metadata is {"id": i} and kind `tag`.
ImageDataset make_dataset(const std::string& dir, int64_t n, const std::string& tag,
                          int64_t per_shard = 4) {
  ImageShardWriter w(dir, per_shard);
  for (int64_t i = 0; i < n; ++i) {
    ImageSample s;
    s.image = Image(2, 1, uint8_t(i), uint8_t(i >> 8), 7);
    s.kind = tag;
    s.metadata_json = "{\"id\":" + std::to_string(i) + "}";
    w.add(s);
  }
  w.finish();
  return ImageDataset::open(dir);
}

// "tag:id" of each sample, to compare streams.
std::vector<std::string> ids(const std::vector<ImageSample>& batch) {
  std::vector<std::string> out;
  for (const ImageSample& s : batch)
    out.push_back(s.kind + ":" +
                  std::to_string(nlohmann::json::parse(s.metadata_json)["id"].get<int64_t>()));
  return out;
}

std::vector<std::string> take(ImageLoader& l, int batches) {
  std::vector<std::string> out;
  for (int b = 0; b < batches; ++b) {
    const std::vector<std::string> v = ids(l.next());
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int run_command(const std::string& cmd, std::string* out) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[512];
  out->clear();
  while (size_t n = fread(buf, 1, sizeof buf, p)) out->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_F(ImageData, RoundTripIsBitwise) {
  ImageShardWriter w(sub("ds"), 3);
  std::vector<ImageSample> want;
  for (int64_t i = 0; i < 7; ++i) want.push_back(sample(i));
  want[4].captions.clear();
  want[4].qa.clear();
  want[5].metadata_json = "{\"objects\":[{\"shape\":\"circle\",\"color\":\"red\"}],\"text\":\"\"}";
  want[5].qa.push_back({"what \"quoted\"?", "line\nbreak"});
  for (const ImageSample& s : want) w.add(s);
  EXPECT_EQ(w.finish(), 7);
  const nlohmann::json m = nlohmann::json::parse(read_text(sub("ds/manifest.json")));
  EXPECT_EQ(m["format"], "xomni-image-shards");
  EXPECT_EQ(m["num_samples"], 7);
  ASSERT_EQ(m["shards"].size(), 3u);  // 3 + 3 + 1
  EXPECT_EQ(m["shards"][2]["num_samples"], 1);
  const ImageDataset d = ImageDataset::open(sub("ds"));
  ASSERT_EQ(d.size(), 7);
  EXPECT_EQ(d.dir(), sub("ds"));
  for (int64_t i = 6; i >= 0; --i) EXPECT_TRUE(same(d.get(i), want[size_t(i)])) << "sample " << i;
  EXPECT_NE(error_message([&] { d.get(7); }).find("outside [0, 7)"), std::string::npos);
  // Copies share the dataset.
  const ImageDataset copy = d;
  EXPECT_TRUE(same(copy.get(2), want[2]));
}

TEST_F(ImageData, H5pyReadsPixelsAndStrings) {
  std::string out;
  if (run_command("/usr/bin/python3 -c 'import h5py, numpy'", &out) != 0)
    GTEST_SKIP() << "h5py/numpy are not importable by /usr/bin/python3 (" << out
                 << "); install python3-h5py python3-numpy (scripts/install_deps.sh)";
  ImageShardWriter w(sub("ds"), 4);
  for (int64_t i = 0; i < 9; ++i) w.add(sample(i));
  w.finish();
  // __FILE__ may be relative to the build folder of the tests (ccache's base_dir), which is
  // where this executable lies.
  fs::path src = fs::path(__FILE__).parent_path().parent_path().parent_path();  // tests/
  if (src.is_relative()) src = fs::read_symlink("/proc/self/exe").parent_path() / src;
  const std::string script = (src / "support/h5py_image_check.py").string();
  const int rc = run_command("/usr/bin/python3 " + script + " " + sub("ds"), &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("h5py image check OK (9 samples)"), std::string::npos) << out;
}

TEST_F(ImageData, ManifestIsWrittenLast) {
  {
    ImageShardWriter w(sub("ds"), 2);
    for (int64_t i = 0; i < 5; ++i) w.add(sample(i));
    // Two shards are on disk, but without finish() the folder is no dataset.
    EXPECT_TRUE(fs::exists(sub("ds/shard-00001.h5")));
    EXPECT_FALSE(fs::exists(sub("ds/manifest.json")));
  }
  EXPECT_FALSE(fs::exists(sub("ds/manifest.json")));
  std::string m = error_message([&] { ImageDataset::open(sub("ds")); });
  EXPECT_NE(m.find(sub("ds/manifest.json") + " is missing"), std::string::npos) << m;

  // A complete dataset, then a rewrite: starting the writer removes the old manifest at once,
  // and a smaller new dataset removes the old shards beyond its own.
  {
    ImageShardWriter w(sub("ds"), 2);
    for (int64_t i = 0; i < 5; ++i) w.add(sample(i));
    w.finish();
  }
  EXPECT_EQ(ImageDataset::open(sub("ds")).size(), 5);
  ImageShardWriter w(sub("ds"), 2);
  EXPECT_FALSE(fs::exists(sub("ds/manifest.json")));
  w.add(sample(10));
  EXPECT_EQ(w.finish(), 1);
  EXPECT_FALSE(fs::exists(sub("ds/shard-00001.h5")));
  EXPECT_FALSE(fs::exists(sub("ds/shard-00002.h5")));
  for (const auto& e : fs::directory_iterator(sub("ds")))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
  const ImageDataset d = ImageDataset::open(sub("ds"));
  ASSERT_EQ(d.size(), 1);
  EXPECT_TRUE(same(d.get(0), sample(10)));
  EXPECT_NE(error_message([&] { w.add(sample(1)); }).find("after finish()"), std::string::npos);
}

TEST_F(ImageData, EmptyDatasetAndBadSamples) {
  ImageShardWriter w(sub("empty"), 2);
  EXPECT_EQ(w.finish(), 0);
  EXPECT_EQ(ImageDataset::open(sub("empty")).size(), 0);
  ImageShardWriter bad(sub("bad"), 2);
  ImageSample s = sample(0);
  s.image.rgb.pop_back();
  EXPECT_NE(error_message([&] { bad.add(s); }).find("invalid image"), std::string::npos);
  s = sample(0);
  s.metadata_json = "{not json";
  EXPECT_NE(error_message([&] { bad.add(s); }).find("metadata is not valid JSON"),
            std::string::npos);
}

TEST_F(ImageData, MissingOrDamagedShardsAreErrorsNamingTheFile) {
  auto write = [&] {
    ImageShardWriter w(sub("ds"), 3);
    for (int64_t i = 0; i < 6; ++i) w.add(sample(i));
    w.finish();
  };
  write();
  const std::string shard = sub("ds/shard-00001.h5");
  fs::remove(shard);
  std::string m = error_message([&] { ImageDataset::open(sub("ds")); });
  EXPECT_NE(m.find(shard), std::string::npos) << m;
  EXPECT_NE(m.find("is missing"), std::string::npos) << m;

  write();  // truncated: cut inside the pixel data or the metadata after it
  fs::resize_file(shard, fs::file_size(shard) * 2 / 3);
  m = error_message([&] { ImageDataset::open(sub("ds")); });
  EXPECT_NE(m.find(shard), std::string::npos) << m;

  write();  // not HDF5 at all
  std::ofstream(shard, std::ios::trunc) << "garbage";
  m = error_message([&] { ImageDataset::open(sub("ds")); });
  EXPECT_NE(m.find(shard), std::string::npos) << m;
  EXPECT_NE(m.find("cannot open it as an HDF5 file"), std::string::npos) << m;

  write();  // a manifest that disagrees with its shards
  nlohmann::json j = nlohmann::json::parse(read_text(sub("ds/manifest.json")));
  j["shards"][0]["num_samples"] = 4;
  std::ofstream(sub("ds/manifest.json"), std::ios::trunc) << j.dump();
  m = error_message([&] { ImageDataset::open(sub("ds")); });
  EXPECT_NE(m.find(sub("ds/shard-00000.h5")), std::string::npos) << m;
  EXPECT_NE(m.find("holds 4 offsets"), std::string::npos) << m;

  // Counts no shard could hold (one more offset than samples would overflow).
  for (const int64_t huge : {int64_t(1000000000000), std::numeric_limits<int64_t>::max()}) {
    j["shards"][0]["num_samples"] = huge;
    std::ofstream(sub("ds/manifest.json"), std::ios::trunc) << j.dump();
    m = error_message([&] { ImageDataset::open(sub("ds")); });
    EXPECT_NE(m.find(sub("ds/")), std::string::npos) << m;
    EXPECT_NE(m.find(std::to_string(huge)), std::string::npos) << m;
  }

  std::ofstream(sub("ds/manifest.json"), std::ios::trunc) << "{\"format\": \"xomni-token-shards\"}";
  m = error_message([&] { ImageDataset::open(sub("ds")); });
  EXPECT_NE(m.find("not an image dataset manifest"), std::string::npos) << m;

  // A byte changed in the metadata HDF5 parses (here the file's last byte, after the pixels) is
  // caught by the manifest's checksum before HDF5 reads the file; one changed in the pixels only
  // changes that pixel.
  write();
  j = nlohmann::json::parse(read_text(sub("ds/manifest.json")));
  const int64_t pix = j["shards"][1]["pixel_offset"], npix = j["shards"][1]["num_pixel_bytes"];
  const auto size = int64_t(fs::file_size(shard));
  ASSERT_GT(size, pix + npix);
  auto flip = [&](int64_t at) {
    std::fstream f(shard, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    const char c = char(f.get());
    f.seekp(at);
    f.put(char(c ^ 0x5A));
  };
  flip(pix + 1);
  const ImageDataset changed = ImageDataset::open(sub("ds"));
  EXPECT_NE(changed.get(3).image.rgb[1], sample(3).image.rgb[1]);
  flip(pix + 1);
  flip(size - 1);
  m = error_message([&] { ImageDataset::open(sub("ds")); });
  EXPECT_NE(m.find(shard + " is damaged: the checksum of its metadata"), std::string::npos) << m;

  // A shard that shrinks after open(): get() names the file.
  write();
  const ImageDataset d = ImageDataset::open(sub("ds"));
  fs::resize_file(shard, 100);
  m = error_message([&] { d.get(4); });
  EXPECT_NE(m.find(shard), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
}

TEST_F(ImageData, LoaderIsDeterministicAndVisitsEachSampleOncePerEpoch) {
  const ImageDataset d = make_dataset(sub("a"), 10, "a");
  ImageLoader l1({{d, 1.0}}, 5, 42), l2({{d, 1.0}}, 5, 42, 0, 1, 0), l3({{d, 1.0}}, 5, 43);
  const std::vector<std::string> s1 = take(l1, 6), s2 = take(l2, 6), s3 = take(l3, 6);
  EXPECT_EQ(s1, s2);  // prefetch thread or not
  EXPECT_NE(s1, s3);  // another seed
  for (int e = 0; e < 3; ++e) {
    std::set<std::string> epoch(s1.begin() + 10 * e, s1.begin() + 10 * (e + 1));
    EXPECT_EQ(epoch.size(), 10u) << "epoch " << e;
  }
  EXPECT_NE(std::vector<std::string>(s1.begin(), s1.begin() + 10),
            std::vector<std::string>(s1.begin() + 10, s1.begin() + 20));
  // The order matches epoch_order.
  const std::vector<int64_t> o = l1.epoch_order(0, 1);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(s1[size_t(10 + k)], "a:" + std::to_string(o[size_t(k)]));
  EXPECT_EQ(l1.samples_consumed(), 30);
}

TEST_F(ImageData, LoaderDataParallelRanksSplitTheSingleRankStream) {
  const ImageDataset a = make_dataset(sub("a"), 7, "a"), b = make_dataset(sub("b"), 5, "b");
  const int64_t B = 2, D = 3, batches = 5;
  ImageLoader single({{a, 1.0}, {b, 2.0}}, B * D, 9);
  const std::vector<std::string> global = take(single, int(batches));
  std::vector<std::vector<int64_t>> states;
  std::multiset<std::string> all;
  for (int64_t r = 0; r < D; ++r) {
    ImageLoader l({{a, 1.0}, {b, 2.0}}, B, 9, r, D);
    for (int64_t k = 0; k < batches; ++k) {
      const std::vector<std::string> got = ids(l.next());
      ASSERT_EQ(int64_t(got.size()), B);
      for (int64_t j = 0; j < B; ++j) {
        EXPECT_EQ(got[size_t(j)], global[size_t(k * B * D + r + j * D)])
            << r << " " << k << " " << j;
        all.insert(got[size_t(j)]);
      }
    }
    states.push_back(l.state());
  }
  EXPECT_EQ(all, std::multiset<std::string>(global.begin(), global.end()));  // disjoint, covering
  EXPECT_EQ(states[0], states[1]);
  EXPECT_EQ(states[0], states[2]);
  EXPECT_EQ(states[0], single.state());
}

TEST_F(ImageData, LoaderResumesExactly) {
  const ImageDataset a = make_dataset(sub("a"), 7, "a"), b = make_dataset(sub("b"), 5, "b");
  ImageLoader l({{a, 1.0}, {b, 1.0}}, 3, 5, 0, 1, 3);
  take(l, 4);  // the prefetch thread has read further ahead by now
  const std::vector<int64_t> st = l.state();
  const std::vector<std::string> want = take(l, 6);
  EXPECT_EQ(l.state()[3], 30);

  ImageLoader r({{a, 1.0}, {b, 1.0}}, 3, 5, 0, 1, 1);
  take(r, 2);
  r.restore(st);
  EXPECT_EQ(r.state(), st);
  EXPECT_EQ(take(r, 6), want);
  // Another batch size and layout resumes at the same global sample: ranks 0 and 1 of
  // batch 3 per rank interleave into the same 18 samples.
  ImageLoader r0({{a, 1.0}, {b, 1.0}}, 3, 5, 0, 2, 0), r1({{a, 1.0}, {b, 1.0}}, 3, 5, 1, 2);
  r0.restore(st);
  r1.restore(st);
  std::vector<std::string> x0 = take(r0, 3), x1 = take(r1, 3);
  for (size_t i = 0; i < 9; ++i) {
    const size_t batch = i / 3, j = i % 3;
    EXPECT_EQ(x0[i], want[batch * 6 + 2 * j]);
    EXPECT_EQ(x1[i], want[batch * 6 + 2 * j + 1]);
  }
  // Mismatched states are errors.
  ImageLoader other({{a, 1.0}, {b, 2.0}}, 3, 5);
  EXPECT_NE(error_message([&] { other.restore(st); }).find("weight"), std::string::npos);
  ImageLoader seed({{a, 1.0}, {b, 1.0}}, 3, 6);
  EXPECT_NE(error_message([&] { seed.restore(st); }).find("seed"), std::string::npos);
  EXPECT_NE(error_message([&] {
              seed.restore({1, 2});
            }).find("not an image-loader state"),
            std::string::npos);
}

TEST_F(ImageData, LoaderMixesByWeight) {
  const ImageDataset a = make_dataset(sub("a"), 5, "a"), b = make_dataset(sub("b"), 7, "b"),
                     c = make_dataset(sub("c"), 3, "c");
  ImageLoader l({{a, 1.0}, {b, 3.0}, {c, 0.0}}, 50, 123);
  std::map<std::string, int> count;
  for (const std::string& s : take(l, 80)) ++count[s.substr(0, 1)];
  // 4000 draws with p = 0.25: sd = 0.0068, so +-0.03 is > 4 sd.
  EXPECT_NEAR(count["a"] / 4000.0, 0.25, 0.03);
  EXPECT_NEAR(count["b"] / 4000.0, 0.75, 0.03);
  EXPECT_EQ(count["c"], 0);  // weight 0 never drawn
  int64_t n0 = 0;
  for (int64_t s = 0; s < 200000; ++s) n0 += l.choose(s) == 0;
  EXPECT_NEAR(double(n0) / 200000.0, 0.25, 0.005);
  EXPECT_NE(error_message([&] {
              ImageLoader({{a, -1.0}}, 1, 0);
            }).find("weight"),
            std::string::npos);
  const ImageDataset empty = make_dataset(sub("e"), 0, "e");
  EXPECT_NE(error_message([&] {
              ImageLoader({{empty, 1.0}}, 1, 0);
            }).find("is empty"),
            std::string::npos);
}

TEST_F(ImageData, LoaderRethrowsReadErrorsFromThePrefetchThread) {
  const ImageDataset a = make_dataset(sub("a"), 8, "a", 8);
  fs::resize_file(sub("a/shard-00000.h5"), 10);
  ImageLoader l({{a, 1.0}}, 2, 1);
  const std::string m = error_message([&] { l.next(); });
  EXPECT_NE(m.find(sub("a/shard-00000.h5")), std::string::npos) << m;
  EXPECT_EQ(error_message([&] { l.next(); }), m);  // stays failed
}
