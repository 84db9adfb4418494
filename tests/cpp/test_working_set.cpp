// The working-set fast path where it is hardest: large supports, target sparsity,
// large dictionaries, round limits and lambda = 0.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/solvers/decomposer.hpp"
#include "concise/solvers/duality_gap.hpp"
#include "concise/solvers/rules.hpp"
#include "problems.hpp"

namespace concise {
namespace {

namespace fs = std::filesystem;
using testing::objective_of;
using testing::random_problem;

std::vector<std::string> lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::int64_t l0_of(const SolveResult& result, std::int64_t row) {
  return result.codes.indptr[static_cast<std::size_t>(row) + 1] - result.codes.indptr[static_cast<std::size_t>(row)];
}

std::vector<float> dense_row(const SolveResult& result, std::int64_t row, std::int64_t c) {
  std::vector<float> w(static_cast<std::size_t>(c), 0.0f);
  for (auto q = result.codes.indptr[static_cast<std::size_t>(row)]; q < result.codes.indptr[static_cast<std::size_t>(row) + 1];
       ++q)
    w[static_cast<std::size_t>(result.codes.indices[static_cast<std::size_t>(q)])] = result.codes.data[static_cast<std::size_t>(q)];
  return w;
}

// The LVIS dictionary (shipped) and the first CIFAR-10 rows (data that does not ship:
// $CONCISE_SHARED_DATA or beside the checkout; skipped without it), preprocessed.
class CifarRows : public ::testing::Test {
 protected:
  void SetUp() override {
    const fs::path dir = fs::path(CONCISE_DATA_DIR) / "clip-vit-b32";
    const char* shared_env = std::getenv("CONCISE_SHARED_DATA");
    const fs::path shared = fs::path(shared_env ? shared_env : CONCISE_SHARED_DATA_DIR) / "clip-vit-b32";
    if (!fs::exists(shared / "cifar10_test200_embeddings.npy"))
      GTEST_SKIP() << "CIFAR-10 embeddings (data that does not ship) not found at " << shared;
    dict_ = Dictionary::build(read_npy_matrix((dir / "lvis_concepts.npy").string()), lines(dir / "lvis_concepts.txt"),
                              read_npy_vector((dir / "image_mean.npy").string()));
    const Matrix<float> all = read_npy_matrix((shared / "cifar10_test200_embeddings.npy").string());
    z_ = Matrix<float>(kRows, all.cols());
    std::copy_n(all.data(), kRows * all.cols(), z_.data());
    center_embeddings(z_.view(), dict_.image_mean, [](std::int64_t r) { return std::to_string(r); });
  }
  static constexpr std::int64_t kRows = 12;
  Dictionary dict_;
  Matrix<float> z_;
};

TEST_F(CifarRows, SupportsOfThreeHundredAtomsAreCertifiedInFloat64) {
  SolveOptions options;
  options.solver = SolverKind::WorkingSet;
  options.l1 = 0.01;
  SolveResult result;
  make_cpu_decomposer(dict_.atoms.view(), options)->solve(z_.view(), result);
  std::int64_t large = 0;
  for (std::int64_t r = 0; r < z_.rows(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    large += l0_of(result, r) >= 300;
    const std::vector<float> w = dense_row(result, r, dict_.size());
    // An independent float64 certificate from scratch: F(w) - F* <= gap64 <= tol F(w).
    const Certificate reference = certify_row(dict_.atoms.view(), z_.row(r), w.data(), options.l1);
    EXPECT_LE(reference.gap, options.tol * reference.objective * 1.01);
    EXPECT_NEAR(result.objective[static_cast<std::size_t>(r)], reference.objective, 1e-5 * reference.objective);
    EXPECT_GE(result.gap[static_cast<std::size_t>(r)] * (1 + 1e-3) + 1e-8, reference.gap);
    EXPECT_EQ(result.at_limit[static_cast<std::size_t>(r)], 0);
  }
  EXPECT_GE(large, kRows / 2) << "lambda 0.01 should give supports of 300+ atoms on most rows";
}

TEST_F(CifarRows, GapsNeverUnderestimateTheFloat64GapWithOrWithoutKeptGramRows) {
  // Small supports take their passes from cached Gram rows (g = b - G_S w) with a
  // rounding margin of their own; every lambda exercises a different mix of paths.
  // Without kept Gram rows (how dictionary learning codes a mini-batch) every pass is
  // a GEMM and every Gram block comes from dot products.
  for (const bool keep : {true, false})
  for (const double l1 : {0.02, 0.05, 0.1, 0.25, 0.5}) {
    SCOPED_TRACE("lambda " + std::to_string(l1) + (keep ? ", Gram rows kept" : ", no Gram rows kept"));
    SolveOptions options;
    options.solver = SolverKind::WorkingSet;
    options.keep_gram_rows = keep;
    options.l1 = l1;
    SolveResult result;
    make_cpu_decomposer(dict_.atoms.view(), options)->solve(z_.view(), result);
    for (std::int64_t r = 0; r < z_.rows(); ++r) {
      SCOPED_TRACE("row " + std::to_string(r));
      const std::vector<float> w = dense_row(result, r, dict_.size());
      const Certificate reference = certify_row(dict_.atoms.view(), z_.row(r), w.data(), l1);
      EXPECT_GE(result.gap[static_cast<std::size_t>(r)] * (1 + 1e-3) + 1e-8, reference.gap);
      EXPECT_LE(reference.gap, options.tol * reference.objective * 1.01);
    }
  }
}

TEST_F(CifarRows, WholeDictionarySolvesAgreeWithTheSetRounds) {
  // With the whole Gram matrix cached, rows with large supports are solved over every
  // atom at once; without kept Gram rows they go through the set's rounds. Both are
  // certified, so their objectives agree within the tolerance, and so do their codes.
  for (const double l1 : {0.01, 0.02}) {
    SCOPED_TRACE("lambda " + std::to_string(l1));
    SolveOptions options;
    options.solver = SolverKind::WorkingSet;
    options.l1 = l1;
    SolveResult whole, rounds;
    make_cpu_decomposer(dict_.atoms.view(), options)->solve(z_.view(), whole);
    options.keep_gram_rows = false;
    make_cpu_decomposer(dict_.atoms.view(), options)->solve(z_.view(), rounds);
    for (std::int64_t r = 0; r < z_.rows(); ++r) {
      SCOPED_TRACE("row " + std::to_string(r));
      const auto i = static_cast<std::size_t>(r);
      EXPECT_NEAR(whole.objective[i], rounds.objective[i], 2 * options.tol * rounds.objective[i]);
      EXPECT_LT(whole.iterations[i], rounds.iterations[i]) << "the whole solve should need fewer passes";
      const std::vector<float> a = dense_row(whole, r, dict_.size()), b = dense_row(rounds, r, dict_.size());
      double diff = 0, norm = 0;
      for (std::size_t k = 0; k < a.size(); ++k) {
        diff += (static_cast<double>(a[k]) - b[k]) * (static_cast<double>(a[k]) - b[k]);
        norm += static_cast<double>(b[k]) * b[k];
      }
      EXPECT_LT(std::sqrt(diff), 0.05 * std::sqrt(norm)) << "the two codes differ";
    }
  }
}

TEST_F(CifarRows, ARowsCodeDoesNotDependOnTheRowsSolvedBeforeIt) {
  // The solver keeps Gram rows from call to call; a row's answer must be the same bit
  // for bit with a fresh solver (a resumed run writes the same file).
  SolveOptions options;
  options.solver = SolverKind::WorkingSet;
  options.l1 = 0.02;
  const MatrixView<const float> last{z_.row(kRows - 1), 1, z_.cols()};
  SolveResult warm, cold, all;
  auto used = make_cpu_decomposer(dict_.atoms.view(), options);
  used->solve(z_.view(), all);
  used->solve(last, warm);
  make_cpu_decomposer(dict_.atoms.view(), options)->solve(last, cold);
  ASSERT_GT(l0_of(cold, 0), 100);
  EXPECT_EQ(warm.codes.indices, cold.codes.indices);
  EXPECT_EQ(warm.codes.data, cold.codes.data);
  EXPECT_EQ(warm.gap, cold.gap);
  EXPECT_EQ(dense_row(all, kRows - 1, dict_.size()), dense_row(cold, 0, dict_.size()));
}

TEST_F(CifarRows, TargetSparsityTakesTheSmallestGridLambdaWithAtMostKAtoms) {
  constexpr int k = 12;
  SolveOptions options;
  options.l0 = k;
  SolveResult result;
  make_cpu_decomposer(dict_.atoms.view(), options)->solve(z_.view(), result);
  for (std::int64_t r = 0; r < z_.rows(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    const double l1 = result.l1[static_cast<std::size_t>(r)];
    EXPECT_LE(l0_of(result, r), k);
    EXPECT_GT(l0_of(result, r), 0);
    EXPECT_EQ(result.at_limit[static_cast<std::size_t>(r)], 0);
    // The row's own certificate at its lambda.
    const std::vector<float> w = dense_row(result, r, dict_.size());
    const Certificate at_lambda = certify_row(dict_.atoms.view(), z_.row(r), w.data(), l1);
    EXPECT_LE(at_lambda.gap, options.tol * at_lambda.objective * 1.01);
    // The next grid point, solved on its own with a fixed lambda, has more than K atoms.
    SolveOptions next;
    next.solver = SolverKind::WorkingSet;
    next.l1 = l1 * options.l0_ratio;
    SolveResult denser;
    make_cpu_decomposer(dict_.atoms.view(), next)->solve({z_.row(r), 1, z_.cols()}, denser);
    EXPECT_GT(l0_of(denser, 0), k) << "lambda " << l1 << " * " << options.l0_ratio;
  }
}

// Rows that are sparse mixtures of atoms: a set's own lasso path keeps within K atoms
// far below the row's answer (its atoms fit z, those that would fit the rest are not in
// it yet). Its walk down the grid must not run to the grid's end, whose certificate
// took the whole round budget and left half the rows at w = 0, marked at limit.
TEST(WorkingSet, TargetSparsityOnSparseMixturesEndsWithinTheRoundBudget) {
  const auto p = random_problem(1500, 96, 30, 21);
  constexpr int k = 15;
  SolveOptions options;
  options.l0 = k;
  SolveResult result;
  make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), result);
  for (std::int64_t r = 0; r < p.z.rows(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    EXPECT_EQ(result.at_limit[static_cast<std::size_t>(r)], 0);
    EXPECT_LE(l0_of(result, r), k);
    EXPECT_GT(l0_of(result, r), 0);
    SolveOptions next;
    next.solver = SolverKind::WorkingSet;
    next.l1 = result.l1[static_cast<std::size_t>(r)] * options.l0_ratio;
    SolveResult denser;
    make_cpu_decomposer(p.dict.atoms.view(), next)->solve({p.z.row(r), 1, p.z.cols()}, denser);
    EXPECT_GT(l0_of(denser, 0), k);
  }
}

TEST(WorkingSet, FiftyThousandConceptsOnFewRows) {
  const auto p = random_problem(50000, 128, 3, 21);
  SolveOptions options;
  options.solver = SolverKind::WorkingSet;
  options.l1 = 0.2;
  SolveResult result;
  make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), result);
  for (std::int64_t r = 0; r < p.z.rows(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    // The float64 certificate from scratch proves F(w) - F* <= tol F(w) on its own.
    const std::vector<float> w = dense_row(result, r, p.dict.size());
    const Certificate certified = certify_row(p.dict.atoms.view(), p.z.row(r), w.data(), options.l1);
    EXPECT_LE(certified.gap, options.tol * certified.objective * 1.01);
    EXPECT_GE(result.gap[static_cast<std::size_t>(r)] * (1 + 1e-3) + 1e-8, certified.gap);
    EXPECT_GT(l0_of(result, r), 0);
  }
}

TEST(WorkingSet, RowsStoppedByTheRoundLimitAreMarkedAndKeepTrueGaps) {
  const auto p = random_problem(600, 64, 6, 17);
  SolveOptions options;
  options.solver = SolverKind::WorkingSet;
  options.l1 = 0.002;  // large supports: one round is not enough
  options.max_rounds = 1;
  SolveResult result;
  make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), result);
  std::int64_t limited = 0;
  for (std::int64_t r = 0; r < p.z.rows(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    const auto i = static_cast<std::size_t>(r);
    const bool converged = rules::reported_converged(result.gap[i], result.objective[i], options.tol);
    EXPECT_EQ(result.at_limit[i] != 0, !converged);
    limited += result.at_limit[i];
    const std::vector<float> w = dense_row(result, r, p.dict.size());
    const Certificate reference = certify_row(p.dict.atoms.view(), p.z.row(r), w.data(), options.l1);
    EXPECT_GE(result.gap[i] * (1 + 1e-3) + 1e-8, reference.gap);
  }
  EXPECT_GT(limited, 0);
}

TEST(WorkingSet, LambdaZeroIsRefusedNamingTheSmallestUsefulLambda) {
  SolveOptions options;
  options.l1 = 0;
  try {
    options.validate();
    FAIL() << "l1 = 0 was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("0.0001"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("l0"), std::string::npos) << e.what();
  }
  options.l1 = rules::kSmallestUsefulL1;
  EXPECT_NO_THROW(options.validate());
  options.l0 = 5;
  options.solver = SolverKind::Fista;
  EXPECT_THROW(options.validate(), InputError);
  options.solver = SolverKind::Auto;
  options.l0_ratio = 1.0;
  EXPECT_THROW(options.validate(), InputError);
}

}  // namespace
}  // namespace concise
