// The fast path: one correlation pass, a small working set per row whose problem is
// solved exactly by an active-set method, then a full pass to certify the row (gap)
// and to grow the set with the atoms that violate optimality. Most rows finish in
// two passes. Rows go through in blocks, so memory stays at the dictionary plus a
// block's sets, with no c x c matrix.
//
// Target sparsity (l0 = K) walks each row's lambda grid lambda_j = lambda_max rho^j:
// inside the set the walk is cheap (exact warm-started solves), and a full pass
// certifies the last grid point with at most K atoms and then the next one, which
// must have more than K.
#include <omp.h>

#include <algorithm>
#include <limits>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>

#include "active_set_lasso.hpp"
#include "concise/solvers/rules.hpp"
#include "cpu_blas.hpp"
#include "cpu_solvers.hpp"
#include "gram_rows.hpp"

namespace concise::cpu {
namespace {

constexpr std::int64_t kInitialSet = 64;
constexpr std::int64_t kGrowth = 64;
constexpr std::int64_t kBlockRows = 256;
constexpr std::int64_t kMinBlockRows = 16;
// The first pass goes by slabs of about this many rows (see solve_rows).
constexpr std::int64_t kPassRows = 128;
constexpr int kSlabAbsent = 0, kSlabPending = 1, kSlabReady = 2;
constexpr int kStepsPerAtom = 8;  // active-set steps allowed per set atom and solve
// Sets from this size take their Gram blocks from the dictionary's cached Gram rows
// (a GEMM per row and round costs more than the rows, shared by all rows, from there).
constexpr std::int64_t kCachedGramAtoms = 32;
// The cached Gram rows take at most about one chunk's work array (16M floats).
constexpr std::int64_t kGramRowsBudget = std::int64_t{1} << 24;
// An l1 row whose set outgrows this finishes alone (see solve_alone).
constexpr std::int64_t kAloneAtoms = 128;
// A row goes whole (solve_whole) when its set and violators reach 1/kWholeFraction of c.
constexpr std::int64_t kWholeFraction = 6;
// The first pass (w = 0) finds more violators than the row will use: from there a
// row goes whole at a quarter of c.
constexpr std::int64_t kFirstPassWholeFraction = 4;

struct RowSet {
  std::vector<std::int32_t> atoms;
  // atoms x atoms, leading dimension gram_ld (room to grow); entries past the set's
  // atoms are not initialized.
  std::unique_ptr<double[]> gram;
  std::int64_t gram_ld = 0;
  std::vector<double> w;
  double max_correlation = 0;  // max_k (C z)_k, for the l0 grid
  int grid = 0;                // l0: the grid point being solved
  int rounds = 0;              // passes at this grid point (l1: in all)
  int passes = 0;              // passes in all
  std::int64_t violators = 0;  // atoms outside the set above the near-violation threshold in the last pass
  int best_grid = 0;           // l0: the last certified grid point with at most K atoms (0: w = 0)
  int beyond = std::numeric_limits<int>::max();  // l0: the last grid point certified beyond K
  Certificate best_cert;
  std::vector<std::int32_t> best_atoms;
  std::vector<float> best_weights;
};

class CpuWorkingSet final : public CpuSolverBase {
 public:
  CpuWorkingSet(MatrixView<const float> atoms, const SolveOptions& options)
      : CpuSolverBase(atoms, options), gram_rows_(atoms, options.keep_gram_rows ? kGramRowsBudget : 0),
        max_atom_norm_(atom_norms_.empty() ? 0.0 : *std::max_element(atom_norms_.begin(), atom_norms_.end()) * (1 + 1e-6)) {}
  std::string name() const override { return "cpu/ws"; }

 protected:
  void solve_rows(RowProblem& p) override;
  bool correlates_in_blocks() const override { return true; }

 private:
  void solve_block(RowProblem& p, const std::int64_t* rows, std::int64_t count);
  bool last_grid_point(const RowSet& set) const {
    return rules::grid_ends_before(set.max_correlation, options_.l0_ratio, set.grid + 1);
  }
  double lambda(const RowSet& set, int grid) const {
    return options_.l0 > 0 ? rules::grid_lambda(set.max_correlation, options_.l0_ratio, grid) : options_.l1;
  }
  // Solves the set's problem at the row's lambda; with l0, first walks the grid as far
  // as the set's solutions keep at most K atoms.
  void solve_set(RowSet& set, const float* b_row, ActiveSetLasso& solver) const;
  void grow(RowSet& set, const std::vector<std::int32_t>& added) const;
  // When some atom outside the set violates (C r)_k <= lambda/2, adds up to `most`
  // of the largest atoms above the near-violation threshold; false if none violates.
  bool add_violators(RowSet& set, const float* g, std::int64_t most, double l1, bool near,
                     std::vector<std::uint8_t>& member) const;
  // Drops the atoms whose weight is zero (they re-enter if they violate again).
  void prune(RowSet& set) const;

