#pragma once
// Rows made from a known dictionary, for the dictionary-learning tests.
#include <cstdint>
#include <random>

#include "concise/core/matrix.hpp"
#include "concise/core/preprocess.hpp"

namespace concise::learn {

// Rows = sparse nonnegative mixtures (3 atoms, weights in [0.5, 1.5]) of a known unit-norm dictionary, plus noise.
struct Planted {
  Matrix<float> atoms;  // k x d
  Matrix<float> rows;   // n x d
};

inline Planted planted(std::int64_t k, std::int64_t d, std::int64_t n, float noise, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_real_distribution<float> weight(0.5f, 1.5f);
  std::uniform_int_distribution<std::int64_t> pick(0, k - 1);
  Planted p{Matrix<float>(k, d), Matrix<float>(n, d)};
  for (auto& v : p.atoms.values()) v = normal(rng);
  for (std::int64_t j = 0; j < k; ++j) normalize(p.atoms.row(j), d);
  for (std::int64_t r = 0; r < n; ++r) {
    float* z = p.rows.row(r);
    std::int64_t used[3] = {-1, -1, -1};
    for (int t = 0; t < 3; ++t) {
      std::int64_t j = pick(rng);
      while (j == used[0] || j == used[1]) j = pick(rng);
      used[t] = j;
      const float w = weight(rng);
      for (std::int64_t i = 0; i < d; ++i) z[i] += w * p.atoms.row(j)[i];
    }
    for (std::int64_t i = 0; i < d; ++i) z[i] += noise * normal(rng);
  }
  return p;
}

}  // namespace concise::learn
