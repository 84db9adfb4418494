// The working set on the GPU, the twin of the CPU fast path (cpu_working_set.cpp) under
// the same rules (concise/solvers/rules.hpp) and certificate. Per pass, for every
// active row of a batch: the residual from its set (float64), one correlation GEMM
// g = C r (FP32, or TF32 with the atoms near a decision recomputed: gpu_tf32), the
// certified gap on the device; rows that are certified leave, the others
// drop their zero weights, take the best-ranked violators (deterministically), grow
// their Gram block from the new atoms, and solve their set by coordinate descent.
// Each row holds at most its own capacity of atoms, so its code never depends on the
// rows beside it (the batch's buffers are as wide as the widest row), and a Gram block
// of that width: no c x c matrix, so c = 200k fits. Every row progresses or stops with
// its honest gap, marked at limit (concise/cuda/ws_rules.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "concise/core/error.hpp"
#include "concise/cuda/keep_flagged.hpp"
#include "concise/cuda/ws_rules.hpp"
#include "cuda_batch_solver.hpp"
#include "ws_kernels.cuh"

namespace concise::cuda {

namespace {

// One row's code, gathered from its set when the row leaves.
struct RowCode {
  std::vector<std::int32_t> atoms;
  std::vector<float> weights;
};

// A row's set at one capacity, on the device.
struct SetBuffers {
  DeviceBuffer<int> atoms, size;
  DeviceBuffer<float> weights, b, gram;
  int capacity = 0;

  void resize(std::int64_t rows, int new_capacity) {
    capacity = new_capacity;
    const auto k = static_cast<std::size_t>(new_capacity), n = static_cast<std::size_t>(std::max<std::int64_t>(rows, 1));
    atoms.resize(n * k);
    weights.resize(n * k);
    b.resize(n * k);
    gram.resize(n * k * k);
    size.resize(n);
  }
  ws::Sets view() { return {atoms.data(), weights.data(), b.data(), gram.data(), size.data(), capacity}; }
};

// Target sparsity (l0): a row's walk down its lambda grid (rules::grid_lambda), as
// the CPU fast path walks it.
struct GridRow {
  double max_correlation = 0;  // max_k (C z)_k, from the first pass
  double zz = 0;               // ||z||^2, the objective of w = 0
  int grid = 0, best_grid = 0, rounds = 0, passes = 0;
  int beyond = std::numeric_limits<int>::max();  // the last grid point certified beyond K
  Certificate best_cert;
  RowCode best;  // the code at best_grid (empty at 0: w = 0 at lambda_max)
};

// How a row leaves the batch after a pass.
enum class Leave : std::uint8_t { Stays, Current, Best };

class CudaWorkingSet final : public CudaBatchSolver {
 public:
  CudaWorkingSet(MatrixView<const float> atoms, const SolveOptions& options, int device)
      : CudaBatchSolver(atoms, options, device, options.gpu_tf32 ? "ws-tf32" : "ws"),
        max_atom_norm_(largest_norm(atoms)) {
    if (options.l0 > 0 && options.gpu_tf32)
      throw InputError("the TF32 pass does not serve target sparsity (l0): its candidates are every atom of "
                       "positive correlation, so nearly half the dictionary would be recomputed each pass");
    if (options.l0 > ws::kMaxTargetAtoms)
      throw InputError("target sparsity on the GPU takes at most " + std::to_string(ws::kMaxTargetAtoms) +
                       " atoms per row, got l0 = " + std::to_string(options.l0) + ": pass --device cpu");
  }

 private:
  std::int64_t bytes_per_row() const override {
    return ws::bytes_per_row(c_, d_, ws::initial_capacity(options_.l0));
  }
  void keep_solver_rows(std::int64_t) override {}  // solve_batch compacts its own buffers
  void solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) override;

