// Online nonnegative dictionary learning: planted recovery, the batch-mode
// objective, resuming from a checkpoint bit for bit, bad input, the dictionary
// format's learned atoms. (CPU/GPU parity: test_learn_cuda.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/engine/resources.hpp"
#include "concise/learn/learn_file.hpp"
#include "concise/learn/matrix_source.hpp"
#include "concise/learn/options.hpp"
#include "concise/learn/train.hpp"
#include "planted.hpp"

namespace concise::learn {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("concise_learn_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                        "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string save_rows(const TempDir& dir, const std::string& name, const Matrix<float>& rows) {
  const std::string path = dir.file(name);
  write_npy(path, rows.data(), {rows.rows(), rows.cols()});
  return path;
}

LearnJob planted_job(const std::string& input, const std::string& output, std::int64_t k) {
  LearnJob job;
  job.input = input;
  job.output = output;
  job.options.atoms = k;
  job.options.solve.l1 = 0.2;
  job.options.epochs = 10;
  job.options.batch = 256;
  job.options.seed = 7;
  job.progress = false;
  return job;
}

double best_cosine(const Matrix<float>& learned, std::int64_t first, std::int64_t count, const float* truth) {
  double best = -1;
  for (std::int64_t j = first; j < first + count; ++j)
    best = std::max(best, dot(learned.row(j), truth, learned.cols()) /
                              std::sqrt(dot(learned.row(j), learned.row(j), learned.cols())));
  return best;
}

TEST(Learn, PlantedAtomsAreRecovered) {
  TempDir dir;
  const Planted p = planted(24, 48, 2400, 0.01f, 1);
  const std::string input = save_rows(dir, "rows.npy", p.rows);
  const LearnSummary s = learn_file(planted_job(input, dir.file("learned.h5"), 24));
  ASSERT_TRUE(s.complete);
  const Dictionary learned = Dictionary::load(dir.file("learned.h5"));
  ASSERT_EQ(learned.size(), 24);
  int recovered = 0;
  for (std::int64_t j = 0; j < 24; ++j) recovered += best_cosine(learned.atoms, 0, 24, p.atoms.row(j)) > 0.99;
  EXPECT_GE(recovered, 23) << "of 24 planted atoms (95%) recovered with cosine > 0.99";
  // Every atom is learned, named learned_N, described and unit norm.
  ASSERT_EQ(learned.learned.size(), 24u);
  for (std::int64_t j = 0; j < 24; ++j) {
    EXPECT_EQ(learned.concepts[static_cast<std::size_t>(j)], "learned_" + std::to_string(j));
    EXPECT_NEAR(dot(learned.atoms.row(j), learned.atoms.row(j), 48), 1.0, 1e-5);
    const LearnedAtom* a = learned.learned_atom(j);
    ASSERT_NE(a, nullptr);
    EXPECT_GT(a->usage, 0.03f);  // each planted atom is in about 3/24 of the rows
    EXPECT_LT(a->usage, 0.3f);
    ASSERT_EQ(a->top_rows.size(), 5u);
    EXPECT_GE(a->top_weights[0], a->top_weights[4]);
    EXPECT_EQ(a->top_rows[0].rfind("row ", 0), 0u);
  }
}

TEST(Learn, BatchModeObjectiveNeverIncreases) {
  TempDir dir;
  const Planted p = planted(16, 32, 600, 0.05f, 2);
  LearnJob job = planted_job(save_rows(dir, "rows.npy", p.rows), dir.file("learned.h5"), 16);
  job.options.batch = 1 << 20;  // every row in one batch
  job.options.epochs = 8;
  job.options.solve.tol = 1e-6;
  const LearnSummary s = learn_file(job);
  ASSERT_EQ(s.objective.size(), 8u);
  for (std::size_t e = 1; e < s.objective.size(); ++e)  // within the codes' certified tolerance
    EXPECT_LE(s.objective[e], s.objective[e - 1] * (1 + job.options.solve.tol)) << "epoch " << e + 1;
  EXPECT_LT(s.objective.back(), 0.9 * s.objective.front());
}

TEST(Learn, ResumedRunEndsWithTheSameDictionary) {
  TempDir dir;
  const Planted p = planted(12, 32, 900, 0.05f, 3);
  const std::string input = save_rows(dir, "rows.npy", p.rows);
  LearnJob whole = planted_job(input, dir.file("whole.h5"), 12);
  whole.options.epochs = 3;
  whole.options.batch = 128;
  learn_file(whole);

  LearnJob part = whole;
  part.output = dir.file("part.h5");
  part.stop_after_epochs = 1;
  const LearnSummary first = learn_file(part);
  EXPECT_FALSE(first.complete);
  EXPECT_FALSE(fs::exists(part.output));
  EXPECT_TRUE(fs::exists(checkpoint_path(part.output)));
  part.stop_after_epochs = 0;
  const LearnSummary second = learn_file(part);
  EXPECT_TRUE(second.resumed);
  ASSERT_TRUE(second.complete);
  EXPECT_FALSE(fs::exists(checkpoint_path(part.output)));

  const Dictionary a = Dictionary::load(whole.output), b = Dictionary::load(part.output);
  ASSERT_EQ(a.atoms.values().size(), b.atoms.values().size());
  EXPECT_EQ(std::memcmp(a.atoms.data(), b.atoms.data(), a.atoms.values().size() * sizeof(float)), 0);
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  for (std::size_t j = 0; j < a.learned.size(); ++j) {
    EXPECT_EQ(a.learned[j].usage, b.learned[j].usage);
    EXPECT_EQ(a.learned[j].top_rows, b.learned[j].top_rows);
  }
}

// The error names what is wrong, and no output (nor checkpoint) is left behind.
void expect_input_error(const LearnJob& job, const std::string& needle) {
  try {
    learn_file(job);
    FAIL() << "expected an InputError mentioning '" << needle << "'";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(job.output));
}

TEST(Learn, BadInputIsAClearErrorAndLeavesNoOutput) {
  TempDir dir;
  const Planted p = planted(8, 16, 100, 0.05f, 4);
  const std::string input = save_rows(dir, "rows.npy", p.rows);
  LearnJob job = planted_job(input, dir.file("out.h5"), 8);
  job.options.epochs = 2;

  LearnJob no_atoms = job;
  no_atoms.options.atoms = 0;
  expect_input_error(no_atoms, "atoms to learn must be >= 1");

  LearnJob too_many = job;
  too_many.options.atoms = 101;
  expect_input_error(too_many, "fewer than the 101 atoms");

  Matrix<float> text(5, 24, 1.0f);
  for (std::int64_t k = 0; k < 5; ++k) text.row(k)[k] = 3.0f;
  Dictionary::build(std::move(text), {"a", "b", "c", "d", "e"}).save(dir.file("dict24.h5"));
  LearnJob other_dim = job;
  other_dim.init = dir.file("dict24.h5");
  expect_input_error(other_dim, "dimension 24, expected 16");

  Matrix<float> nan_rows = p.rows;
  nan_rows.row(57)[3] = std::nanf("");
  LearnJob with_nan = job;
  with_nan.input = save_rows(dir, "nan.npy", nan_rows);
  expect_input_error(with_nan, "row 57: contains NaN");
  EXPECT_FALSE(fs::exists(checkpoint_path(with_nan.output)));

  LearnJob stopped = job;
  stopped.stop_after_epochs = 1;
  learn_file(stopped);
  ASSERT_TRUE(fs::exists(checkpoint_path(job.output)));
  LearnJob other_settings = job;
  other_settings.options.solve.l1 = 0.3;
  expect_input_error(other_settings, "checkpoint of a run with other settings");
  EXPECT_TRUE(fs::exists(checkpoint_path(job.output)));  // kept for the run it belongs to
}

TEST(Learn, ResidualModeKeepsTheVocabularyBitForBit) {
  TempDir dir;
  const Planted p = planted(20, 32, 800, 0.02f, 5);
  // The first 12 planted atoms form the vocabulary (raw, so the dictionary centers them);
  // the learned atoms must find what it misses.
  Matrix<float> text(12, 32);
  std::copy_n(p.atoms.data(), 12 * 32, text.data());
  std::vector<std::string> names;
  for (int k = 0; k < 12; ++k) names.push_back("word" + std::to_string(k));
  const Dictionary vocab = Dictionary::build(std::move(text), names);
  vocab.save(dir.file("vocab.h5"));
  LearnJob job = planted_job(save_rows(dir, "rows.npy", p.rows), dir.file("learned.h5"), 8);
  job.init = dir.file("vocab.h5");
  const LearnSummary s = learn_file(job);
  ASSERT_TRUE(s.complete);
  const Dictionary out = Dictionary::load(job.output);
  ASSERT_EQ(out.size(), 20);
  EXPECT_EQ(std::memcmp(out.atoms.data(), vocab.atoms.data(), vocab.atoms.values().size() * sizeof(float)), 0);
  for (std::int64_t k = 0; k < 12; ++k) {
    EXPECT_EQ(out.learned_atom(k), nullptr);
    EXPECT_EQ(out.describe_atom(k), names[static_cast<std::size_t>(k)]);
  }
  for (std::int64_t k = 12; k < 20; ++k) {
    const LearnedAtom* a = out.learned_atom(k);
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(a->nearest.size(), 5u);
    EXPECT_GE(a->nearest_cosine[0], a->nearest_cosine[4]);
    EXPECT_EQ(out.describe_atom(k, 2), "learned_" + std::to_string(k - 12) + " ~ {" + a->nearest[0] + ", " + a->nearest[1] + "}");
  }
  // Learning lowers the objective below the vocabulary's alone.
  EXPECT_LT(s.final_pass.objective, s.objective.front());
  EXPECT_GT(s.final_pass.mean_learned_l0, 0.5);
}

// Distributed learning's contract: the pieces of a batch coded apart (piece_statistics and a
// tally each, added in the epoch's block order) move the atoms exactly as the learner does.
TEST(Learn, PiecesCodedApartGiveTheLearnersAtomsBitForBit) {
  const Planted p = planted(12, 32, 600, 0.02f, 3);
  LearnOptions options;
  options.atoms = 12;
  options.solve.l1 = 0.2;
  options.batch = 600;  // batch mode
  options.chunk = 128;  // 5 blocks
  options.seed = 5;
  const MatrixSource source(p.rows.view());
  const RowReader reader{source, {}, false};
  DictionaryLearner whole(options, Matrix<float>(), 32), apart(options, Matrix<float>(), 32);
  initialize_from_rows(whole, reader);
  initialize_from_rows(apart, reader);
  std::vector<double> objectives;
  run_epochs(whole, reader, 0, 3, false, [&](const EpochReport& r) { objectives.push_back(r.objective); });
  for (int epoch = 0; epoch < 3; ++epoch) {
    const Matrix<float> atoms = apart.atoms();
    Matrix<float> a, b, sum_a, sum_b;
    EpochTally tally(12, 32, kept_residuals(12));
    std::int64_t order = 0;
    for (const EpochBlock& block : epoch_order(600, 128, options.seed, epoch)) {
      const Matrix<float> z = shuffled_rows(reader.read(block.first, block.count), block.order);
      SolveResult result;
      Resources("cpu").make_decomposer(atoms.view(), batch_coding(options.solve))->solve(z.view(), result);
      piece_statistics(result.codes, z.view(), 0, 12, a, b);
      EpochTally piece(12, 32, kept_residuals(12));
      tally_rows(result, atoms.view(), 0, z.view(), order, piece);
      tally.merge(piece);
      order += block.count;
      if (sum_a.rows() == 0) {
        sum_a = a;
        sum_b = b;
      } else {
        for (std::size_t i = 0; i < a.values().size(); ++i) sum_a.values()[i] += a.values()[i];
        for (std::size_t i = 0; i < b.values().size(); ++i) sum_b.values()[i] += b.values()[i];
      }
    }
    apart.apply_batch_statistics(sum_a, sum_b, true);
    apart.resample(tally, true);
    EXPECT_EQ(tally.objective / static_cast<double>(tally.rows), objectives[static_cast<std::size_t>(epoch)]);
  }
  ASSERT_EQ(whole.atoms().values().size(), apart.atoms().values().size());
  EXPECT_EQ(0, std::memcmp(whole.atoms().data(), apart.atoms().data(), whole.atoms().values().size() * sizeof(float)));
}

// The planted atoms, the first `fixed` as they are and the others moved by Gaussian
// noise of this size and renormalized.
Matrix<float> perturbed_atoms(const Planted& p, std::int64_t fixed, float noise, unsigned seed) {
  const std::int64_t k = p.atoms.rows(), d = p.atoms.cols();
  Matrix<float> atoms(k, d);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (std::int64_t j = 0; j < fixed; ++j) std::copy_n(p.atoms.row(j), d, atoms.row(j));
  for (std::int64_t j = fixed; j < k; ++j) {
    for (std::int64_t i = 0; i < d; ++i) atoms.row(j)[i] = p.atoms.row(j)[i] + noise * normal(rng);
    normalize(atoms.row(j), d);
  }
  return atoms;
}

// The CPU updater keeps R = B - A D from batch to batch (decayed, plus each batch's
// sum w_L (z - D^T w)^T); it must move the atoms as recomputing R every batch does,
// up to rounding, with fixed atoms, decay and batches of two pieces.
TEST(Learn, KeptResidualMovesTheAtomsAsARecomputedOne) {
  const std::int64_t fixed = 4, learned = 600, d = 24;  // more atoms than one group of blocks
  const Planted p = planted(fixed + learned, d, 800, 0.02f, 11);
  Matrix<float> kept_atoms = perturbed_atoms(p, fixed, 0.5f, 3);
  Matrix<float> fresh_atoms = kept_atoms;
  auto kept = make_cpu_atom_updater(fixed, learned, d), fresh = make_cpu_atom_updater(fixed, learned, d);
  SolveOptions solve;
  solve.l1 = 0.1;
  const std::int64_t batch = 100, pieces = 2;
  for (std::int64_t first = 0, t = 1; first < p.rows.rows(); first += batch, ++t) {
    const float beta = static_cast<float>(std::pow(1.0 - 1.0 / static_cast<double>(t), 10.0));
    for (std::int64_t piece = 0; piece < pieces; ++piece) {
      const std::int64_t rows = batch / pieces;
      const MatrixView<const float> z{p.rows.row(first + piece * rows), rows, d};
      SolveResult result;
      Resources("cpu").make_decomposer(kept_atoms.view(), solve)->solve(z, result);
      kept->accumulate(result.codes, z, piece == 0 ? beta : 1.0f);
      fresh->accumulate(result.codes, z, piece == 0 ? beta : 1.0f);  // the same codes: only R differs
    }
    forget_kept_residual(*fresh);
    kept->update(kept_atoms.view(), 1);
    fresh->update(fresh_atoms.view(), 1);
  }
  double largest = 0;
  for (std::size_t i = 0; i < kept_atoms.values().size(); ++i)
    largest = std::max(largest, static_cast<double>(std::abs(kept_atoms.values()[i] - fresh_atoms.values()[i])));
  EXPECT_LT(largest, 1e-4);
  // Not the same bits: the kept R is a different rounding of B - A D (so the test sees the kept path).
  EXPECT_NE(0, std::memcmp(kept_atoms.data(), fresh_atoms.data(), kept_atoms.values().size() * sizeof(float)));
}

// While A is sparse (few mini-batches per atom), the CPU updater's sweep follows A's nonzeros
// instead of GEMMs: the same Gauss-Seidel order, so the same atoms up to rounding, with fixed
// atoms, decay and two sweeps per batch; the updater picks that way for a sparse A and the GEMMs
// for a dense one (bit for bit the forced ways).
TEST(Learn, SparseSweepMovesTheAtomsAsTheGemms) {
  const std::int64_t fixed = 3, learned = 700, d = 160;  // two groups of blocks; rows of r in chunks and a tail
  const Planted p = planted(fixed + learned, d, 600, 0.02f, 13);
  const Matrix<float> start = perturbed_atoms(p, fixed, 0.05f, 5);
  const auto run = [&](double sparse_density, std::int64_t k, std::int64_t batch, std::int64_t rows, Matrix<float>& atoms) {
    atoms = Matrix<float>(fixed + k, d);
    std::copy_n(start.data(), (fixed + k) * d, atoms.data());
    auto updater = make_cpu_atom_updater(fixed, k, d, sparse_density);
    SolveOptions solve;
    solve.l1 = 0.3;
    for (std::int64_t first = 0, t = 1; first < rows; first += batch, ++t) {
      const MatrixView<const float> z{p.rows.row(first), batch, d};
      SolveResult result;
      const MatrixView<const float> coding{start.data(), fixed + k, d};  // the same codes for every way
      Resources("cpu").make_decomposer(coding, solve)->solve(z, result);
      updater->accumulate(result.codes, z, static_cast<float>(std::pow(1.0 - 1.0 / static_cast<double>(t), 2.0)));
      updater->update(atoms.view(), 2);
    }
  };
  const auto largest_difference = [](const Matrix<float>& x, const Matrix<float>& y) {
    double largest = 0;
    for (std::size_t i = 0; i < x.values().size(); ++i)
      largest = std::max(largest, static_cast<double>(std::abs(x.values()[i] - y.values()[i])));
    return largest;
  };
  const auto same_bits = [](const Matrix<float>& x, const Matrix<float>& y) {
    return std::memcmp(x.data(), y.data(), x.values().size() * sizeof(float)) == 0;
  };
  Matrix<float> gemms, nonzeros, chosen;
  run(-1.0, learned, 25, 150, gemms);   // never sparse
  run(2.0, learned, 25, 150, nonzeros);  // always sparse
  run(kSparseSweepDensity, learned, 25, 150, chosen);
  EXPECT_LT(largest_difference(gemms, nonzeros), 1e-4);
  EXPECT_FALSE(same_bits(gemms, nonzeros));  // two roundings: the test sees both ways
  EXPECT_TRUE(same_bits(chosen, nonzeros));  // 150 rows of a few atoms each over 700: A is sparse
  EXPECT_GT(largest_difference(start, nonzeros), 1e-2);  // and the atoms did move
  const std::int64_t few = 12;  // every pair of 12 atoms shares rows: A is dense
  run(-1.0, few, 300, 600, gemms);
  run(2.0, few, 300, 600, nonzeros);
  run(kSparseSweepDensity, few, 300, 600, chosen);
  EXPECT_LT(largest_difference(gemms, nonzeros), 1e-4);
  EXPECT_TRUE(same_bits(chosen, gemms));
}

// A's nonzeros for the sparse sweep: the AVX-512 way (where the CPU has it) finds what the
// portable loop finds, in order, NaN included and -0 excluded, over full 16-entry chunks and a tail.
TEST(Learn, NonzerosAreFoundAlikeOnEveryCpu) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (const std::int64_t n : {0, 5, 16, 37, 1000}) {
    std::vector<float> a(static_cast<std::size_t>(n));
    for (auto& v : a) v = u(rng) < 0.1f ? u(rng) : 0.0f;
    if (n > 20) {
      a[3] = -0.0f;
      a[17] = std::nanf("");
      a[static_cast<std::size_t>(n) - 1] = 2.0f;
    }
    std::vector<std::int32_t> cols(a.size()), cols_portable(a.size());
    std::vector<float> vals(a.size()), vals_portable(a.size());
    const std::size_t m = compact_nonzeros(a.data(), n, cols.data(), vals.data());
    const std::size_t m_portable = compact_nonzeros_portable(a.data(), n, cols_portable.data(), vals_portable.data());
    std::size_t expected = 0;
    for (const float v : a) expected += v != 0.0f;
    ASSERT_EQ(m, expected);
    ASSERT_EQ(m_portable, expected);
    for (std::size_t e = 0; e < m; ++e) {
      EXPECT_EQ(cols[e], cols_portable[e]);
      EXPECT_EQ(0, std::memcmp(&vals[e], &vals_portable[e], sizeof(float)));
      EXPECT_EQ(0, std::memcmp(&vals[e], &a[static_cast<std::size_t>(cols[e])], sizeof(float)));
      if (e > 0) {
        EXPECT_LT(cols[e - 1], cols[e]);
      }
    }
  }
}

}  // namespace
}  // namespace concise::learn