  mutable GramRows gram_rows_;  // shared by the threads, kept from call to call
  double max_atom_norm_;        // an upper bound
  // Rounds the set's weights to float (as they are stored) and returns the
  // certificate's ||r||^2, <r, z> and sum(w), with r = z - C_S^T w in float64.
  GapTerms residual_of(RowSet& set, const float* z, double* r64) const;
  void store(RowProblem& p, std::int64_t row, const RowSet& set, const Certificate& cert, double l1,
             bool at_limit) const;
  // A round's pass from the cached Gram rows, g = b - G_S w (c x |S| work instead of
  // c x d), when the whole Gram matrix fits the cache (so that the choice depends on
  // the row alone) and the support is small. Returns the certified maximum's margin
  // (rules::gram_pass_error), or -1 when the row takes the GEMM instead.
  float gram_pass(const RowSet& set, const float* b, const float* z, float* g, std::int64_t max_support) const;
  // Finishes an l1 row whose set is large: each round's pass is one matrix-vector
  // product, and the set only grows, so the solver's factor carries over from round
  // to round (no refactoring; zero atoms stay in the set).
  void solve_alone(RowProblem& p, std::int64_t row, RowSet& set, ActiveSetLasso& solver,
                   std::vector<std::uint8_t>& member) const;
  // solve_alone when the whole Gram matrix fits the cache: the active-set solver
  // works on all c atoms at once, reading the cached Gram rows in place, warm-started
  // from the set's weights. The set needs no Gram block and no rounds that grow it;
  // a round is only the certificate's pass.
  void solve_whole(RowProblem& p, std::int64_t row, RowSet& set, ActiveSetLasso& solver) const;
  // A round's certificate for a row finishing alone or whole: r = z - C_S^T w in
  // float64 (rounding the weights as stored) and one full pass g = C r.
  Certificate certify_alone(RowSet& set, const float* b_row, const float* z, float* g, double l1) const;
  bool whole_gram_fits() const { return gram_rows_.capacity() >= atoms_.rows; }
  // Whether an l1 row's support looks large enough, from its set and the atoms its
  // last pass found violating or near it, for solve_whole to pay: its gradients cost
  // c per passive atom, the set's rounds a growing Gram block and a pass each.
  bool goes_whole(const RowSet& set, std::int64_t fraction = kWholeFraction) const {
    return whole_gram_fits() && fraction * (static_cast<std::int64_t>(set.atoms.size()) + set.violators) >= atoms_.rows;
  }
  // The cached rows of every atom, in atom order (computing the missing ones).
  const std::vector<const float*>& whole_gram_rows() const;
  mutable std::once_flag whole_gram_once_;
  mutable std::vector<const float*> whole_gram_rows_;
};

// y -= a x (float64 y, float x).
CONCISE_VECTOR_CLONES void subtract_scaled(double* y, double a, const float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] -= a * x[i];
}

// y -= a0 x0 + a1 x1 + a2 x2 + a3 x3: one sweep over y for four rows.
CONCISE_VECTOR_CLONES void subtract_scaled4(double* y, const double* a, const float* x0, const float* x1,
                                            const float* x2, const float* x3, std::int64_t n) {
  const double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (std::int64_t i = 0; i < n; ++i) y[i] -= (a0 * x0[i] + a1 * x1[i]) + (a2 * x2[i] + a3 * x3[i]);
}

// y -= sum_x a[x] rows[x], four rows per sweep.
void subtract_combination(double* y, const std::vector<double>& a, const std::vector<const float*>& rows,
                          std::int64_t n) {
  std::size_t x = 0;
  for (; x + 4 <= rows.size(); x += 4)
    subtract_scaled4(y, a.data() + x, rows[x], rows[x + 1], rows[x + 2], rows[x + 3], n);
  for (; x < rows.size(); ++x) subtract_scaled(y, a[x], rows[x], n);
}

std::int64_t support(const std::vector<double>& w) {
  return std::count_if(w.begin(), w.end(), [](double x) { return static_cast<float>(x) > 0; });
}

void CpuWorkingSet::grow(RowSet& set, const std::vector<std::int32_t>& added) const {
  const auto old_k = static_cast<std::int64_t>(set.atoms.size());
  const auto new_k = old_k + static_cast<std::int64_t>(added.size());
  if (new_k > set.gram_ld) {  // more room, at least half again, so that growth copies little
    const std::int64_t ld = std::max(new_k, set.gram_ld + set.gram_ld / 2);
    std::unique_ptr<double[]> gram(new double[static_cast<std::size_t>(ld * ld)]);
    for (std::int64_t i = 0; i < old_k; ++i)
      std::copy_n(set.gram.get() + i * set.gram_ld, old_k, gram.get() + i * ld);
    set.gram = std::move(gram);
    set.gram_ld = ld;
  }
  set.atoms.insert(set.atoms.end(), added.begin(), added.end());
  set.w.resize(static_cast<std::size_t>(new_k), 0.0);
  const std::int64_t ld = set.gram_ld;
  const auto put = [&](std::int64_t i, std::int64_t j, float value) {
    set.gram[static_cast<std::size_t>(i * ld + j)] = set.gram[static_cast<std::size_t>(j * ld + i)] = value;
  };
  if ((new_k >= kCachedGramAtoms || whole_gram_fits()) && gram_rows_.fetch(set.atoms.data(), set.atoms.size())) {
    // Row by row (G's rows are symmetric bit for bit): the new rows whole, then the
    // new columns as the old rows' tails, so that every write is contiguous.
    const std::int32_t* ids = set.atoms.data();
    for (std::int64_t i = old_k; i < new_k; ++i) {
      const float* row = gram_rows_.row(ids[i]);
      double* out = set.gram.get() + i * ld;
      for (std::int64_t j = 0; j < new_k; ++j) out[j] = row[ids[j]];
    }
    for (std::int64_t j = 0; j < old_k; ++j) {
      const float* row = gram_rows_.row(ids[j]);
      double* out = set.gram.get() + j * ld;
      for (std::int64_t i = old_k; i < new_k; ++i) out[i] = row[ids[i]];
    }
    return;
  }
  for (std::int64_t i = old_k; i < new_k; ++i) {
    const float* a = atoms_.row(set.atoms[static_cast<std::size_t>(i)]);
    for (std::int64_t j = 0; j <= i; ++j) put(i, j, gram_dot(a, atoms_.row(set.atoms[static_cast<std::size_t>(j)]), atoms_.cols));
  }
}

void CpuWorkingSet::prune(RowSet& set) const {
  // In place: entry (i, j) moves from (keep[i], keep[j]), never from before it.
  const auto k = static_cast<std::int64_t>(set.atoms.size());
  const std::int64_t ld = set.gram_ld;
  std::int64_t kept = 0;
  std::vector<std::int64_t> keep;
  for (std::int64_t i = 0; i < k; ++i)
    if (set.w[static_cast<std::size_t>(i)] > 0) keep.push_back(i);
  kept = static_cast<std::int64_t>(keep.size());
  if (kept == k) return;
  for (std::int64_t i = 0; i < kept; ++i) {
    const auto from = keep[static_cast<std::size_t>(i)];
    set.atoms[static_cast<std::size_t>(i)] = set.atoms[static_cast<std::size_t>(from)];
    set.w[static_cast<std::size_t>(i)] = set.w[static_cast<std::size_t>(from)];
    for (std::int64_t j = 0; j < kept; ++j)
      set.gram[static_cast<std::size_t>(i * ld + j)] = set.gram[static_cast<std::size_t>(from * ld + keep[static_cast<std::size_t>(j)])];
  }
  set.atoms.resize(static_cast<std::size_t>(kept));
  set.w.resize(static_cast<std::size_t>(kept));
}

bool CpuWorkingSet::add_violators(RowSet& set, const float* g, std::int64_t most, double l1, bool near,
                                  std::vector<std::uint8_t>& member) const {
  const std::int64_t c = atoms_.rows;
  const auto threshold = static_cast<float>(rules::violation_threshold(l1));
  const auto lowest = static_cast<float>(near ? rules::near_violation_threshold(l1) : rules::violation_threshold(l1));
  for (auto a : set.atoms) member[static_cast<std::size_t>(a)] = 1;
  std::vector<std::int32_t> candidates;
  bool violated = false;
  for (std::int64_t k = 0; k < c; ++k)
    if (g[k] > lowest && !member[static_cast<std::size_t>(k)]) {
      candidates.push_back(static_cast<std::int32_t>(k));
      violated = violated || g[k] > threshold;
    }
  for (auto a : set.atoms) member[static_cast<std::size_t>(a)] = 0;
  set.violators = static_cast<std::int64_t>(candidates.size());
  if (!violated) return false;
  const auto take = std::min<std::size_t>(candidates.size(), static_cast<std::size_t>(most));
  // The largest first, ties by index, so that the set (and so the code) is the same
  // whatever the algorithm's own order.
  const auto larger = [g](std::int32_t a, std::int32_t b) { return g[a] > g[b] || (g[a] == g[b] && a < b); };
  if (take < candidates.size())
    std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(take), candidates.end(), larger);
  candidates.resize(take);
  std::sort(candidates.begin(), candidates.end(), larger);
  grow(set, candidates);
  return true;
}

