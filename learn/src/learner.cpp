#include "concise/learn/learner.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"

namespace concise::learn {

EpochTally::EpochTally(std::int64_t learned, std::int64_t dim, std::int64_t keep_worst)
    : usage(static_cast<std::size_t>(learned), 0), dim_(dim), keep_(keep_worst) {}

namespace {
// Min-heap order: the weakest candidate (smallest score, then latest row) on top.
bool weaker_first(double sa, std::int64_t oa, double sb, std::int64_t ob) { return sa > sb || (sa == sb && oa < ob); }
}  // namespace

void EpochTally::offer_residual(double score, std::int64_t order, const float* r) {
  auto cmp = [](const Kept& a, const Kept& b) { return weaker_first(a.score, a.order, b.score, b.order); };
  if (keep_ <= 0) return;
  if (static_cast<std::int64_t>(heap_.size()) == keep_) {
    const Kept& weakest = heap_.front();
    if (!weaker_first(score, order, weakest.score, weakest.order)) return;
    std::pop_heap(heap_.begin(), heap_.end(), cmp);
    heap_.pop_back();
  }
  heap_.push_back({score, order, std::vector<float>(r, r + dim_)});
  std::push_heap(heap_.begin(), heap_.end(), cmp);
}

void EpochTally::merge(const EpochTally& piece) {
  rows += piece.rows;
  objective += piece.objective;
  l0 += piece.l0;
  for (std::size_t j = 0; j < usage.size(); ++j) usage[j] += piece.usage[j];
  for (const Kept& k : piece.heap_) offer_residual(k.score, k.order, k.r.data());
}

std::int64_t kept_residuals(std::int64_t learned) { return std::min<std::int64_t>(learned, 4096); }

std::vector<const float*> EpochTally::worst() const {
  std::vector<const Kept*> sorted;
  for (const auto& k : heap_) sorted.push_back(&k);
  std::sort(sorted.begin(), sorted.end(),
            [](const Kept* a, const Kept* b) { return weaker_first(a->score, a->order, b->score, b->order); });
  std::vector<const float*> out;
  for (const auto* k : sorted) out.push_back(k->r.data());
  return out;
}

double row_residual(const SparseRows& codes, std::int64_t row, MatrixView<const float> atoms, const float* z, float* r) {
  const std::int64_t d = atoms.cols;
  std::vector<double> acc(z, z + d);
  for (auto p = codes.indptr[static_cast<std::size_t>(row)]; p < codes.indptr[static_cast<std::size_t>(row) + 1]; ++p) {
    const double w = codes.data[static_cast<std::size_t>(p)];
    const float* a = atoms.row(codes.indices[static_cast<std::size_t>(p)]);
    for (std::int64_t i = 0; i < d; ++i) acc[static_cast<std::size_t>(i)] -= w * a[i];
  }
  double norm2 = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    r[i] = static_cast<float>(acc[static_cast<std::size_t>(i)]);
    norm2 += acc[static_cast<std::size_t>(i)] * acc[static_cast<std::size_t>(i)];
  }
  return norm2;
}

// C (m x n) = A (m x k) B (n x k)^T, row-major.
void gemm_abt(const float* a, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              1.0f, a, static_cast<int>(k), b, static_cast<int>(k), 0.0f, c, static_cast<int>(n));
}

DictionaryLearner::DictionaryLearner(const LearnOptions& options, Matrix<float> fixed_atoms, std::int64_t dim)
    : options_(options), resources_(solving_device(options.device, options.solve.l0)), fixed_(fixed_atoms.rows()) {
  options_.validate();
  if (fixed_ > 0 && fixed_atoms.cols() != dim)
    throw InputError("the fixed atoms have dimension " + std::to_string(fixed_atoms.cols()) + ", expected " +
                     std::to_string(dim) + " (the embeddings')");
  atoms_ = Matrix<float>(fixed_ + options_.atoms, dim);
  if (fixed_ > 0) std::copy(fixed_atoms.values().begin(), fixed_atoms.values().end(), atoms_.values().begin());
  updater_ = make_atom_updater(fixed_, options_.atoms, dim, resources_);
}

