#include "concise/learn/train.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>

#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/core/progress.hpp"
#include "concise/engine/jobs.hpp"

namespace concise::learn {
namespace {

// A generator per (seed, purpose): epoch e uses stream e + 1, initialization stream 0.
std::mt19937_64 stream(std::uint64_t seed, std::uint64_t index) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32)};
  return std::mt19937_64(seq);
}

// Fisher-Yates with the generator's raw output, so the order is the same on every platform.
std::vector<std::int64_t> permutation(std::int64_t n, std::mt19937_64& rng) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  for (std::int64_t i = n - 1; i > 0; --i)
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(rng() % static_cast<std::uint64_t>(i + 1))]);
  return p;
}

// Feeds rows to the learner in mini-batches; a batch may span several pieces.
class BatchFeeder {
 public:
  BatchFeeder(DictionaryLearner& learner, bool batch_mode) : learner_(learner), batch_mode_(batch_mode) {}
  void feed(MatrixView<const float> z, EpochTally& tally) {
    const std::int64_t batch = learner_.options().batch, d = z.cols;
    for (std::int64_t pos = 0; pos < z.rows;) {
      if (in_batch_ == 0) learner_.begin_batch(batch_mode_);
      const std::int64_t take = std::min(z.rows - pos, batch - in_batch_);
      learner_.add_rows({z.data + pos * d, take, d}, order_, tally);
      order_ += take;
      in_batch_ += take;
      pos += take;
      if (in_batch_ == batch) flush();
    }
  }
  void flush() {
    if (in_batch_ == 0) return;
    learner_.end_batch(batch_mode_);
    in_batch_ = 0;
  }

 private:
  DictionaryLearner& learner_;
  bool batch_mode_;
  std::int64_t in_batch_ = 0;
  std::int64_t order_ = 0;
};

}  // namespace

Matrix<float> shuffled_rows(const Matrix<float>& z, const std::vector<std::int64_t>& order) {
  Matrix<float> out(static_cast<std::int64_t>(order.size()), z.cols());
  for (std::size_t i = 0; i < order.size(); ++i) std::copy_n(z.row(order[i]), z.cols(), out.row(static_cast<std::int64_t>(i)));
  return out;
}

Matrix<float> RowReader::read(std::int64_t first, std::int64_t count) const {
  Matrix<float> z(count, source.dim());
  source.read(first, count, z.data());
  center_embeddings(z.view(), preprocess ? image_mean : std::vector<float>{},
                    [&](std::int64_t r) { return source.describe_row(first + r); });
  return z;
}

std::int64_t block_rows(const LearnOptions& options, std::int64_t total_atoms) {
  return options.chunk > 0 ? options.chunk : std::max<std::int64_t>(1024, default_chunk_rows(total_atoms));
}

std::vector<std::int64_t> initial_rows(std::int64_t n, std::int64_t k, std::uint64_t seed) {
  // Floyd's sampling: k distinct rows without an index array of n entries.
  auto rng = stream(seed, 0);
  std::set<std::int64_t> chosen;
  for (std::int64_t j = n - k; j < n; ++j) {
    const auto t = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(j + 1));
    if (!chosen.insert(t).second) chosen.insert(j);
  }
  return {chosen.begin(), chosen.end()};
}

std::vector<EpochBlock> epoch_order(std::int64_t n, std::int64_t block, std::uint64_t seed, int epoch) {
  auto rng = stream(seed, static_cast<std::uint64_t>(epoch) + 1);
  const std::int64_t blocks = (n + block - 1) / block;
  std::vector<EpochBlock> out;
  for (const std::int64_t b : permutation(blocks, rng)) {
    const std::int64_t first = b * block, count = std::min(block, n - first);
    out.push_back({first, count, permutation(count, rng)});
  }
  return out;
}

void initialize_from_rows(DictionaryLearner& learner, const RowReader& reader) {
  const std::int64_t n = reader.source.rows(), k = learner.learned(), d = reader.source.dim();
  if (n < k)
    throw InputError(reader.source.describe() + ": has " + std::to_string(n) + " rows, fewer than the " +
                     std::to_string(k) + " atoms to learn; expected at least one row per atom");
  const std::vector<std::int64_t> chosen = initial_rows(n, k, learner.options().seed);
  Matrix<float> rows(k, d);
  std::int64_t i = 0;
  for (const std::int64_t row : chosen) {
    const Matrix<float> z = reader.read(row, 1);
    std::copy_n(z.data(), d, rows.row(i++));
  }
  learner.initialize(rows.view());
}

void run_epochs(DictionaryLearner& learner, const RowReader& reader, int first_epoch, int last_epoch, bool progress,
                const std::function<void(const EpochReport&)>& after_epoch) {
  const std::int64_t n = reader.source.rows(), d = reader.source.dim();
  const std::int64_t block = block_rows(learner.options(), learner.atoms().rows());
  const bool batch_mode = learner.options().batch_mode(n);
  for (int epoch = first_epoch; epoch < last_epoch; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    EpochTally tally(learner.learned(), d, kept_residuals(learner.learned()));
    BatchFeeder feeder(learner, batch_mode);
    Progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(last_epoch), n, 0, progress);
    for (const EpochBlock& b : epoch_order(n, block, learner.options().seed, epoch)) {
      const Matrix<float> shuffled = shuffled_rows(reader.read(b.first, b.count), b.order);
      feeder.feed(shuffled.view(), tally);
      bar.advance(b.count);
    }
    feeder.flush();
    bar.finish();
    EpochReport report;
    report.epoch = epoch + 1;
    report.epochs = last_epoch;
    report.rows = tally.rows;
    report.objective = tally.objective / static_cast<double>(std::max<std::int64_t>(1, tally.rows));
    report.mean_l0 = tally.l0 / static_cast<double>(std::max<std::int64_t>(1, tally.rows));
    report.resampled = learner.resample(tally, batch_mode);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    after_epoch(report);
  }
}

EpochReport partial_fit(DictionaryLearner& learner, MatrixView<const float> z) {
  const auto start = std::chrono::steady_clock::now();
  EpochTally tally(learner.learned(), z.cols, kept_residuals(learner.learned()));
  BatchFeeder feeder(learner, false);
  feeder.feed(z, tally);
  feeder.flush();
  EpochReport report;
  report.rows = tally.rows;
  report.objective = tally.objective / static_cast<double>(std::max<std::int64_t>(1, tally.rows));
  report.mean_l0 = tally.l0 / static_cast<double>(std::max<std::int64_t>(1, tally.rows));
  // Re-initialising atoms an input of a few rows happens not to use would undo them;
  // only a pass long enough to see every atom's rows does it.
  if (tally.rows >= 10 * learner.learned()) report.resampled = learner.resample(tally, false);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace concise::learn