GapTerms CpuWorkingSet::residual_of(RowSet& set, const float* z, double* r64) const {
  const std::int64_t d = atoms_.cols;
  std::copy(z, z + d, r64);
  GapTerms t;
  thread_local std::vector<double> weights;
  thread_local std::vector<const float*> rows;
  weights.clear();
  rows.clear();
  for (std::size_t x = 0; x < set.atoms.size(); ++x) {
    const auto wx = static_cast<double>(static_cast<float>(set.w[x]));  // the weights as stored
    set.w[x] = wx;
    t.sum_w += wx;
    if (wx == 0) continue;
    weights.push_back(wx);
    rows.push_back(atoms_.row(set.atoms[x]));
  }
  subtract_combination(r64, weights, rows, d);
  for (std::int64_t y = 0; y < d; ++y) {
    t.rr += r64[y] * r64[y];
    t.rz += r64[y] * z[y];
  }
  return t;
}

void CpuWorkingSet::store(RowProblem& p, std::int64_t row, const RowSet& set, const Certificate& cert, double l1,
                          bool at_limit) const {
  RowCode& code = (*p.codes)[static_cast<std::size_t>(row)];
  code.atoms.clear();
  code.weights.clear();
  for (std::size_t x = 0; x < set.atoms.size(); ++x)
    if (set.w[x] > 0) code.atoms.push_back(set.atoms[x]), code.weights.push_back(static_cast<float>(set.w[x]));
  record(p, row, cert, set.passes);
  p.result->l1[static_cast<std::size_t>(row)] = static_cast<float>(l1);
  p.result->at_limit[static_cast<std::size_t>(row)] = at_limit ? 1 : 0;
}