void DictionaryLearner::initialize(MatrixView<const float> rows) {
  const std::int64_t d = dim();
  if (rows.rows != learned())
    throw Error("initialize needs one row per learned atom, got " + std::to_string(rows.rows));
  std::copy_n(rows.data, rows.size(), atoms_.row(fixed_));
  if (fixed_ > 0) {
    const MatrixView<const float> fixed{atoms_.data(), fixed_, d};
    auto decomposer = resources_.make_decomposer(fixed, options_.solve);
    SolveResult result;
    decomposer->solve(rows, result);
    std::vector<float> r(static_cast<std::size_t>(d));
    for (std::int64_t j = 0; j < rows.rows; ++j)
      if (row_residual(result.codes, j, fixed, rows.row(j), r.data()) > 1e-12)
        std::copy(r.begin(), r.end(), atoms_.row(fixed_ + j));
  }
  for (std::int64_t j = 0; j < learned(); ++j) normalize(atoms_.row(fixed_ + j), d);
  forget_kept_residual(*updater_);
}

void DictionaryLearner::solve(MatrixView<const float> z, SolveResult& result) {
  auto decomposer = resources_.make_decomposer(atoms_.view(), options_.solve);
  decomposer->solve(z, result);
}

void DictionaryLearner::begin_batch(bool batch_mode) {
  ++batches_seen_;
  // Old statistics decay by (1 - 1/t)^rho (Mairal et al., eq. 11); in batch mode they are
  // dropped: they hold stale codes of the same rows and would only hold the atoms back.
  const double t = static_cast<double>(batches_seen_);
  pending_beta_ = batch_mode ? 0.0f : static_cast<float>(std::pow(1.0 - 1.0 / t, options_.forget));
  batch_decomposer_ = resources_.make_decomposer(atoms_.view(), batch_coding(options_.solve));
}

void tally_rows(const SolveResult& result, MatrixView<const float> atoms, std::int64_t fixed, MatrixView<const float> z,
                std::int64_t first_order, EpochTally& tally) {
  std::vector<float> r(static_cast<std::size_t>(z.cols));
  for (std::int64_t i = 0; i < z.rows; ++i) {
    const auto row = static_cast<std::size_t>(i);
    tally.objective += result.objective[row];
    tally.l0 += static_cast<double>(result.codes.indptr[row + 1] - result.codes.indptr[row]);
    for (auto p = result.codes.indptr[row]; p < result.codes.indptr[row + 1]; ++p) {
      const std::int64_t k = result.codes.indices[static_cast<std::size_t>(p)];
      if (k >= fixed) ++tally.usage[static_cast<std::size_t>(k - fixed)];
    }
    const double score = row_residual(result.codes, i, atoms, z.row(i), r.data());
    tally.offer_residual(score, first_order + i, r.data());
  }
  tally.rows += z.rows;
}

void DictionaryLearner::add_rows(MatrixView<const float> z, std::int64_t first_order, EpochTally& tally) {
  if (!batch_decomposer_) throw Error("add_rows needs begin_batch first");
  batch_decomposer_->solve(z, result_);
  updater_->accumulate(result_.codes, z, pending_beta_);
  pending_beta_ = 1.0f;  // the batch's later pieces add to it
  // Tallied piece by piece and merged, as distributed learning merges its pieces' tallies.
  EpochTally piece(learned(), dim(), kept_residuals(learned()));
  tally_rows(result_, atoms_.view(), fixed_, z, first_order, piece);
  tally.merge(piece);
}