  bool target() const { return options_.l0 > 0; }
  // Runs select_atoms on the rows flagged in `act` and returns their status (added,
  // violated); the rows not flagged get 0, 0 (their status on the device is kept).
  std::vector<int> select(const std::vector<std::uint8_t>& act, bool first_pass);
  // The batch's buffers at `capacity` for the active rows, when the GPU's memory holds them.
  bool grow_capacity(int capacity);
  // The rows flagged in `needs` filled their sets with violators left: they take the
  // next capacity and select again. Without memory for it they add nothing this pass
  // and try again on the next, when fewer rows hold memory (or stop at max_rounds).
  void make_room(const std::vector<std::uint8_t>& needs);
  // The codes of the sets at these active positions, by atom.
  std::vector<RowCode> download_codes(const std::vector<int>& positions);
  // Records the rows that leave (their set's code, or their best grid point's) in
  // codes_ and result.
  void record_leaving(const std::vector<Leave>& leave, const std::vector<std::uint8_t>& at_limit, int pass,
                      std::int64_t first, SolveResult& result);
  void compact(const std::vector<std::uint8_t>& keep);
  // The decisions of one target-sparsity row after its pass's certificate.
  Leave grid_decision(std::size_t i, int pass, bool converged, std::vector<std::uint8_t>& selects,
                      std::vector<int>& new_best, std::vector<std::uint8_t>& at_limit);
  // A target-sparsity row whose grid point holds more than K atoms: back towards its
  // best point (rules::grid_back), or the best is the answer.
  Leave beyond_target(std::size_t i);
  // The lambda of an active row's next certificate and solve: the options', or its grid
  // point's. Before its first pass a target-sparsity row has grid 0 and max_k (C z)_k
  // still 0, so its lambda is 0 (w = 0 certified at lambda 0 finds lambda_max).
  double row_lambda(std::size_t i) const {
    return target() ? rules::grid_lambda(walk_[i].max_correlation, options_.l0_ratio, walk_[i].grid) : options_.l1;
  }
  void upload_lambdas();

  // An upper bound of the atoms' norms, for the TF32 pass's bound.
  static double largest_norm(MatrixView<const float> atoms);
  // g = C r for the m active rows: FP32, or TF32 then refined (SolveOptions::gpu_tf32).
  void correlate(std::int64_t m, bool first_pass);

  double max_atom_norm_;
  SetBuffers sets_, spare_sets_;
  DeviceBuffer<double> terms_, certificates_, l1_rows_, max_correlation_;
  DeviceBuffer<std::uint8_t> converged_, act_;
  DeviceBuffer<int> status_, atoms_spare_, size_spare_, status_spare_, leaving_, leaving_atoms_, leaving_size_, grid_,
      beyond_, row_capacity_;
  DeviceBuffer<float> sweep_tol_, leaving_weights_, set_spare_, gram_spare_;
  PinnedBuffer<double> host_certificates_;
  PinnedBuffer<std::uint8_t> host_converged_;
  // Per active row, compacted with the rows:
  std::vector<float> tol_;      // sweep tolerance
  std::vector<int> capacity_;   // the most atoms the row's set may hold
  std::vector<GridRow> walk_;   // l0 only
  std::vector<RowCode> codes_;  // per batch row
};

double CudaWorkingSet::largest_norm(MatrixView<const float> atoms) {
  double largest = 0;
  for (std::int64_t k = 0; k < atoms.rows; ++k) {
    double sum = 0;
    for (std::int64_t i = 0; i < atoms.cols; ++i) sum += static_cast<double>(atoms.row(k)[i]) * atoms.row(k)[i];
    largest = std::max(largest, sum);
  }
  return std::sqrt(largest) * (1 + 1e-6);
}

void CudaWorkingSet::correlate(std::int64_t m, bool first_pass) {
  const float one = 1.0f, zero = 0.0f;
  const auto c = static_cast<int>(c_), d = static_cast<int>(d_), rows = static_cast<int>(m);
  // Row-major G (m x c) = R C^T, as column-major G^T = C R^T.
  if (!options_.gpu_tf32) {
    CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, c, rows, d, &one, atoms_.data(), d,
                                   r_.data(), d, &zero, g_.data(), c));
    return;
  }
  CONCISE_CUDA_CHECK(cublasGemmEx(ctx_.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, c, rows, d, &one, atoms_.data(), CUDA_R_32F,
                                  d, r_.data(), CUDA_R_32F, d, &zero, g_.data(), CUDA_R_32F, c,
                                  CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
  ws::refine_correlations(g_.data(), r_.data(), atoms_.data(), terms_.data(), m, c_, d_, l1_rows_.data(),
                          options_.l0, first_pass, max_atom_norm_, ctx_.compute.get());
}

void CudaWorkingSet::upload_lambdas() {
  std::vector<double> lambdas(static_cast<std::size_t>(active_));
  for (std::size_t i = 0; i < lambdas.size(); ++i) lambdas[i] = row_lambda(i);
  l1_rows_.resize(lambdas.size());
  upload_now(l1_rows_.data(), lambdas.data(), lambdas.size(), ctx_.compute);
}

std::vector<int> CudaWorkingSet::select(const std::vector<std::uint8_t>& act, bool first_pass) {
  const Stream& stream = ctx_.compute;
  act_.resize(act.size());
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(act_.data(), act.data(), act.size(), cudaMemcpyHostToDevice, stream.get()));
  row_capacity_.resize(capacity_.size());
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(row_capacity_.data(), capacity_.data(), capacity_.size() * sizeof(int),
                                     cudaMemcpyHostToDevice, stream.get()));
  ws::select_atoms(g_.data(), sets_.view(), row_capacity_.data(), active_, c_, l1_rows_.data(), options_.l0,
                   first_pass, act_.data(), status_.data(), stream.get());
  std::vector<int> status(static_cast<std::size_t>(2 * active_));
  download_now(status.data(), status_.data(), status.size(), stream);
  for (std::size_t i = 0; i < act.size(); ++i)
    if (!act[i]) status[2 * i] = status[2 * i + 1] = 0;
  return status;
}