float CpuWorkingSet::gram_pass(const RowSet& set, const float* b, const float* z, float* g,
                               std::int64_t max_support) const {
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  if (gram_rows_.capacity() < c) return -1;
  std::vector<std::int32_t> support;
  for (std::size_t x = 0; x < set.atoms.size(); ++x)
    if (set.w[x] > 0) support.push_back(set.atoms[x]);
  if (support.empty() || static_cast<std::int64_t>(support.size()) > max_support || !gram_rows_.fetch(support.data(), support.size()))
    return -1;
  thread_local std::vector<double> sum;
  sum.assign(b, b + c);
  thread_local std::vector<double> weights;
  thread_local std::vector<const float*> rows;
  weights.clear();
  rows.clear();
  double weighted_norms = 0;
  for (std::size_t x = 0; x < set.atoms.size(); ++x) {
    const double wx = set.w[x];
    if (!(wx > 0)) continue;
    weighted_norms += wx * atom_norms_[static_cast<std::size_t>(set.atoms[x])];
    weights.push_back(wx);
    rows.push_back(gram_rows_.row(set.atoms[x]));
  }
  subtract_combination(sum.data(), weights, rows, c);
  for (std::int64_t k = 0; k < c; ++k) g[k] = static_cast<float>(sum[static_cast<std::size_t>(k)]);
  double zz = 0;
  for (std::int64_t y = 0; y < d; ++y) zz += static_cast<double>(z[y]) * z[y];
  return static_cast<float>(2.0 * rules::gram_pass_error(d, max_atom_norm_, std::sqrt(zz) * (1 + 1e-6),
                                                         weighted_norms * (1 + 1e-6)));
}