void DictionaryLearner::apply_batch_statistics(const Matrix<float>& a, const Matrix<float>& b, bool batch_mode) {
  if (a.rows() != learned() || a.cols() != fixed_ + learned() || b.rows() != learned() || b.cols() != dim())
    throw InputError("the batch statistics have other shapes than " + std::to_string(learned()) + " learned atoms over " +
                     std::to_string(fixed_) + " fixed ones of dimension " + std::to_string(dim()));
  ++batches_seen_;
  updater_->write_statistics(a, b);
  end_batch(batch_mode);
}

void DictionaryLearner::end_batch(bool batch_mode) {
  batch_decomposer_.reset();
  MatrixView<float> atoms = atoms_.view();
  if (!batch_mode) {
    updater_->update(atoms, options_.sweeps);
    return;
  }
  sweep_until_still(*updater_, atoms, options_.batch_sweeps);
}

int sweep_until_still(AtomUpdater& updater, MatrixView<float> atoms, int max_sweeps) {
  // Each sweep minimizes exactly over one atom at a time, so the objective with these codes never rises.
  for (int sweep = 1; sweep <= max_sweeps; ++sweep)
    if (updater.update(atoms, 1) < 1e-6f) return sweep;
  return max_sweeps;
}

std::int64_t DictionaryLearner::resample(const EpochTally& tally, bool batch_mode) {
  const std::int64_t k_learned = learned(), d = dim();
  forget_kept_residual(*updater_);  // each epoch starts from R recomputed, as a resumed run does
  std::vector<std::uint8_t> restart(static_cast<std::size_t>(k_learned), 0);
  for (std::int64_t j = 0; j < k_learned; ++j) restart[static_cast<std::size_t>(j)] = tally.usage[static_cast<std::size_t>(j)] == 0;
  if (!batch_mode) {
    // Cosines of each learned atom with every atom (one GEMM); j repeats an earlier atom.
    Matrix<float> cosines(k_learned, fixed_ + k_learned);
    gemm_abt(atoms_.row(fixed_), atoms_.data(), cosines.data(), k_learned, fixed_ + k_learned, d);
    for (std::int64_t j = 0; j < k_learned; ++j) {
      const float* c = cosines.row(j);
      for (std::int64_t k = 0; k < fixed_ + j && !restart[static_cast<std::size_t>(j)]; ++k)
        if (k < fixed_ || !restart[static_cast<std::size_t>(k - fixed_)])
          restart[static_cast<std::size_t>(j)] = c[k] > options_.duplicate_cosine;
    }
  }
  const std::vector<const float*> worst = tally.worst();
  std::int64_t done = 0;
  for (std::int64_t j = 0; j < k_learned && done < static_cast<std::int64_t>(worst.size()); ++j) {
    if (!restart[static_cast<std::size_t>(j)]) continue;
    float* atom = atoms_.row(fixed_ + j);
    std::copy_n(worst[static_cast<std::size_t>(done)], d, atom);
    normalize(atom, d);
    updater_->reset_atom(j);
    ++done;
  }
  return done;
}

DictionaryLearner::State DictionaryLearner::state() const {
  State s;
  s.learned_atoms = Matrix<float>(learned(), dim());
  std::copy_n(atoms_.row(fixed_), learned() * dim(), s.learned_atoms.data());
  updater_->read_statistics(s.a, s.b);
  s.batches_seen = batches_seen_;
  return s;
}

void DictionaryLearner::restore(const State& s) {
  if (s.learned_atoms.rows() != learned() || s.learned_atoms.cols() != dim() || s.a.rows() != learned() ||
      s.a.cols() != fixed_ + learned() || s.b.rows() != learned() || s.b.cols() != dim())
    throw InputError("the saved learning state has other shapes than " + std::to_string(learned()) + " learned atoms over " +
                     std::to_string(fixed_) + " fixed ones of dimension " + std::to_string(dim()));
  std::copy(s.learned_atoms.values().begin(), s.learned_atoms.values().end(), atoms_.row(fixed_));
  updater_->write_statistics(s.a, s.b);
  batches_seen_ = s.batches_seen;
}

}  // namespace concise::learn
