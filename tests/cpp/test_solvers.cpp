#include <gtest/gtest.h>

#include "concise/core/error.hpp"
#include "concise/solvers/decomposer.hpp"
#include "concise/solvers/duality_gap.hpp"
#include "concise/solvers/rules.hpp"
#include "problems.hpp"

namespace concise {
namespace {

using testing::objective_of;
using testing::random_problem;
using testing::reference_objective;

class CpuSolvers : public ::testing::TestWithParam<SolverKind> {};

TEST_P(CpuSolvers, MatchFloat64ReferenceObjective) {
  for (unsigned seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto p = random_problem(300, 64, 12, seed);
    SolveOptions options;
    options.solver = GetParam();
    options.l1 = 0.2;
    options.tol = 1e-5;  // float32 gradients certify relative gaps down to about 1e-5
    options.max_iterations = 20000;
    auto solver = make_cpu_decomposer(p.dict.atoms.view(), options);
    SolveResult result;
    solver->solve(p.z.view(), result);
    ASSERT_EQ(result.codes.rows(), p.z.rows());
    for (std::int64_t r = 0; r < p.z.rows(); ++r) {
      const double reference = reference_objective(p.dict, p.z.row(r), options.l1);
      const double mine = objective_of(p.dict, p.z.row(r), result.codes, r, options.l1);
      EXPECT_NEAR(mine, reference, 1e-5 * reference) << "row " << r;
      EXPECT_LE(result.gap[static_cast<std::size_t>(r)], options.tol * mine) << "row " << r;
    }
  }
}

TEST_P(CpuSolvers, GapNeverUnderestimatesTrueGap) {
  const auto p = random_problem(200, 48, 10, 11);
  for (int iterations : {1, 3, 10, 5000}) {
    SCOPED_TRACE("max iterations " + std::to_string(iterations));
    SolveOptions options;
    options.solver = GetParam();
    options.l1 = 0.15;
    options.max_iterations = iterations;
    options.max_rounds = std::min(iterations, 40);
    options.check_every = 1;
    auto solver = make_cpu_decomposer(p.dict.atoms.view(), options);
    SolveResult result;
    solver->solve(p.z.view(), result);
    for (std::int64_t r = 0; r < p.z.rows(); ++r) {
      const double optimum = reference_objective(p.dict, p.z.row(r), options.l1);
      const double mine = objective_of(p.dict, p.z.row(r), result.codes, r, options.l1);
      EXPECT_GE(result.gap[static_cast<std::size_t>(r)] * (1 + 1e-4) + 1e-7, mine - optimum) << "row " << r;
      EXPECT_NEAR(result.objective[static_cast<std::size_t>(r)], mine, 1e-5 * mine) << "row " << r;
    }
  }
}

TEST_P(CpuSolvers, RowsStoppedOnTheIterationLimitAreMarked) {
  const auto p = random_problem(200, 48, 10, 11);
  for (const bool short_limit : {true, false}) {
    SCOPED_TRACE(short_limit ? "one iteration or round" : "enough iterations");
    SolveOptions options;
    options.solver = GetParam();
    options.l1 = 0.15;
    options.tol = 1e-4;
    options.max_iterations = short_limit ? 1 : 20000;
    options.max_rounds = short_limit ? 1 : 40;
    SolveResult result;
    make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), result);
    ASSERT_EQ(result.at_limit.size(), static_cast<std::size_t>(p.z.rows()));
    const std::int64_t marked = testing::count_marked_at_limit(result, options.tol);
    if (short_limit) EXPECT_GT(marked, 0) << "one iteration should leave rows short of the tolerance";
    else EXPECT_EQ(marked, 0);
  }
}

TEST_P(CpuSolvers, LargePenaltyGivesZeroCodesWithZeroGap) {
  const auto p = random_problem(100, 32, 5, 5);
  SolveOptions options;
  options.solver = GetParam();
  options.l1 = 10.0;  // lambda/2 above every correlation
  auto solver = make_cpu_decomposer(p.dict.atoms.view(), options);
  SolveResult result;
  solver->solve(p.z.view(), result);
  EXPECT_EQ(result.codes.nnz(), 0);
  for (float g : result.gap) EXPECT_NEAR(g, 0.0f, 1e-6f);
  for (float f : result.objective) EXPECT_NEAR(f, 1.0f, 1e-5f);
}

TEST_P(CpuSolvers, CodesAreNonnegativeAndSorted) {
  const auto p = random_problem(150, 32, 8, 9);
  SolveOptions options;
  options.solver = GetParam();
  auto solver = make_cpu_decomposer(p.dict.atoms.view(), options);
  SolveResult result;
  solver->solve(p.z.view(), result);
  for (std::int64_t r = 0; r < result.codes.rows(); ++r)
    for (auto q = result.codes.indptr[static_cast<std::size_t>(r)]; q < result.codes.indptr[static_cast<std::size_t>(r) + 1]; ++q) {
      EXPECT_GT(result.codes.data[static_cast<std::size_t>(q)], 0.0f);
      if (q > result.codes.indptr[static_cast<std::size_t>(r)]) {
        EXPECT_LT(result.codes.indices[static_cast<std::size_t>(q) - 1], result.codes.indices[static_cast<std::size_t>(q)]);
      }
    }
}

INSTANTIATE_TEST_SUITE_P(AllSolvers, CpuSolvers,
                         ::testing::Values(SolverKind::Fista, SolverKind::Admm, SolverKind::WorkingSet),
                         [](const auto& param_info) { return to_string(param_info.param); });

TEST(DualityGap, MatchesDefinitionOnKnownNumbers) {
  // rr = 0.5, rz = 0.6, sum_w = 0.4, max_g = 0.25, l1 = 0.2: s = 0.1 / 0.25 = 0.4
  const Certificate c = certify(GapTerms{0.5, 0.6, 0.4, 0.25}, 0.2);
  EXPECT_NEAR(c.dual_scale, 0.4, 1e-15);
  EXPECT_NEAR(c.objective, 0.5 + 0.08, 1e-15);
  EXPECT_NEAR(c.gap, 1.16 * 0.5 + 0.08 - 0.8 * 0.6, 1e-15);
  EXPECT_EQ(certify(GapTerms{0.5, 0.6, 0.4, -1.0}, 0.2).dual_scale, 1.0);
}

TEST(Options, RejectBadValues) {
  SolveOptions options;
  options.l1 = -0.1;
  EXPECT_THROW(options.validate(), InputError);
  options.l1 = 0.25;
  options.tol = -1e-4;
  EXPECT_THROW(options.validate(), InputError);
  EXPECT_THROW(parse_solver("lbfgs"), InputError);
  EXPECT_EQ(parse_solver("ws"), SolverKind::WorkingSet);
}

TEST(SpectralNorm, UpperBoundsTheTopSingularValue) {
  const auto p = random_problem(120, 24, 1, 4);
  const double estimate = spectral_norm_squared(p.dict.atoms.view());
  // Rayleigh quotients of C^T C never exceed ||C||^2.
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> v(24);
    double vv = 0;
    for (auto& x : v) {
      x = normal(rng);
      vv += x * x;
    }
    double quotient = 0;
    for (std::int64_t k = 0; k < 120; ++k) {
      double s = 0;
      for (std::int64_t i = 0; i < 24; ++i) s += p.dict.atoms.row(k)[i] * v[static_cast<std::size_t>(i)];
      quotient += s * s;
    }
    EXPECT_LE(quotient / vv, estimate);
  }
}

}  // namespace
}  // namespace concise
