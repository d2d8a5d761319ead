#include "check.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

namespace xomni::test {

double scaled_max_error(const Tensor& actual, const Tensor& expected) {
  const std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double scale = 1e-12, err = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(a[i] - e[i]);
    if (std::isnan(d)) return INFINITY;
    err = std::max(err, d);
  }
  return err / scale;
}

void expect_close(const Tensor& actual, const Tensor& expected, double tol,
                  const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what << ": result is undefined";
  ASSERT_TRUE(expected.defined()) << what << ": reference is undefined";
  ASSERT_EQ(actual.shape(), expected.shape())
      << what << ": shape " << shape_str(actual.shape()) << " vs " << shape_str(expected.shape());
  const double err = scaled_max_error(actual, expected);
  if (std::getenv("XOMNI_REPORT_ERRORS")) std::printf("  %-40s %.3g\n", what.c_str(), err);
  EXPECT_LE(err, tol) << what << ": scaled max error " << err << " > " << tol;
}

Tensor uniform(const Shape& shape, uint64_t seed, DType dtype, double lo, double hi) {
  Generator gen(seed);
  Tensor u = rand(shape, gen, DType::f64);
  Tensor scaled = add(mul(u, hi - lo), lo);
  return scaled.to(dtype).detach();
}

Tensor uniform_leaf(const Shape& shape, uint64_t seed, double lo, double hi) {
  return uniform(shape, seed, DType::f64, lo, hi).set_requires_grad(true);
}

Tensor swap_last2(const Tensor& x) {
  return transpose(x, -2, -1);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() &&
         std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}

std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return std::string(e.what());
  }
  return std::string("no error");
}

std::vector<std::string> logged_losses(const std::string& run_dir) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  std::vector<std::string> out;
  const std::regex re("\"loss\": ([^,]+),");
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_search(line, m, re)) out.push_back(m[1]);
  return out;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

double gradcheck(const Fn& fn, std::vector<Tensor> inputs, double eps) {
  for (Tensor& t : inputs) EXPECT_EQ(t.dtype(), DType::f64) << "gradcheck needs f64 inputs";
  Tensor out = fn(inputs);
  Tensor w = uniform(out.shape(), 12345);
  Tensor loss = sum(mul(out, w));
  for (Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) t.zero_grad();
  loss.backward();
  double worst = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& t = inputs[k];
    if (!t.defined() || !t.requires_grad()) continue;
    Tensor analytic = t.grad();
    EXPECT_TRUE(analytic.defined()) << "input " << k << " received no gradient";
    if (!analytic.defined()) return INFINITY;
    std::vector<double> numeric(size_t(t.numel()));
    NoGradGuard no_grad;
    Tensor flat = t.contiguous();
    EXPECT_TRUE(flat.same_storage(t)) << "gradcheck inputs must be contiguous";
    double* p = flat.data<double>();
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double orig = p[i];
      p[i] = orig + eps;
      const double up = sum(mul(fn(inputs), w)).item();
      p[i] = orig - eps;
      const double down = sum(mul(fn(inputs), w)).item();
      p[i] = orig;
      numeric[size_t(i)] = (up - down) / (2 * eps);
    }
    Tensor num = Tensor::from_vector(numeric, t.shape());
    const double err = scaled_max_error(analytic, num);
    EXPECT_LE(err, 1e-6) << "gradient of input " << k << " of shape " << shape_str(t.shape())
                         << " differs from finite differences: " << err;
    worst = std::max(worst, err);
  }
  return worst;
}

// File format (little endian): "XTF1", u32 count, then per tensor: u32 name length, name bytes,
// u8 dtype (0 f32, 1 f64, 2 bf16, 3 f16, 4 i32, 5 i64, 6 u8: the DType values), u32 ndim,
// i64 dims[ndim], raw data.
Fixture load_fixture(const std::string& name) {
  const char* dir = std::getenv("XOMNI_FIXTURES");
  const std::string path = std::string(dir ? dir : XOMNI_FIXTURE_DIR) + "/" + name + ".xtf";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("load_fixture: cannot open " + path);
  char magic[4];
  in.read(magic, 4);
  if (std::string(magic, 4) != "XTF1")
    throw Error("load_fixture: " + path + " is not an XTF1 file");
  uint32_t count = 0;
  in.read(reinterpret_cast<char*>(&count), 4);
  Fixture out;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t len = 0, ndim = 0;
    in.read(reinterpret_cast<char*>(&len), 4);
    std::string key(len, '\0');
    in.read(key.data(), len);
    uint8_t code = 0;
    in.read(reinterpret_cast<char*>(&code), 1);
    in.read(reinterpret_cast<char*>(&ndim), 4);
    Shape shape(ndim);
    in.read(reinterpret_cast<char*>(shape.data()), std::streamsize(8 * ndim));
    const DType dt = static_cast<DType>(code);
    Tensor t = Tensor::empty(shape, dt);
    in.read(static_cast<char*>(t.raw_data()), std::streamsize(size_t(t.numel()) * dtype_size(dt)));
    if (!in) throw Error("load_fixture: " + path + " is truncated at tensor '" + key + "'");
    out[key] = t;
  }
  return out;
}

