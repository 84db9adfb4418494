// The fast path: one correlation pass, a small working set per row solved exactly
// in Gram form, then a full pass to certify the row (gap) and to grow the set with
// the atoms that violate optimality. Most rows finish in two or three passes.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "cpu_blas.hpp"
#include "cpu_solvers.hpp"
#include "gram_lasso.hpp"

namespace concise::cpu {
namespace {

constexpr std::int64_t kInitialSet = 64;
constexpr std::int64_t kGrowth = 64;
// Atoms just below the violation threshold tend to cross it once the violators
// join; taking them early saves verification passes (one full GEMM each).
constexpr double kNearViolation = 0.05;
constexpr int kMaxSweeps = 20000;

struct RowSet {
  std::vector<std::int32_t> atoms;
  std::vector<double> gram;  // atoms x atoms
  std::vector<double> w;
  double sub_tol = 0;
};

class CpuWorkingSet final : public CpuSolverBase {
 public:
  CpuWorkingSet(MatrixView<const float> atoms, const SolveOptions& options) : CpuSolverBase(atoms, options) {}
  std::string name() const override { return "cpu/ws"; }

 protected:
  void solve_rows(RowProblem& p) override;

 private:
  void grow(RowSet& set, const std::vector<std::int32_t>& added) const;
  // When some atom outside the set violates (C r)_k <= lambda/2, adds the `most` largest
  // atoms with (C r)_k > (1 - margin) lambda/2; false if none violates.
  bool add_violators(RowSet& set, const float* g, std::int64_t most, double margin,
                     std::vector<std::uint8_t>& member) const;
  // Drops the atoms whose weight is zero (they re-enter if they violate again).
  void prune(RowSet& set) const;
};

void CpuWorkingSet::grow(RowSet& set, const std::vector<std::int32_t>& added) const {
  const auto old_k = static_cast<std::int64_t>(set.atoms.size());
  const auto new_k = old_k + static_cast<std::int64_t>(added.size());
  std::vector<double> gram(static_cast<std::size_t>(new_k * new_k));
  for (std::int64_t i = 0; i < old_k; ++i)
    std::copy_n(set.gram.begin() + i * old_k, old_k, gram.begin() + i * new_k);
  set.atoms.insert(set.atoms.end(), added.begin(), added.end());
  set.w.resize(static_cast<std::size_t>(new_k), 0.0);
  // New rows of the Gram block by one small GEMM (OpenBLAS runs it single-threaded
  // inside the solver's OpenMP loop).
  const std::int64_t d = atoms_.cols, added_k = new_k - old_k;
  std::vector<float> gathered(static_cast<std::size_t>(new_k * d)), block(static_cast<std::size_t>(added_k * new_k));
  for (std::int64_t i = 0; i < new_k; ++i)
    std::copy_n(atoms_.row(set.atoms[static_cast<std::size_t>(i)]), d, gathered.begin() + i * d);
  if (old_k == 0)
    gram_aat(gathered.data(), block.data(), new_k, d);
  else
    gemm_abt(gathered.data() + old_k * d, gathered.data(), block.data(), added_k, new_k, d, 1.0f, 0.0f);
  for (std::int64_t i = old_k; i < new_k; ++i)
    for (std::int64_t j = 0; j < new_k; ++j)
      gram[static_cast<std::size_t>(i * new_k + j)] = gram[static_cast<std::size_t>(j * new_k + i)] =
          block[static_cast<std::size_t>((i - old_k) * new_k + j)];
  set.gram.swap(gram);
}

void CpuWorkingSet::prune(RowSet& set) const {
  const auto k = static_cast<std::int64_t>(set.atoms.size());
  std::vector<std::int64_t> keep;
  for (std::int64_t i = 0; i < k; ++i)
    if (set.w[static_cast<std::size_t>(i)] > 0) keep.push_back(i);
  const auto kept = static_cast<std::int64_t>(keep.size());
  if (kept == k) return;
  RowSet smaller;
  smaller.sub_tol = set.sub_tol;
  smaller.gram.resize(static_cast<std::size_t>(kept * kept));
  for (std::int64_t i = 0; i < kept; ++i) {
    smaller.atoms.push_back(set.atoms[static_cast<std::size_t>(keep[static_cast<std::size_t>(i)])]);
    smaller.w.push_back(set.w[static_cast<std::size_t>(keep[static_cast<std::size_t>(i)])]);
    for (std::int64_t j = 0; j < kept; ++j)
      smaller.gram[static_cast<std::size_t>(i * kept + j)] =
          set.gram[static_cast<std::size_t>(keep[static_cast<std::size_t>(i)] * k + keep[static_cast<std::size_t>(j)])];
  }
  set = std::move(smaller);
}

bool CpuWorkingSet::add_violators(RowSet& set, const float* g, std::int64_t most, double margin,
                                  std::vector<std::uint8_t>& member) const {
  const std::int64_t c = atoms_.rows;
  const auto threshold = static_cast<float>(0.5 * options_.l1);
  const auto near = static_cast<float>(0.5 * options_.l1 * (1.0 - margin));
  for (auto a : set.atoms) member[static_cast<std::size_t>(a)] = 1;
  std::vector<std::int32_t> candidates;
  bool violated = false;
  for (std::int64_t k = 0; k < c; ++k)
    if (g[k] > near && !member[static_cast<std::size_t>(k)]) {
      candidates.push_back(static_cast<std::int32_t>(k));
      violated = violated || g[k] > threshold;
    }
  for (auto a : set.atoms) member[static_cast<std::size_t>(a)] = 0;
  if (!violated) return false;
  const auto take = std::min<std::size_t>(candidates.size(), static_cast<std::size_t>(most));
  std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(take), candidates.end(),
                    [g](std::int32_t a, std::int32_t b) { return g[a] > g[b]; });
  candidates.resize(take);
  grow(set, candidates);
  return true;
}

void CpuWorkingSet::solve_rows(RowProblem& p) {
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  const auto n_rows = static_cast<std::int64_t>(p.rows.size());
  std::vector<RowSet> sets(p.rows.size());

#pragma omp parallel
  {
    std::vector<std::uint8_t> member(static_cast<std::size_t>(c), 0);
#pragma omp for schedule(dynamic, 16)
    for (std::int64_t i = 0; i < n_rows; ++i) {
      sets[static_cast<std::size_t>(i)].sub_tol = 0.1 * options_.tol;
      const float* b = p.b.row(p.rows[static_cast<std::size_t>(i)]);
      RowSet& set = sets[static_cast<std::size_t>(i)];
      add_violators(set, b, kInitialSet, 0.0, member);
    }
  }

  std::vector<std::int64_t> active(static_cast<std::size_t>(n_rows));
  std::iota(active.begin(), active.end(), 0);
  std::vector<float> r, g;
  for (int round = 1; round <= options_.max_rounds && !active.empty(); ++round) {
    const auto na = static_cast<std::int64_t>(active.size());
    r.resize(static_cast<std::size_t>(na * d));
    g.resize(static_cast<std::size_t>(na * c));
#pragma omp parallel for schedule(dynamic, 4)
    for (std::int64_t j = 0; j < na; ++j) {
      RowSet& set = sets[static_cast<std::size_t>(active[static_cast<std::size_t>(j)])];
      const std::int64_t row = p.rows[static_cast<std::size_t>(active[static_cast<std::size_t>(j)])];
      const float* z = p.z.row(row);
      const float* b_row = p.b.row(row);
      const auto k = static_cast<std::int64_t>(set.atoms.size());
      std::vector<double> b(static_cast<std::size_t>(k));
      for (std::int64_t x = 0; x < k; ++x) b[static_cast<std::size_t>(x)] = b_row[set.atoms[static_cast<std::size_t>(x)]];
      GramLasso problem{set.gram.data(), b.data(), k, 0.0, options_.l1};
      for (std::int64_t x = 0; x < d; ++x) problem.zz += static_cast<double>(z[x]) * z[x];
      solve_gram_lasso(problem, set.sub_tol, kMaxSweeps, set.w.data());
      std::vector<double> residual(z, z + d);
      for (std::int64_t x = 0; x < k; ++x) {
        const double wx = set.w[static_cast<std::size_t>(x)];
        if (wx == 0) continue;
        const float* a = atoms_.row(set.atoms[static_cast<std::size_t>(x)]);
        for (std::int64_t y = 0; y < d; ++y) residual[static_cast<std::size_t>(y)] -= wx * a[y];
      }
      for (std::int64_t y = 0; y < d; ++y) r[static_cast<std::size_t>(j * d + y)] = static_cast<float>(residual[static_cast<std::size_t>(y)]);
    }
    gemm_abt(r.data(), atoms_.data, g.data(), na, c, d, 1.0f, 0.0f);

    std::vector<std::uint8_t> done(static_cast<std::size_t>(na), 0);
#pragma omp parallel
    {
      std::vector<std::uint8_t> member(static_cast<std::size_t>(c), 0);
#pragma omp for schedule(dynamic, 4)
      for (std::int64_t j = 0; j < na; ++j) {
        const std::int64_t local = active[static_cast<std::size_t>(j)];
        RowSet& set = sets[static_cast<std::size_t>(local)];
        const std::int64_t row = p.rows[static_cast<std::size_t>(local)];
        GapTerms t = residual_terms(p.z.row(row), r.data() + j * d, d);
        for (double wx : set.w) t.sum_w += static_cast<double>(static_cast<float>(wx));
        const float* gj = g.data() + j * c;
        t.max_g = certified_max(gj, c, r.data() + j * d, atoms_.data, d);
        const Certificate cert = certify(t, options_.l1);
        if (cert.converged(options_.tol) || round == options_.max_rounds) {
          record(p, row, cert, round);
          RowCode& code = (*p.codes)[static_cast<std::size_t>(row)];
          code.atoms = set.atoms;
          code.weights.assign(set.w.begin(), set.w.end());
          done[static_cast<std::size_t>(j)] = 1;
          set = RowSet{};
        } else if (prune(set), !add_violators(set, gj, kGrowth, kNearViolation, member)) {
          set.sub_tol = std::max(1e-13, set.sub_tol * 0.01);  // the set is right, solve it tighter
        }
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
