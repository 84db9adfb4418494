#pragma once
// Synthetic problems shaped like CLIP data, for the demo, the tests and the
// benchmarks: raw "text embeddings" share one strong direction and a low-rank
// part (as CLIP's do), and each row is a sparse mixture of a few atoms plus noise.
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/dictionary.hpp"
#include "concise/core/matrix.hpp"

namespace concise {

struct SyntheticSpec {
  std::int64_t concepts = 10000;
  std::int64_t dim = 512;
  std::int64_t rows = 200;
  std::int64_t rank = 32;           // of the shared low-rank part
  float shared = 4.0f;              // weight of the common direction
  float low_rank = 0.5f;            // weight of the low-rank part
  float atom_noise = 1.0f;          // per-atom independent noise
  int atoms_per_row = 6;
  float row_noise = 0.6f;           // noise norm added to each row (before normalizing)
  unsigned seed = 0;
};

struct SyntheticProblem {
  Dictionary dict;
  Matrix<float> rows;                              // unit norm, ready to solve
  std::vector<std::vector<std::int64_t>> mixed;    // the atoms each row was made of
};

SyntheticProblem make_synthetic_problem(const SyntheticSpec& spec);

}  // namespace concise