bool CudaWorkingSet::grow_capacity(int capacity) {
  const auto needed = static_cast<std::size_t>(active_ * ws::set_bytes(capacity));
  std::size_t free_bytes = 0, total_bytes = 0;
  CONCISE_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (needed > free_bytes / 10 * 8) return false;
  try {
    spare_sets_.resize(active_, capacity);
  } catch (const Error& e) {
    // Memory taken meanwhile (another process on the GPU): as when the check above
    // refuses. A failed allocation leaves the context usable.
    if (reports_lost_context(e.what())) throw;
    spare_sets_ = SetBuffers{};
    return false;
  }
  ws::restride(sets_.view(), spare_sets_.view(), active_, ctx_.compute.get());
  ctx_.compute.synchronize();
  std::swap(sets_, spare_sets_);
  spare_sets_ = SetBuffers{};  // the narrower buffers: memory the next growth may need
  return true;
}

void CudaWorkingSet::make_room(const std::vector<std::uint8_t>& needs) {
  int widest = 0;
  for (std::size_t i = 0; i < needs.size(); ++i)
    if (needs[i]) widest = std::max(widest, ws::next_capacity(capacity_[i]));
  if (widest == 0 || (widest > sets_.capacity && !grow_capacity(widest))) return;
  for (std::size_t i = 0; i < needs.size(); ++i)
    if (needs[i]) capacity_[i] = ws::next_capacity(capacity_[i]);
  select(needs, false);
}

std::vector<RowCode> CudaWorkingSet::download_codes(const std::vector<int>& positions) {
  std::vector<RowCode> codes(positions.size());
  if (positions.empty()) return codes;
  const Stream& stream = ctx_.compute;
  const auto m = static_cast<std::int64_t>(positions.size());
  const int k = sets_.capacity;  // the buffers' stride
  leaving_.resize(positions.size());
  leaving_atoms_.resize(static_cast<std::size_t>(m * k));
  leaving_weights_.resize(static_cast<std::size_t>(m * k));
  leaving_size_.resize(positions.size());
  upload_now(leaving_.data(), positions.data(), positions.size(), stream);
  kernels::gather_rows(sets_.atoms.data(), leaving_.data(), leaving_atoms_.data(), m, k, stream.get());
  kernels::gather_rows(sets_.weights.data(), leaving_.data(), leaving_weights_.data(), m, k, stream.get());
  kernels::gather_rows(sets_.size.data(), leaving_.data(), leaving_size_.data(), m, 1, stream.get());
  std::vector<int> atoms(static_cast<std::size_t>(m * k)), sizes(positions.size());
  std::vector<float> weights(atoms.size());
  download_now(atoms.data(), leaving_atoms_.data(), atoms.size(), stream);
  download_now(weights.data(), leaving_weights_.data(), weights.size(), stream);
  download_now(sizes.data(), leaving_size_.data(), sizes.size(), stream);
  for (std::int64_t j = 0; j < m; ++j) {
    std::vector<std::pair<std::int32_t, float>> entries;
    for (int x = 0; x < sizes[static_cast<std::size_t>(j)]; ++x) {
      const float w = weights[static_cast<std::size_t>(j * k + x)];
      if (w > 0.0f) entries.emplace_back(atoms[static_cast<std::size_t>(j * k + x)], w);
    }
    std::sort(entries.begin(), entries.end());
    RowCode& code = codes[static_cast<std::size_t>(j)];
    for (const auto& [atom, w] : entries) {
      code.atoms.push_back(atom);
      code.weights.push_back(w);
    }
  }
  return codes;
}

