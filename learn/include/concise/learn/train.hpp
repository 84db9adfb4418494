#pragma once
// Epochs over a stream of embeddings: rows are read block by block (memory stays
// bounded by the atoms, their statistics and a few blocks), shuffled by the seed
// (block order and rows within a block), and fed to the learner in mini-batches.
#include <cstdint>
#include <functional>
#include <vector>

#include "concise/core/dictionary.hpp"
#include "concise/core/embedding_source.hpp"
#include "concise/learn/learner.hpp"

namespace concise::learn {

// Reads rows of a source preprocessed for the learner: SpLiCE's normalize, subtract
// the image mean, normalize (preprocess = false: rows are only normalized, after
// the same checks for NaN, Inf and zero rows).
struct RowReader {
  const EmbeddingSource& source;
  std::vector<float> image_mean;
  bool preprocess = true;

  Matrix<float> read(std::int64_t first, std::int64_t count) const;
};

struct EpochReport {
  int epoch = 0;                // 1-based
  int epochs = 0;
  std::int64_t rows = 0;
  double objective = 0;         // mean F(w) per row over the epoch (batch mode: of the atoms it started with)
  double mean_l0 = 0;
  std::int64_t resampled = 0;   // atoms re-initialised at its end
  double seconds = 0;
};

// Rows read and solved at once.
std::int64_t block_rows(const LearnOptions& options, std::int64_t total_atoms);

// The rows (sorted) whose preprocessed values become the initial learned atoms: k of n, chosen by the seed.
std::vector<std::int64_t> initial_rows(std::int64_t n, std::int64_t k, std::uint64_t seed);

// An epoch visits the rows block by block, in an order the seed and the epoch choose, and each
// block's rows in an order of their own: rows first + order[0], first + order[1], ...
struct EpochBlock {
  std::int64_t first = 0, count = 0;
  std::vector<std::int64_t> order;
};
std::vector<EpochBlock> epoch_order(std::int64_t n, std::int64_t block, std::uint64_t seed, int epoch);
// Rows of z in the given order.
Matrix<float> shuffled_rows(const Matrix<float>& z, const std::vector<std::int64_t>& order);

// Initializes the learned atoms from options.atoms distinct rows chosen by the seed.
void initialize_from_rows(DictionaryLearner& learner, const RowReader& reader);

// Runs epochs [first_epoch, last_epoch) (0-based); after_epoch sees each one's report.
// progress: a rows/s line per epoch on a terminal.
void run_epochs(DictionaryLearner& learner, const RowReader& reader, int first_epoch, int last_epoch, bool progress,
                const std::function<void(const EpochReport&)>& after_epoch);

// One pass over rows [0, n) of a matrix already in memory, in order, in mini-batches
// (scikit-learn's partial_fit). Returns its report (epoch 0).
EpochReport partial_fit(DictionaryLearner& learner, MatrixView<const float> z);

}  // namespace concise::learn
