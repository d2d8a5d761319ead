#pragma once
// Test helpers: tolerance comparison, f64 finite-difference gradient checks, golden fixtures.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "xomni/core/autograd.h"
#include "xomni/core/ops.h"
#include "xomni/core/random.h"
#include "xomni/core/tensor.h"

namespace xomni::test {

// Largest |actual - expected| divided by the scale of `expected` (its largest magnitude, at
// least 1e-12 so all-zero tensors compare absolutely).
double scaled_max_error(const Tensor& actual, const Tensor& expected);

// gtest assertion: shapes equal and scaled_max_error <= tol.
void expect_close(const Tensor& actual, const Tensor& expected, double tol, const std::string& what);

// Checks the gradients of every input that requires grad against central differences of
// L = sum(fn(inputs) * W) with a fixed random W. Inputs must be f64.
// Returns the largest error relative to the gradient's scale.
using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
double gradcheck(const Fn& fn, std::vector<Tensor> inputs, double eps = 1e-6);

// Random f64/f32 tensor with entries in [-1, 1) (or [lo, hi)).
Tensor uniform(const Shape& shape, uint64_t seed, DType dtype = DType::f64, double lo = -1.0,
               double hi = 1.0);

// Golden fixtures written by tests/golden/make_fixtures.py: name -> tensor.
using Fixture = std::map<std::string, Tensor>;
Fixture load_fixture(const std::string& name);  // reads $XOMNI_FIXTURES/<name>.xtf

}  // namespace xomni::test