const Tensor& fixture_get(const Fixture& fx, const std::string& key) {
  auto it = fx.find(key);
  if (it == fx.end()) throw Error("fixture has no tensor '" + key + "'");
  return it->second;
}

Tensor strided_copy(const Tensor& t) {
  if (t.dim() == 0) return t;
  Shape wide = t.shape();
  wide.back() *= 2;
  Tensor s = slice(Tensor::zeros(wide, t.dtype()), -1, 0, wide.back(), 2);
  s.copy_(t);
  return s;
}

void check_golden(const Fixture& fx, const GoldenCase& c, DType dtype, bool strided_upstream) {
  SCOPED_TRACE("golden case " + c.name + " in " + dtype_name(dtype) +
               (strided_upstream ? " with a strided upstream gradient" : ""));
  const double tol = dtype == DType::f64 ? kGoldenF64Tol : c.tol;
  const double grad_tol = dtype == DType::f64 ? kGoldenF64Tol : c.grad_tol;
  try {
    std::vector<Tensor> inputs;
    for (const std::string& name : c.inputs) {
      const Tensor& t = fixture_get(fx, c.name + "." + name);
      if (!is_floating(t.dtype())) {
        inputs.push_back(t);
        continue;
      }
      Tensor leaf = t.to(dtype).clone();
      leaf.set_requires_grad(true);
      inputs.push_back(leaf);
    }
    Tensor out = c.fn(inputs);
    const Tensor& ref = fixture_get(fx, c.name + ".out");
    if (!is_floating(ref.dtype())) {
      ASSERT_EQ(out.shape(), ref.shape()) << c.name << ".out";
      EXPECT_EQ(out.to_vector<int64_t>(), ref.to_vector<int64_t>()) << c.name << ".out";
      return;
    }
    EXPECT_EQ(out.dtype(), dtype) << c.name << ".out";
    expect_close(out, ref, tol, c.name + ".out");
    auto gout = fx.find(c.name + ".gout");
    if (gout == fx.end()) return;
    Tensor g = gout->second.to(dtype);
    out.backward(strided_upstream ? strided_copy(g) : g);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!is_floating(inputs[i].dtype())) continue;
      const std::string key = c.name + ".g" + c.inputs[i];
      expect_close(inputs[i].grad(), fixture_get(fx, key), grad_tol, key);
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "golden case " << c.name << " threw: " << e.what();
  }
}

void expect_cases_match_fixture(const Fixture& fx, const std::vector<GoldenCase>& cases) {
  std::set<std::string> in_fixture, listed;
  for (const auto& [key, t] : fx) in_fixture.insert(key.substr(0, key.find('.')));
  for (const GoldenCase& c : cases)
    EXPECT_TRUE(listed.insert(c.name).second) << "duplicate " << c.name;
  for (const std::string& n : in_fixture)
    EXPECT_TRUE(listed.count(n)) << "fixture case " << n << " is not tested";
  for (const std::string& n : listed)
    EXPECT_TRUE(in_fixture.count(n)) << "case " << n << " is not in the fixture";
}

void TempDirTest::SetUp() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "xomni_test_XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
}

void TempDirTest::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<std::vector<int32_t>> counting_documents(size_t count, int32_t vocab, uint64_t seed) {
  Generator gen(seed);
  const std::vector<double> u = rand({int64_t(3 * count)}, gen, DType::f64).to_vector<double>();
  std::vector<std::vector<int32_t>> docs;
  for (size_t d = 0; d < count; ++d) {
    const int32_t start = int32_t(u[3 * d] * vocab), stride = 1 + int32_t(u[3 * d + 1] * 3);
    const int32_t len = 5 + int32_t(u[3 * d + 2] * 40);
    std::vector<int32_t> doc;
    for (int32_t i = 0; i < len; ++i) doc.push_back((start + i * stride) % vocab);
    docs.push_back(doc);
  }
  return docs;
}

}  // namespace xomni::test
