#pragma once
// The one interface every backend implements: preprocessed rows in, sparse
// nonnegative codes with a certified duality gap per row out.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "concise/core/matrix.hpp"
#include "concise/core/sparse.hpp"
#include "concise/solvers/options.hpp"

namespace concise {

struct SolveResult {
  SparseRows codes;                    // one row per input row, weights > 0
  std::vector<float> gap;              // certified duality gap
  std::vector<float> objective;        // F(w)
  std::vector<std::int32_t> iterations;
  std::vector<float> l1;               // lambda of each row (the options' l1, or the l0 grid's); may be empty
  std::vector<std::uint8_t> at_limit;  // 1: the row stopped on a round/grid limit; may be empty
};

class Decomposer {
 public:
  virtual ~Decomposer() = default;
  // "cpu/ws", "cuda:0/fista", ...
  virtual std::string name() const = 0;
  const SolveOptions& options() const { return options_; }
  // Solves every row of z (n x d, preprocessed, host memory).
  virtual void solve(MatrixView<const float> z, SolveResult& result) = 0;

 protected:
  explicit Decomposer(SolveOptions options) : options_(options) { options_.validate(); }
  SolveOptions options_;
};

// The CPU backend. atoms (c x d) must outlive the decomposer.
std::unique_ptr<Decomposer> make_cpu_decomposer(MatrixView<const float> atoms, const SolveOptions& options);

// ||C||_2^2 by power iteration on C^T C (an upper bound with a small margin).
double spectral_norm_squared(MatrixView<const float> atoms);

}  // namespace concise