void CudaWorkingSet::record_leaving(const std::vector<Leave>& leave, const std::vector<std::uint8_t>& at_limit,
                                    int pass, std::int64_t first, SolveResult& result) {
  std::vector<int> current;
  for (std::size_t i = 0; i < leave.size(); ++i)
    if (leave[i] == Leave::Current) current.push_back(static_cast<int>(i));
  std::vector<RowCode> codes = download_codes(current);
  std::size_t next_current = 0;
  for (std::size_t i = 0; i < leave.size(); ++i) {
    if (leave[i] == Leave::Stays) continue;
    const std::int64_t row = row_ids_[i];
    const auto at = static_cast<std::size_t>(first + row);
    Certificate cert{host_certificates_.data()[ws::kTermsPerRow * i], host_certificates_.data()[ws::kTermsPerRow * i + 1]};
    double l1 = row_lambda(i);
    if (leave[i] == Leave::Current) {
      codes_[static_cast<std::size_t>(row)] = std::move(codes[next_current++]);
    } else {  // the best grid point, or w = 0 at lambda_max
      GridRow& walk = walk_[i];
      codes_[static_cast<std::size_t>(row)] = std::move(walk.best);
      l1 = rules::grid_lambda(walk.max_correlation, options_.l0_ratio, walk.best_grid);
      cert = walk.best_cert;
      if (walk.best_grid == 0) cert = rules::certify(GapTerms{walk.zz, walk.zz, 0.0, walk.max_correlation}, l1);
    }
    result.objective[at] = static_cast<float>(cert.objective);
    result.gap[at] = static_cast<float>(cert.gap);
    result.iterations[at] = pass;
    result.l1[at] = static_cast<float>(l1);
    result.at_limit[at] = at_limit[i];
  }
}

void CudaWorkingSet::compact(const std::vector<std::uint8_t>& keep) {
  keep_flagged(tol_, keep);
  keep_flagged(capacity_, keep);
  if (target()) keep_flagged(walk_, keep);
  if (!select_kept(keep) || active_ == 0) return;
  const std::int64_t remaining = active_;
  const std::int64_t k = sets_.capacity;
  // One spare per width: a spare shared by all of them would come to hold a Gram
  // block's size in every buffer it is swapped into.
  keep_rows(z_, spare_d_, d_, remaining);
  keep_rows(sets_.atoms, atoms_spare_, k, remaining);
  keep_rows(sets_.weights, set_spare_, k, remaining);
  keep_rows(sets_.b, set_spare_, k, remaining);
  keep_rows(sets_.gram, gram_spare_, k * k, remaining);
  keep_rows(sets_.size, size_spare_, 1, remaining);
  keep_rows(status_, status_spare_, 2, remaining);
  ctx_.compute.synchronize();
}

