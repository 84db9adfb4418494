// The GPU dictionary update against the CPU reference (skips without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "concise/cuda/cuda_backend.hpp"
#include "concise/learn/atom_updater.hpp"
#include "concise/learn/learner.hpp"
#include "concise/learn/train.hpp"
#include "concise/learn/matrix_source.hpp"
#include "planted.hpp"

namespace concise::learn {
namespace {

TEST(Learn, GpuDictionaryUpdateMatchesTheCpu) {
  if (cuda::device_count() == 0) {
    if (std::getenv("CONCISE_REQUIRE_GPU") != nullptr) FAIL() << "CONCISE_REQUIRE_GPU is set but no GPU is usable";
    GTEST_SKIP() << "no GPU: the CUDA dictionary update is not compared here";
  }
  const std::int64_t fixed = 40, k = 70, d = 64, n = 300;
  const Planted p = planted(fixed + k, d, n, 0.05f, 6);
  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  SparseRows codes;
  codes.clear(fixed + k);
  std::vector<float> dense(static_cast<std::size_t>(fixed + k));
  for (std::int64_t r = 0; r < n; ++r) {
    for (auto& w : dense) w = u(rng) < 0.08f ? u(rng) : 0.0f;
    codes.append_dense_row(dense.data(), fixed + k);
  }
  Matrix<float> cpu_atoms = p.atoms, gpu_atoms = p.atoms;
  auto cpu = make_cpu_atom_updater(fixed, k, d);
  auto gpu = cuda::make_dictionary_updater(fixed, k, d, 0);
  for (int step = 0; step < 3; ++step) {
    cpu->accumulate(codes, p.rows.view(), 0.5f);
    gpu->accumulate(codes, p.rows.view(), 0.5f);
    cpu->update(cpu_atoms.view(), 2);
    gpu->update(gpu_atoms.view(), 2);
  }
  Matrix<float> ca, cb, ga, gb;
  cpu->read_statistics(ca, cb);
  gpu->read_statistics(ga, gb);
  for (std::size_t i = 0; i < ca.values().size(); ++i) ASSERT_NEAR(ca.values()[i], ga.values()[i], 1e-3f * (1 + std::abs(ca.values()[i])));
  for (std::size_t i = 0; i < cb.values().size(); ++i) ASSERT_NEAR(cb.values()[i], gb.values()[i], 1e-3f * (1 + std::abs(cb.values()[i])));
  EXPECT_EQ(std::memcmp(cpu_atoms.data(), gpu_atoms.data(), fixed * d * sizeof(float)), 0) << "fixed atoms untouched";
  for (std::int64_t j = fixed; j < fixed + k; ++j)
    EXPECT_GT(dot(cpu_atoms.row(j), gpu_atoms.row(j), d), 0.999) << "learned atom " << j - fixed;
}

TEST(Learn, GpuLearningRecoversPlantedAtoms) {
  if (cuda::device_count() == 0) {
    if (std::getenv("CONCISE_REQUIRE_GPU") != nullptr) FAIL() << "CONCISE_REQUIRE_GPU is set but no GPU is usable";
    GTEST_SKIP() << "no GPU: learning on the GPU is not checked here";
  }
  const Planted p = planted(24, 48, 2400, 0.01f, 1);
  LearnOptions options;
  options.atoms = 24;
  options.solve.l1 = 0.2;
  options.epochs = 10;
  options.batch = 256;
  options.seed = 7;
  options.device = "cuda";
  DictionaryLearner learner(options, Matrix<float>(), 48);
  MatrixSource source(p.rows.view());
  const RowReader reader{source, {}, true};
  initialize_from_rows(learner, reader);
  std::vector<double> objective;
  run_epochs(learner, reader, 0, options.epochs, false, [&](const EpochReport& r) { objective.push_back(r.objective); });
  EXPECT_LT(objective.back(), objective.front());
  int recovered = 0;
  for (std::int64_t j = 0; j < 24; ++j) {
    double best = -1;
    for (std::int64_t k = 0; k < 24; ++k) best = std::max(best, dot(learner.atoms().row(k), p.atoms.row(j), 48));
    recovered += best > 0.99;
  }
  EXPECT_GE(recovered, 23);
}

}  // namespace
}  // namespace concise::learn
