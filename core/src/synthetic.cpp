#include "concise/core/synthetic.hpp"

#include <cmath>
#include <random>

#include "concise/core/preprocess.hpp"

namespace concise {

SyntheticProblem make_synthetic_problem(const SyntheticSpec& spec) {
  const std::int64_t c = spec.concepts, d = spec.dim;
  std::mt19937 rng(spec.seed);
  std::normal_distribution<float> normal;
  std::vector<float> common(static_cast<std::size_t>(d));
  for (auto& v : common) v = normal(rng);
  Matrix<float> basis(spec.rank, d);
  for (auto& v : basis.values()) v = normal(rng);
  Matrix<float> text(c, d);
  std::vector<float> mix(static_cast<std::size_t>(spec.rank));
  std::vector<std::string> names;
  names.reserve(static_cast<std::size_t>(c));
  for (std::int64_t k = 0; k < c; ++k) {
    for (auto& m : mix) m = normal(rng);
    float* t = text.row(k);
    for (std::int64_t i = 0; i < d; ++i) t[i] = spec.shared * common[static_cast<std::size_t>(i)] + spec.atom_noise * normal(rng);
    for (std::int64_t j = 0; j < spec.rank; ++j) {
      const float* b = basis.row(j);
      const float m = spec.low_rank * mix[static_cast<std::size_t>(j)];
      for (std::int64_t i = 0; i < d; ++i) t[i] += m * b[i];
    }
    names.push_back("concept_" + std::to_string(k));
  }
  SyntheticProblem p{Dictionary::build(std::move(text), std::move(names), {}, "synthetic", "synthetic"),
                     Matrix<float>(spec.rows, d), {}};
  std::uniform_int_distribution<std::int64_t> pick(0, c - 1);
  std::uniform_real_distribution<float> weight(0.2f, 1.0f);
  const float noise_scale = spec.row_noise / std::sqrt(static_cast<float>(d));
  for (std::int64_t r = 0; r < spec.rows; ++r) {
    float* z = p.rows.row(r);
    std::vector<std::int64_t> made_of;
    for (int j = 0; j < spec.atoms_per_row; ++j) {
      const std::int64_t k = pick(rng);
      made_of.push_back(k);
      const float* a = p.dict.atoms.row(k);
      const float w = weight(rng);
      for (std::int64_t i = 0; i < d; ++i) z[i] += w * a[i];
    }
    for (std::int64_t i = 0; i < d; ++i) z[i] += noise_scale * normal(rng);
    normalize(z, d);
    p.mixed.push_back(std::move(made_of));
  }
  return p;
}

}  // namespace concise