Leave CudaWorkingSet::grid_decision(std::size_t i, int pass, bool converged, std::vector<std::uint8_t>& selects,
                                    std::vector<int>& new_best, std::vector<std::uint8_t>& at_limit) {
  GridRow& walk = walk_[i];
  const double* cert = host_certificates_.data() + ws::kTermsPerRow * i;
  if (pass == 0) {  // w = 0, certified at lambda 0
    walk.zz = cert[0];
    walk.max_correlation = cert[2];
    if (converged) return Leave::Current;  // max_k (C z)_k <= 0: w = 0 at every lambda
    walk.grid = 1;
    selects[i] = 1;
    return Leave::Stays;
  }
  ++walk.rounds;
  ++walk.passes;
  if (walk.rounds >= options_.max_rounds || walk.passes >= rules::kGridPassesPerRound * options_.max_rounds) {
    at_limit[i] = 1;
    return Leave::Best;
  }
  if (!converged) {
    selects[i] = 1;
    return Leave::Stays;
  }
  const bool within = cert[3] <= options_.l0;
  if (!within && !ws::support_count_settled(tol_[i])) {  // solved again at this lambda, tighter
    tol_[i] = ws::kFinestSweepTol;
    return Leave::Stays;
  }
  const bool last_point = rules::grid_ends_before(walk.max_correlation, options_.l0_ratio, walk.grid + 1);
  switch (rules::after_certified_grid_point(within, last_point, walk.grid, walk.best_grid)) {
    case rules::GridStep::Next:
      walk.best_grid = walk.grid;
      walk.best_cert = Certificate{cert[0], cert[1]};
      new_best.push_back(static_cast<int>(i));
      ++walk.grid;
      walk.rounds = 0;
      tol_[i] = ws::kFirstSweepTol;  // a new lambda: its set is solved afresh
      return Leave::Stays;
    case rules::GridStep::Back:
    case rules::GridStep::FinishBest:
      return beyond_target(i);
    case rules::GridStep::GridEnd:
      at_limit[i] = 1;
      return Leave::Current;
  }
  return Leave::Stays;
}

Leave CudaWorkingSet::beyond_target(std::size_t i) {
  GridRow& walk = walk_[i];
  if (rules::after_certified_grid_point(false, false, walk.grid, walk.best_grid) == rules::GridStep::FinishBest)
    return Leave::Best;
  walk.beyond = walk.grid;
  walk.grid = rules::grid_back(walk.grid, walk.best_grid);
  walk.rounds = 0;
  tol_[i] = ws::kFirstSweepTol;
  return Leave::Stays;
}