const std::vector<const float*>& CpuWorkingSet::whole_gram_rows() const {
  std::call_once(whole_gram_once_, [this] {
    std::vector<std::int32_t> all(static_cast<std::size_t>(atoms_.rows));
    std::iota(all.begin(), all.end(), 0);
    // The first call fills them all by GEMMs (solve_rows asks before any row is solved).
    if (!gram_rows_.fetch_all() && !gram_rows_.fetch(all.data(), all.size())) return;  // cannot fail: the whole matrix fits
    whole_gram_rows_.resize(all.size());
    for (auto a : all) whole_gram_rows_[static_cast<std::size_t>(a)] = gram_rows_.row(a);
  });
  return whole_gram_rows_;
}

Certificate CpuWorkingSet::certify_alone(RowSet& set, const float* b_row, const float* z, float* g, double l1) const {
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  std::vector<double> r64(static_cast<std::size_t>(d));
  GapTerms t = residual_of(set, z, r64.data());
  // Against a matrix-vector product (which reads the whole dictionary), the Gram
  // rows pay up to supports of half the dimension.
  const float bound = gram_pass(set, b_row, z, g, d / 2);
  if (bound >= 0) {
    t.max_g = certified_max(g, c, r64.data(), atoms_.data, d, bound);
  } else {
    const std::vector<float> r(r64.begin(), r64.end());  // the product only needs it in float32
    gemv_ax(atoms_.data, r.data(), g, c, d);
    t.max_g = certified_max(g, c, r64.data(), atoms_.data, d);
  }
  return certify(t, l1);
}

void CpuWorkingSet::solve_whole(RowProblem& p, std::int64_t row, RowSet& set, ActiveSetLasso& solver) const {
  const std::int64_t c = atoms_.rows;
  const double l1 = options_.l1;
  const float* b_row = p.b.row(row);
  const float* z = p.z.row(row);
  const std::vector<const float*>& rows = whole_gram_rows();
  std::vector<double> b(b_row, b_row + c), w(static_cast<std::size_t>(c), 0.0);
  std::vector<float> g(static_cast<std::size_t>(c));
  for (std::size_t x = 0; x < set.atoms.size(); ++x) w[static_cast<std::size_t>(set.atoms[x])] = set.w[x];
  const GramRowsLasso problem{nullptr, b.data(), c, l1, 0, rows.data(), max_atom_norm_};
  const int max_steps = static_cast<int>(kStepsPerAtom * c + 100);
  for (bool first = true;; first = false) {
    if (first)
      solver.solve(problem, w.data(), max_steps);
    else
      solver.resume(problem, w.data(), max_steps);
    set.atoms.clear();
    set.w.clear();
    for (std::int64_t a = 0; a < c; ++a)
      if (w[static_cast<std::size_t>(a)] > 0) {
        set.atoms.push_back(static_cast<std::int32_t>(a));
        set.w.push_back(w[static_cast<std::size_t>(a)]);
      }
    const Certificate cert = certify_alone(set, b_row, z, g.data(), l1);
    // The weights as stored carry on (one rounded to zero leaves the passive set).
    for (std::size_t x = 0; x < set.atoms.size(); ++x) w[static_cast<std::size_t>(set.atoms[x])] = set.w[x];
    ++set.rounds;
    ++set.passes;
    if (cert.converged(options_.tol) || set.rounds >= options_.max_rounds)
      return store(p, row, set, cert, l1, !cert.converged(options_.tol));
  }
}

void CpuWorkingSet::solve_alone(RowProblem& p, std::int64_t row, RowSet& set, ActiveSetLasso& solver,
                                std::vector<std::uint8_t>& member) const {
  const std::int64_t c = atoms_.rows;
  const double l1 = options_.l1;
  const float* b_row = p.b.row(row);
  std::vector<double> b;
  std::vector<float> g(static_cast<std::size_t>(c));
  for (bool first = true;; first = false) {
    const auto k = static_cast<std::int64_t>(set.atoms.size());
    b.resize(static_cast<std::size_t>(k));
    for (std::int64_t x = 0; x < k; ++x) b[static_cast<std::size_t>(x)] = b_row[set.atoms[static_cast<std::size_t>(x)]];
    const GramLasso problem{set.gram.get(), b.data(), k, l1, set.gram_ld};
    const int max_steps = static_cast<int>(kStepsPerAtom * k + 100);
    if (first)
      solver.solve(problem, set.w.data(), max_steps);
    else
      solver.resume(problem, set.w.data(), max_steps);
    const Certificate cert = certify_alone(set, b_row, p.z.row(row), g.data(), l1);
    ++set.rounds;
    ++set.passes;
    if (cert.converged(options_.tol) || set.rounds >= options_.max_rounds)
      return store(p, row, set, cert, l1, !cert.converged(options_.tol));
    add_violators(set, g.data(), std::max<std::int64_t>(kGrowth, k), l1, true, member);
  }
}

