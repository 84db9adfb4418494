#pragma once
// The state of online nonnegative dictionary learning: the atoms (fixed vocabulary
// atoms first, then the learned ones), the statistics of the learned atoms, and the
// steps that move them: code a batch with concise's certified solver, accumulate,
// update the atoms by block coordinate descent, re-initialise dead and duplicate atoms.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "concise/core/matrix.hpp"
#include "concise/engine/resources.hpp"
#include "concise/learn/atom_updater.hpp"
#include "concise/learn/options.hpp"
#include "concise/solvers/decomposer.hpp"

namespace concise::learn {

// What an epoch saw: the objective, the atoms' use and the rows they explain worst.
class EpochTally {
 public:
  EpochTally(std::int64_t learned, std::int64_t dim, std::int64_t keep_worst);
  std::int64_t rows = 0;
  double objective = 0;               // sum of F(w) = ||z - D^T w||^2 + lambda sum(w)
  double l0 = 0;                      // sum of nonzero weights
  std::vector<std::int64_t> usage;    // per learned atom: rows with a positive weight on it

  struct Kept {
    double score;
    std::int64_t order;
    std::vector<float> r;
  };

  // Keeps the residual r of a row when ||r||^2 is among the largest seen (ties: earlier row first).
  void offer_residual(double score, std::int64_t order, const float* r);
  // The kept residuals, worst explained first.
  std::vector<const float*> worst() const;
  const std::vector<Kept>& kept() const { return heap_; }
  // Adds another tally's rows (a later piece of the same epoch): the same as having seen them here.
  void merge(const EpochTally& piece);

 private:
  std::int64_t dim_, keep_;
  std::vector<Kept> heap_;  // min-heap on (score, -order)
};

class DictionaryLearner {
 public:
  // fixed_atoms (c x d, c = 0 in free mode) stay bit-identical; options.atoms are learned.
  DictionaryLearner(const LearnOptions& options, Matrix<float> fixed_atoms, std::int64_t dim);

  const LearnOptions& options() const { return options_; }
  std::int64_t fixed() const { return fixed_; }
  std::int64_t learned() const { return options_.atoms; }
  std::int64_t dim() const { return atoms_.cols(); }
  const Matrix<float>& atoms() const { return atoms_; }  // (fixed + learned) x dim
  std::int64_t batches_seen() const { return batches_seen_; }
  const Device& device() const { return resources_.device(); }

  // The learned atoms from rows (preprocessed, one per atom): each the normalized
  // residual of its row after coding over the fixed atoms (the row itself in free mode).
  void initialize(MatrixView<const float> rows);

  // Codes of preprocessed rows over the current atoms.
  void solve(MatrixView<const float> z, SolveResult& result);

  // A batch is coded piece by piece (add_rows) against the atoms it started with,
  // then the atoms move once (end_batch). In batch mode the statistics hold that batch alone.
  void begin_batch(bool batch_mode);
  void add_rows(MatrixView<const float> z, std::int64_t first_order, EpochTally& tally);
  void end_batch(bool batch_mode);

  // A whole batch whose statistics were summed elsewhere (distributed learning: the pieces'
  // statistics, each from piece_statistics, added in piece order): the atoms move as end_batch moves them.
  void apply_batch_statistics(const Matrix<float>& a, const Matrix<float>& b, bool batch_mode);

  // End of an epoch: learned atoms no row used (and, in online mode, atoms within
  // duplicate_cosine of another atom) restart from the worst-explained residuals,
  // their statistics cleared. Returns how many were re-initialised.
  std::int64_t resample(const EpochTally& tally, bool batch_mode);

  // What a checkpoint holds.
  struct State {
    Matrix<float> learned_atoms;  // learned x dim
    Matrix<float> a, b;           // statistics
    std::int64_t batches_seen = 0;
  };
  State state() const;
  void restore(const State& state);

 private:
  LearnOptions options_;
  Resources resources_;
  std::int64_t fixed_;
  Matrix<float> atoms_;
  std::unique_ptr<AtomUpdater> updater_;
  std::unique_ptr<Decomposer> batch_decomposer_;  // over the atoms the current batch started with
  std::int64_t batches_seen_ = 0;
  float pending_beta_ = 1.0f;  // applied to the statistics by the batch's first piece
  SolveResult result_;
};

// The CPU rule for the statistics of a piece of rows, from zero: a (learned x (fixed + learned)) =
// sum w_learned w^T and b (learned x d) = sum w_learned z^T, each atom's row summed in row order.
// A batch's statistics are its pieces' sums added in piece order, so pieces coded apart (on other
// machines) give the same bits.
void piece_statistics(const SparseRows& codes, MatrixView<const float> z, std::int64_t fixed, std::int64_t learned,
                      Matrix<float>& a, Matrix<float>& b);
// The same sums added to a and b as they are (shaped learned x (fixed + learned) and learned x d).
void add_piece_statistics(const SparseRows& codes, MatrixView<const float> z, std::int64_t fixed, std::int64_t learned,
                          Matrix<float>& a, Matrix<float>& b);
// Adds the coded rows of a piece (rows of order first_order, first_order + 1, ...) to a tally.
void tally_rows(const SolveResult& result, MatrixView<const float> atoms, std::int64_t fixed, MatrixView<const float> z,
                std::int64_t first_order, EpochTally& tally);
// R += sum_rows w_L (z - D^T w)^T over coded rows (r: learned x d; atoms D: fixed + learned rows, those
// that coded the rows): how a batch moves R = B - A D. Each atom's row summed in row order.
void add_residual_correlations(const SparseRows& codes, MatrixView<const float> z, MatrixView<const float> atoms,
                               std::int64_t fixed, std::int64_t learned, Matrix<float>& r);
// Batch mode's dictionary step: block-coordinate sweeps over the statistics the updater holds until
// no coordinate moves by 1e-6 (at most max_sweeps). Returns the sweeps made.
int sweep_until_still(AtomUpdater& updater, MatrixView<float> atoms, int max_sweeps);
// How many worst-explained residuals an epoch keeps for re-initialising atoms.
std::int64_t kept_residuals(std::int64_t learned);

// Writes the nonzeros of a[0, n) (a != 0, so NaN counts) in order to cols and vals (room for n each)
// and returns their count: 16 entries at a time on a CPU with AVX-512, else the portable loop
// (the same output).
std::size_t compact_nonzeros(const float* a, std::int64_t n, std::int32_t* cols, float* vals);
std::size_t compact_nonzeros_portable(const float* a, std::int64_t n, std::int32_t* cols, float* vals);

// Residual z - D^T w of one coded row (dense, d floats) and its squared norm.
double row_residual(const SparseRows& codes, std::int64_t row, MatrixView<const float> atoms, const float* z, float* r);
// C (m x n) = A (m x k) B (n x k)^T, row-major float (cosines of unit atoms).
void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k);

}  // namespace concise::learn