void CudaWorkingSet::solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) {
  const Stream& stream = ctx_.compute;
  const auto rows = static_cast<std::size_t>(n);
  start_rows(z, n);
  sets_.resize(n, ws::initial_capacity(options_.l0));
  CONCISE_CUDA_CHECK(cudaMemsetAsync(sets_.size.data(), 0, sets_.size.bytes(), stream.get()));
  r_.resize(static_cast<std::size_t>(n * d_));
  g_.resize(static_cast<std::size_t>(n * c_));
  terms_.resize(ws::kTermsPerRow * rows);
  certificates_.resize(ws::kTermsPerRow * rows);
  converged_.resize(rows);
  status_.resize(2 * rows);
  CONCISE_CUDA_CHECK(cudaMemsetAsync(status_.data(), 0, status_.bytes(), stream.get()));
  tol_.assign(rows, ws::kFirstSweepTol);
  capacity_.assign(rows, ws::initial_capacity(options_.l0));
  walk_.assign(target() ? rows : 0, GridRow{});
  codes_.assign(rows, RowCode{});

  for (int pass = 0; active_ > 0; ++pass) {
    const std::int64_t m = active_;
    const auto active = static_cast<std::size_t>(m);
    upload_lambdas();
    ws::set_residuals(z_.data(), atoms_.data(), sets_.view(), m, d_, r_.data(), terms_.data(), stream.get());
    correlate(m, pass == 0);
    ws::certify_rows(g_.data(), r_.data(), atoms_.data(), terms_.data(), m, c_, d_, l1_rows_.data(), options_.tol,
                     max_atom_norm_, certificates_.data(), converged_.data(), stream.get());
    host_certificates_.resize(ws::kTermsPerRow * active);
    host_converged_.resize(active);
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(host_converged_.data(), converged_.data(), active, cudaMemcpyDeviceToHost,
                                       stream.get()));
    download_now(host_certificates_.data(), certificates_.data(), ws::kTermsPerRow * active, stream);

    std::vector<Leave> leave(active, Leave::Stays);
    std::vector<std::uint8_t> at_limit(active, 0), selects(active, 0);
    std::vector<int> new_best;
    for (std::size_t i = 0; i < active; ++i) {
      const bool converged = host_converged_.data()[i] != 0;
      if (target()) {
        leave[i] = grid_decision(i, pass, converged, selects, new_best, at_limit);
      } else if (converged || pass >= options_.max_rounds) {
        leave[i] = Leave::Current;
        at_limit[i] = converged ? 0 : 1;
      } else {
        selects[i] = 1;
      }
    }
    std::vector<RowCode> best = download_codes(new_best);
    for (std::size_t j = 0; j < new_best.size(); ++j)
      walk_[static_cast<std::size_t>(new_best[j])].best = std::move(best[j]);
    // A row that stops early leaves with its current code, or with its best grid point's.
    const Leave stopped = target() ? Leave::Best : Leave::Current;

    std::vector<int> status(2 * active, 0);
    std::vector<std::uint8_t> needs(active, 0);
    if (std::find(selects.begin(), selects.end(), 1) != selects.end()) {
      status = select(selects, pass == 0);
      for (std::size_t i = 0; i < active; ++i) {
        if (!selects[i]) continue;
        const ws::RowStep step = ws::next_step(status[2 * i + 1] != 0, status[2 * i], capacity_[i], tol_[i]);
        if (step == ws::RowStep::NeedCapacity) needs[i] = 1;
        if (step == ws::RowStep::Tighten) tol_[i] = ws::tighter_sweep_tol(tol_[i]);
        if (!ws::stops(step)) continue;
        if (target() && ws::stalled_beyond_target(host_certificates_.data()[ws::kTermsPerRow * i + 3], options_.l0))
          leave[i] = beyond_target(i);
        else
          leave[i] = stopped, at_limit[i] = 1;
      }
    }
    // Rows that stay without a selection (a new grid point) add no atoms.
    upload_now(status_.data(), status.data(), status.size(), stream);
    record_leaving(leave, at_limit, pass, first, result);
    std::vector<std::uint8_t> keep(active);
    for (std::size_t i = 0; i < active; ++i) keep[i] = leave[i] == Leave::Stays ? 1 : 0;
    compact(keep);
    if (active_ == 0) break;
    // After the rows that leave are gone, so that only staying rows take memory.
    keep_flagged(needs, keep);
    make_room(needs);
    sweep_tol_.resize(tol_.size());
    upload_now(sweep_tol_.data(), tol_.data(), tol_.size(), stream);
    ws::GridWalk walk{nullptr, nullptr, nullptr, options_.l0_ratio, options_.l0};
    std::vector<double> max_correlation;
    std::vector<int> grid, beyond;
    if (target()) {
      for (std::size_t i = 0; i < walk_.size(); ++i) {
        max_correlation.push_back(walk_[i].max_correlation);
        grid.push_back(walk_[i].grid);
        beyond.push_back(walk_[i].beyond);
      }
      max_correlation_.resize(max_correlation.size());
      grid_.resize(grid.size());
      beyond_.resize(beyond.size());
      upload_now(max_correlation_.data(), max_correlation.data(), max_correlation.size(), stream);
      upload_now(grid_.data(), grid.data(), grid.size(), stream);
      upload_now(beyond_.data(), beyond.data(), beyond.size(), stream);
      walk.max_correlation = max_correlation_.data();
      walk.grid = grid_.data();
      walk.beyond = beyond_.data();
    }
    upload_lambdas();
    ws::grow_gram(atoms_.data(), z_.data(), sets_.view(), status_.data(), active_, d_, stream.get());
    ws::solve_sets(sets_.view(), active_, l1_rows_.data(), sweep_tol_.data(), walk, stream.get());
    if (target()) {  // the point each set's walk ended on is the next certificate's lambda
      download_now(grid.data(), grid_.data(), grid.size(), stream);
      for (std::size_t i = 0; i < walk_.size(); ++i) walk_[i].grid = grid[i];
    }
  }

  // CSR straight from the sets.
  SparseRows& out = result.codes;
  for (const RowCode& code : codes_) {
    out.indices.insert(out.indices.end(), code.atoms.begin(), code.atoms.end());
    out.data.insert(out.data.end(), code.weights.begin(), code.weights.end());
    out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
  }
}

}  // namespace

std::unique_ptr<Decomposer> make_working_set(MatrixView<const float> atoms, const SolveOptions& options, int device) {
  return std::make_unique<CudaWorkingSet>(atoms, options, device);
}

}  // namespace concise::cuda