void CpuWorkingSet::solve_set(RowSet& set, const float* b_row, ActiveSetLasso& solver) const {
  const auto k = static_cast<std::int64_t>(set.atoms.size());
  std::vector<double> b(static_cast<std::size_t>(k));
  for (std::int64_t x = 0; x < k; ++x) b[static_cast<std::size_t>(x)] = b_row[set.atoms[static_cast<std::size_t>(x)]];
  const int max_steps = static_cast<int>(kStepsPerAtom * k + 100);
  solver.solve(GramLasso{set.gram.get(), b.data(), k, lambda(set, set.grid), set.gram_ld}, set.w.data(), max_steps);
  if (options_.l0 <= 0 || support(set.w) > options_.l0) return;
  std::vector<double> next;
  const double start = lambda(set, set.grid);
  while (rules::walk_goes_on(set.max_correlation, options_.l0_ratio, set.grid, start, set.beyond)) {
    next = set.w;
    solver.solve(GramLasso{set.gram.get(), b.data(), k, lambda(set, set.grid + 1), set.gram_ld}, next.data(), max_steps);
    // A set its solution fills is too small to tell how many atoms the row wants.
    if (support(next) > options_.l0 || support(next) >= k) return;
    set.w.swap(next);
    ++set.grid;
  }
}

void CpuWorkingSet::solve_rows(RowProblem& p) {
  // One parallel loop for the whole call: each thread takes whole blocks of rows,
  // rounds included (single-threaded BLAS), as they come. A thread the machine's load
  // holds back takes fewer blocks instead of stalling the others at a barrier; about
  // eight blocks per thread balance the rows that need more rounds.
  // The first pass B = Z C^T goes by slabs of consecutive blocks, each computed by the
  // first thread to take one of its blocks: a GEMM packs the whole dictionary, which
  // costs as much as a small block's products. Blocks are taken from the slabs in
  // turn, so threads start on different slabs and seldom wait for one.
  const auto n = static_cast<std::int64_t>(p.rows.size());
  if (whole_gram_fits()) whole_gram_rows();  // all of G by GEMMs, outside the rows' loop
  const std::int64_t threads = omp_get_max_threads();
  const std::int64_t block =
      threads == 1 ? std::min(n, kBlockRows)
                   : std::clamp<std::int64_t>((n + 8 * threads - 1) / (8 * threads), kMinBlockRows, kBlockRows);
  const std::int64_t blocks = (n + block - 1) / block;
  const std::int64_t per_slab = std::max<std::int64_t>(1, kPassRows / block);
  const std::int64_t slabs = (blocks + per_slab - 1) / per_slab;
  std::vector<std::int64_t> order;
  for (std::int64_t i = 0; i < per_slab; ++i)
    for (std::int64_t s = 0; s < slabs; ++s)
      if (s * per_slab + i < blocks) order.push_back(s * per_slab + i);
  std::unique_ptr<std::atomic<int>[]> slab_state(new std::atomic<int>[static_cast<std::size_t>(slabs)]);
  for (std::int64_t s = 0; s < slabs; ++s) slab_state[static_cast<std::size_t>(s)].store(kSlabAbsent);
  const auto blocks_in_order = static_cast<std::int64_t>(order.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::int64_t i = 0; i < blocks_in_order; ++i) {
    const std::int64_t b = order[static_cast<std::size_t>(i)], s = b / per_slab;
    std::atomic<int>& state = slab_state[static_cast<std::size_t>(s)];
    int absent = kSlabAbsent;
    if (state.compare_exchange_strong(absent, kSlabPending)) {
      const std::int64_t first = s * per_slab * block;
      correlate(p, p.rows[static_cast<std::size_t>(first)], std::min(per_slab * block, n - first));
      state.store(kSlabReady, std::memory_order_release);
    } else {
      while (state.load(std::memory_order_acquire) != kSlabReady) std::this_thread::yield();
    }
    solve_block(p, p.rows.data() + b * block, std::min(block, n - b * block));
  }
}

