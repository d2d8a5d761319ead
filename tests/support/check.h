#pragma once
// Test helpers: tolerance comparison, f64 finite-difference gradient checks, golden fixtures.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "xomni/core/ops/ops.h"
#include "xomni/core/tensor/autograd.h"
#include "xomni/core/tensor/random.h"
#include "xomni/core/tensor/tensor.h"

namespace xomni::test {

// Largest |actual - expected| divided by the scale of `expected` (its largest magnitude, at
// least 1e-12 so all-zero tensors compare absolutely).
double scaled_max_error(const Tensor& actual, const Tensor& expected);

// gtest assertion: shapes equal and scaled_max_error <= tol. With $XOMNI_REPORT_ERRORS set it also
// prints the measured error.
void expect_close(const Tensor& actual, const Tensor& expected, double tol,
                  const std::string& what);

// Checks the gradients of every input that requires grad against central differences of
// L = sum(fn(inputs) * W) with a fixed random W. Inputs must be f64.
// Returns the largest error relative to the gradient's scale.
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
double gradcheck(const Fn& fn, std::vector<Tensor> inputs, double eps = 1e-6);

// Random f64/f32 tensor with entries in [-1, 1) (or [lo, hi)).
Tensor uniform(const Shape& shape, uint64_t seed, DType dtype = DType::f64, double lo = -1.0,
               double hi = 1.0);
// A gradcheck input: uniform(shape, seed, f64, lo, hi) marked requires_grad.
Tensor uniform_leaf(const Shape& shape, uint64_t seed, double lo = -1.0, double hi = 1.0);
// x with its last two dims swapped (transpose(x, -2, -1)): how the tests hand an op a
// non-contiguous view of a stored operand (the golden "_T" cases).
Tensor swap_last2(const Tensor& x);

// Same element count and the same bytes (bitwise equality, NaN payloads included).
bool same_bits(const Tensor& a, const Tensor& b);

// The message of the Error that fn throws, or "no error" when it returns.
std::string error_message(const std::function<void()>& fn);
// Whether `part` occurs in `text` (for checking messages).
bool contains(const std::string& text, const std::string& part);

// The training losses of a run's metrics.jsonl, one per step line, as printed (9 digits).
std::vector<std::string> logged_losses(const std::string& run_dir);

// Golden fixtures written by tests/fixtures/golden/make_fixtures.py: name -> tensor.
using Fixture = std::map<std::string, Tensor>;
Fixture load_fixture(const std::string& name);  // reads $XOMNI_FIXTURES/<name>.xtf
// fx[key], or an Error naming the missing key.
const Tensor& fixture_get(const Fixture& fx, const std::string& key);

// One golden case (see tests/fixtures/golden/README.md): fn runs the xomni op on the fixture
// tensors
// "<name>.<input>" and its result is compared with "<name>.out"; when the fixture holds
// "<name>.gout" the result is backpropagated with it and every floating input's gradient is
// compared with "<name>.g<input>".
struct GoldenCase {
  std::string name;
  std::vector<std::string> inputs;
  Fn fn;
  double tol = 1e-5;       // f32 bound on scaled_max_error of the output
  double grad_tol = 1e-5;  // f32 bound for the input gradients
};
// The f64 run's bound: the references are f64 results rounded once to f32 (2^-24 relative).
constexpr double kGoldenF64Tol = 1e-6;
// Runs `c` with the floating inputs converted to `dtype` (f32: c.tol / c.grad_tol; f64:
// kGoldenF64Tol). Integer outputs are compared exactly. With strided_upstream the upstream
// gradient is handed to backward as a non-contiguous view (every other element of a buffer).
void check_golden(const Fixture& fx, const GoldenCase& c, DType dtype,
                  bool strided_upstream = false);
// The same values as `t` in a non-contiguous view (stride 2 in the last dim); t itself if 0-d.
Tensor strided_copy(const Tensor& t);
// Every case prefix in `fx` (the key up to its first '.') has an entry in `cases`, and back.
void expect_cases_match_fixture(const Fixture& fx, const std::vector<GoldenCase>& cases);

// A test fixture with a fresh temporary directory `dir_`, removed after the test.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::string sub(const std::string& name) const { return dir_ + "/" + name; }  // a path inside
  std::string dir_;
};

// Documents of a tiny learnable language over `vocab` ids: counting sequences with a random
// start, stride 1-3 and length 5-44 (the next token follows from the previous two).
std::vector<std::vector<int32_t>> counting_documents(size_t count, int32_t vocab, uint64_t seed);

}  // namespace xomni::test

// The tests every golden suite runs, for the cases that `cases()` returns (a function visible
// where the macro is used, at namespace scope). Defines fixture(), which loads
// <fixture_name>.xtf once, and Suite.EveryFixtureCaseIsTested, Suite.F32, Suite.F64 and
// Suite.F32StridedUpstream (backward must not assume a contiguous upstream gradient). Use it as
// `XOMNI_GOLDEN_TESTS(GoldenIndex, "index");` after cases(); extra tests may use fixture().
#define XOMNI_GOLDEN_TESTS(Suite, fixture_name)                                         \
  namespace {                                                                           \
  const ::xomni::test::Fixture& fixture() {                                             \
    static const ::xomni::test::Fixture fx = ::xomni::test::load_fixture(fixture_name); \
    return fx;                                                                          \
  }                                                                                     \
  }                                                                                     \
  TEST(Suite, EveryFixtureCaseIsTested) {                                               \
    ::xomni::test::expect_cases_match_fixture(fixture(), cases());                      \
  }                                                                                     \
  TEST(Suite, F32) {                                                                    \
    for (const ::xomni::test::GoldenCase& c : cases())                                  \
      ::xomni::test::check_golden(fixture(), c, ::xomni::DType::f32);                   \
  }                                                                                     \
  TEST(Suite, F64) {                                                                    \
    for (const ::xomni::test::GoldenCase& c : cases())                                  \
      ::xomni::test::check_golden(fixture(), c, ::xomni::DType::f64);                   \
  }                                                                                     \
  TEST(Suite, F32StridedUpstream) {                                                     \
    for (const ::xomni::test::GoldenCase& c : cases())                                  \
      ::xomni::test::check_golden(fixture(), c, ::xomni::DType::f32, true);             \
  }                                                                                     \
  static_assert(true, "ends with a declaration so that the use takes a semicolon")