void CpuWorkingSet::solve_block(RowProblem& p, const std::int64_t* rows, std::int64_t n_rows) {
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  const bool target = options_.l0 > 0;
  std::vector<RowSet> sets(static_cast<std::size_t>(n_rows));
  std::vector<std::uint8_t> member(static_cast<std::size_t>(c), 0);
  ActiveSetLasso solver;
  std::vector<std::int64_t> active;
  for (std::int64_t i = 0; i < n_rows; ++i) {
    RowSet& set = sets[static_cast<std::size_t>(i)];
    const float* b = p.b.row(rows[i]);
    set.max_correlation = max_of(b, c);
    if (!solve_needed(p, rows[i], static_cast<float>(set.max_correlation))) continue;
    set.grid = target ? 1 : 0;
    // Target sparsity starts from the 2K best-correlated atoms, so that the set's
    // own walk down the grid stops near K atoms rather than on the set's size.
    if (target)
      add_violators(set, b, std::max<std::int64_t>(kInitialSet, 2 * options_.l0), 0.0, false, member);
    else
      add_violators(set, b, kInitialSet, options_.l1, false, member);
    if (!target && goes_whole(set, kFirstPassWholeFraction)) {
      solve_whole(p, rows[i], set, solver);
      set = RowSet{};
      continue;
    }
    active.push_back(i);
  }

  std::vector<float> r, g;
  std::vector<GapTerms> terms;
  std::vector<double> r64;
  std::vector<float> margin, gemm_out;
  std::vector<std::int64_t> gemm_row;
  while (!active.empty()) {
    const auto na = static_cast<std::int64_t>(active.size());
    gemm_row.resize(static_cast<std::size_t>(na));
    r.resize(static_cast<std::size_t>(na * d));
    g.resize(static_cast<std::size_t>(na * c));
    terms.resize(static_cast<std::size_t>(na));
    r64.resize(static_cast<std::size_t>(na * d));
    margin.assign(static_cast<std::size_t>(na), -1.0f);  // -1: a GEMM row (the usual margin)
    std::int64_t by_gemm = 0;
    for (std::int64_t j = 0; j < na; ++j) {
      RowSet& set = sets[static_cast<std::size_t>(active[static_cast<std::size_t>(j)])];
      const std::int64_t row = rows[active[static_cast<std::size_t>(j)]];
      solve_set(set, p.b.row(row), solver);
      double* r64_row = r64.data() + j * d;
      terms[static_cast<std::size_t>(j)] = residual_of(set, p.z.row(row), r64_row);
      // Against the block's GEMM, the Gram rows pay for small supports only.
      const float bound = gram_pass(set, p.b.row(row), p.z.row(row), g.data() + j * c, d / 8);
      if (bound >= 0) {
        margin[static_cast<std::size_t>(j)] = bound;
        continue;
      }
      // The GEMM's rows come first; they move to their place after it.
      std::copy(r64_row, r64_row + d, r.begin() + by_gemm * d);  // the GEMM only needs it in float32
      gemm_row[static_cast<std::size_t>(by_gemm++)] = j;
    }
    if (by_gemm > 0) {
      gemm_out.resize(static_cast<std::size_t>(by_gemm * c));
      gemm_abt(r.data(), atoms_.data, gemm_out.data(), by_gemm, c, d, 1.0f, 0.0f);
      for (std::int64_t i = 0; i < by_gemm; ++i)
        std::copy_n(gemm_out.begin() + i * c, c, g.begin() + gemm_row[static_cast<std::size_t>(i)] * c);
    }

    std::vector<std::uint8_t> done(static_cast<std::size_t>(na), 0);
    {
      for (std::int64_t j = 0; j < na; ++j) {
        const std::int64_t local = active[static_cast<std::size_t>(j)];
        RowSet& set = sets[static_cast<std::size_t>(local)];
        const std::int64_t row = rows[local];
        const double l1 = lambda(set, set.grid);
        GapTerms t = terms[static_cast<std::size_t>(j)];
        const float* gj = g.data() + j * c;
        const float row_margin = margin[static_cast<std::size_t>(j)];
        t.max_g = row_margin >= 0 ? certified_max(gj, c, r64.data() + j * d, atoms_.data, d, row_margin)
                                  : certified_max(gj, c, r64.data() + j * d, atoms_.data, d);
        const Certificate cert = certify(t, l1);
        ++set.rounds;
        ++set.passes;

        RowCode& code = (*p.codes)[static_cast<std::size_t>(row)];
        const auto finish = [&](const Certificate& final_cert, double final_l1, bool at_limit) {
          record(p, row, final_cert, set.passes);
          p.result->l1[static_cast<std::size_t>(row)] = static_cast<float>(final_l1);
          p.result->at_limit[static_cast<std::size_t>(row)] = at_limit ? 1 : 0;
          done[static_cast<std::size_t>(j)] = 1;
        };
        const auto finish_current = [&](const Certificate& final_cert, double final_l1, bool at_limit) {
          store(p, row, set, final_cert, final_l1, at_limit);
          done[static_cast<std::size_t>(j)] = 1;
        };
        const auto finish_best = [&](bool at_limit) {  // l0: the last certified grid point with at most K atoms
          code.atoms = set.best_atoms;
          code.weights = set.best_weights;
          if (set.best_grid > 0) return finish(set.best_cert, lambda(set, set.best_grid), at_limit);
          GapTerms zero = residual_terms(p.z.row(row), p.z.row(row), d);  // w = 0 at lambda_max
          zero.max_g = set.max_correlation;
          finish(certify(zero, lambda(set, 0)), lambda(set, 0), at_limit);
        };
        const bool out_of_rounds =
            set.rounds >= options_.max_rounds || (target && set.passes >= rules::kGridPassesPerRound * options_.max_rounds);
        if (!cert.converged(options_.tol) || (target && out_of_rounds)) {
          if (out_of_rounds) {
            if (target)
              finish_best(true);
            else
              finish_current(cert, l1, true);
            set = RowSet{};
            continue;
          }
          prune(set);
          // The set at least doubles while violators remain, so large supports take few passes.
          add_violators(set, gj, std::max<std::int64_t>(kGrowth, static_cast<std::int64_t>(set.atoms.size())), l1, true,
                        member);
          // l0: the set keeps 2K atoms (the best-correlated), so its walk can exceed K.
          const auto wanted = 2 * static_cast<std::int64_t>(options_.l0);
          if (target && static_cast<std::int64_t>(set.atoms.size()) < wanted)
            add_violators(set, gj, wanted - static_cast<std::int64_t>(set.atoms.size()), 0.0, false, member);
          if (!target && goes_whole(set)) {
            solve_whole(p, row, set, solver);
            done[static_cast<std::size_t>(j)] = 1;
            set = RowSet{};
          } else if (!target && static_cast<std::int64_t>(set.atoms.size()) > kAloneAtoms) {
            solve_alone(p, row, set, solver, member);
            done[static_cast<std::size_t>(j)] = 1;
            set = RowSet{};
          }
          continue;
        }
        if (!target) {
          finish_current(cert, l1, false);
          set = RowSet{};
          continue;
        }
        const bool within = support(set.w) <= options_.l0;
        switch (rules::after_certified_grid_point(within, last_grid_point(set), set.grid, set.best_grid)) {
          case rules::GridStep::Next:
            set.best_grid = set.grid;
            set.best_cert = cert;
            set.best_atoms.clear();
            set.best_weights.clear();
            for (std::size_t x = 0; x < set.atoms.size(); ++x)
              if (set.w[x] > 0) set.best_atoms.push_back(set.atoms[x]), set.best_weights.push_back(static_cast<float>(set.w[x]));
            ++set.grid;
            set.rounds = 0;
            continue;
          case rules::GridStep::Back:
            set.beyond = set.grid;
            set.grid = rules::grid_back(set.grid, set.best_grid);
            set.rounds = 0;
            continue;
          case rules::GridStep::FinishBest:
            finish_best(false);
            break;
          case rules::GridStep::GridEnd:
            finish_current(cert, l1, true);
            break;
        }
        set = RowSet{};
      }
    }
    std::vector<std::int64_t> next;
    for (std::int64_t j = 0; j < na; ++j)
      if (!done[static_cast<std::size_t>(j)]) next.push_back(active[static_cast<std::size_t>(j)]);
    active.swap(next);
  }
}

}  // namespace

std::unique_ptr<Decomposer> make_cpu_working_set(MatrixView<const float> atoms, const SolveOptions& options) {
  return std::make_unique<CpuWorkingSet>(atoms, options);
}

}  // namespace concise::cpu
