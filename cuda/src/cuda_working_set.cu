// The working set on the GPU, the twin of the CPU fast path (cpu_working_set.cpp) under
// the same rules (concise/solvers/rules.hpp) and certificate. Per pass, for every
// active row of a batch: the residual from its set (float64), one correlation GEMM
// g = C r (FP32, or TF32 with the atoms near a decision recomputed: gpu_tf32), the
// certified gap on the device; rows that are certified leave, the others
// drop their zero weights, take the best-ranked violators (deterministically), grow
// their Gram block from the new atoms, and solve their set by coordinate descent.
// Each row holds at most the batch's capacity of atoms and a capacity x capacity
// Gram block: no c x c matrix, so c = 200k fits. Every row progresses or stops with
// its honest gap, marked at limit (concise/cuda/ws_rules.hpp).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "concise/core/error.hpp"
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

class CudaWorkingSet final : public CudaBatchSolver {
 public:
  CudaWorkingSet(MatrixView<const float> atoms, const SolveOptions& options, int device)
      : CudaBatchSolver(atoms, options, device, options.gpu_tf32 ? "ws-tf32" : "ws"),
        max_atom_norm_(largest_norm(atoms)) {
    if (options.l0 > 0) throw InputError("target sparsity (l0) runs on the CPU for now: pass --device cpu");
  }

 private:
  std::int64_t bytes_per_row() const override { return ws::bytes_per_row(c_, d_, ws::kInitialCapacity); }
  void keep_solver_rows(std::int64_t) override {}  // solve_batch compacts its own buffers
  void solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) override;

  // Runs select_atoms on the rows flagged in `act` and returns their status (added, violated).
  std::vector<int> select(const std::vector<std::uint8_t>& act, bool first_pass);
  // The next capacity for the active rows, when the GPU's free memory holds it.
  bool grow_capacity();
  // Moves the codes of the rows whose keep flag is 0 to codes_ and their numbers to result.
  void record_leaving(const std::vector<std::uint8_t>& keep, const std::vector<std::uint8_t>& at_limit, int pass,
                      std::int64_t first, SolveResult& result);
  void compact(const std::vector<std::uint8_t>& keep);

  // An upper bound of the atoms' norms, for the TF32 pass's bound.
  static double largest_norm(MatrixView<const float> atoms);
  // g = C r for the m active rows: FP32, or TF32 then refined (SolveOptions::gpu_tf32).
  void correlate(std::int64_t m, bool first_pass);

  double max_atom_norm_;
  SetBuffers sets_, spare_sets_;
  DeviceBuffer<double> terms_, certificates_;
  DeviceBuffer<std::uint8_t> converged_, act_;
  DeviceBuffer<int> status_, int_spare_, leaving_, leaving_atoms_, leaving_size_;
  DeviceBuffer<float> sweep_tol_, leaving_weights_;
  PinnedBuffer<double> host_certificates_;
  PinnedBuffer<std::uint8_t> host_converged_;
  std::vector<float> tol_;  // sweep tolerance of each active row
  std::vector<RowCode> codes_;
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
  ws::refine_correlations(g_.data(), r_.data(), atoms_.data(), terms_.data(), m, c_, d_,
                          ws::candidate_threshold(options_.l1, first_pass), max_atom_norm_, ctx_.compute.get());
}

std::vector<int> CudaWorkingSet::select(const std::vector<std::uint8_t>& act, bool first_pass) {
  const Stream& stream = ctx_.compute;
  act_.resize(act.size());
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(act_.data(), act.data(), act.size(), cudaMemcpyHostToDevice, stream.get()));
  ws::select_atoms(g_.data(), sets_.view(), active_, c_, options_.l1, first_pass, act_.data(), status_.data(),
                   stream.get());
  std::vector<int> status(static_cast<std::size_t>(2 * active_));
  download_now(status.data(), status_.data(), status.size(), stream);
  return status;
}

bool CudaWorkingSet::grow_capacity() {
  if (sets_.capacity >= ws::kMaxCapacity) return false;
  const int next = ws::next_capacity(sets_.capacity);
  const auto needed = static_cast<std::size_t>(active_ * ws::set_bytes(next));
  std::size_t free_bytes = 0, total_bytes = 0;
  CONCISE_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (needed > free_bytes / 10 * 8) return false;
  try {
    spare_sets_.resize(active_, next);
  } catch (const Error& e) {
    // Memory taken meanwhile (another process on the GPU): these rows stop with their
    // honest gap, as when the check above refuses. A failed allocation leaves the
    // context usable; its error is cleared so that the next launch check does not see it.
    if (reports_lost_context(e.what())) throw;
    cudaGetLastError();
    return false;
  }
  ws::restride(sets_.view(), spare_sets_.view(), active_, ctx_.compute.get());
  ctx_.compute.synchronize();
  std::swap(sets_, spare_sets_);
  return true;
}

void CudaWorkingSet::record_leaving(const std::vector<std::uint8_t>& keep, const std::vector<std::uint8_t>& at_limit,
                                    int pass, std::int64_t first, SolveResult& result) {
  std::vector<int> positions;
  for (std::size_t i = 0; i < keep.size(); ++i)
    if (!keep[i]) positions.push_back(static_cast<int>(i));
  if (positions.empty()) return;
  const Stream& stream = ctx_.compute;
  const auto m = static_cast<std::int64_t>(positions.size());
  const int k = sets_.capacity;
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
    const auto i = static_cast<std::size_t>(positions[static_cast<std::size_t>(j)]);
    const std::int64_t row = row_ids_[i];
    RowCode& code = codes_[static_cast<std::size_t>(row)];
    code = RowCode{};
    std::vector<std::pair<std::int32_t, float>> entries;
    for (int x = 0; x < sizes[static_cast<std::size_t>(j)]; ++x) {
      const float w = weights[static_cast<std::size_t>(j * k + x)];
      if (w > 0.0f) entries.emplace_back(atoms[static_cast<std::size_t>(j * k + x)], w);
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& [atom, w] : entries) {
      code.atoms.push_back(atom);
      code.weights.push_back(w);
    }
    const auto at = static_cast<std::size_t>(first + row);
    result.objective[at] = static_cast<float>(host_certificates_.data()[2 * i]);
    result.gap[at] = static_cast<float>(host_certificates_.data()[2 * i + 1]);
    result.iterations[at] = pass;
    result.l1[at] = static_cast<float>(options_.l1);
    result.at_limit[at] = at_limit[i];
  }
}

void CudaWorkingSet::compact(const std::vector<std::uint8_t>& keep) {
  std::vector<float> staying_tol;
  for (std::size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) staying_tol.push_back(tol_[i]);
  tol_.swap(staying_tol);
  if (!select_kept(keep) || active_ == 0) return;
  const std::int64_t remaining = active_;
  const std::int64_t k = sets_.capacity;
  keep_rows(z_, spare_, d_, remaining);
  keep_rows(sets_.atoms, int_spare_, k, remaining);
  keep_rows(sets_.weights, spare_, k, remaining);
  keep_rows(sets_.b, spare_, k, remaining);
  keep_rows(sets_.gram, spare_, k * k, remaining);
  keep_rows(sets_.size, int_spare_, 1, remaining);
  keep_rows(status_, int_spare_, 2, remaining);
  ctx_.compute.synchronize();
}

void CudaWorkingSet::solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) {
  const Stream& stream = ctx_.compute;
  const auto rows = static_cast<std::size_t>(n);
  start_rows(z, n);
  sets_.resize(n, ws::kInitialCapacity);
  CONCISE_CUDA_CHECK(cudaMemsetAsync(sets_.size.data(), 0, sets_.size.bytes(), stream.get()));
  r_.resize(static_cast<std::size_t>(n * d_));
  g_.resize(static_cast<std::size_t>(n * c_));
  terms_.resize(3 * rows);
  certificates_.resize(2 * rows);
  converged_.resize(rows);
  status_.resize(2 * rows);
  CONCISE_CUDA_CHECK(cudaMemsetAsync(status_.data(), 0, status_.bytes(), stream.get()));
  tol_.assign(rows, ws::kFirstSweepTol);
  codes_.assign(rows, RowCode{});
  if (result.l1.size() != result.gap.size()) result.l1.assign(result.gap.size(), static_cast<float>(options_.l1));
  if (result.at_limit.size() != result.gap.size()) result.at_limit.assign(result.gap.size(), 0);

  for (int pass = 0; active_ > 0; ++pass) {
    const std::int64_t m = active_;
    const auto active = static_cast<std::size_t>(m);
    ws::set_residuals(z_.data(), atoms_.data(), sets_.view(), m, d_, r_.data(), terms_.data(), stream.get());
    correlate(m, pass == 0);
    ws::certify_rows(g_.data(), r_.data(), atoms_.data(), terms_.data(), m, c_, d_, options_.l1, options_.tol,
                     certificates_.data(), converged_.data(), stream.get());
    host_certificates_.resize(2 * active);
    host_converged_.resize(active);
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(host_converged_.data(), converged_.data(), active, cudaMemcpyDeviceToHost,
                                       stream.get()));
    download_now(host_certificates_.data(), certificates_.data(), 2 * active, stream);

    const bool last = pass >= options_.max_rounds;
    std::vector<std::uint8_t> keep(active, 1), at_limit(active, 0);
    bool any_stays = false;
    for (std::size_t i = 0; i < active; ++i) {
      const bool converged = host_converged_.data()[i] != 0;
      if (converged || last) {
        keep[i] = 0;
        at_limit[i] = converged ? 0 : 1;
      }
      any_stays = any_stays || keep[i];
    }
    if (any_stays) {
      std::vector<int> status = select(keep, pass == 0);
      std::vector<std::uint8_t> needs(active, 0);
      bool any_needs = false;
      for (std::size_t i = 0; i < active; ++i) {
        if (!keep[i]) continue;
        const ws::RowStep step = ws::next_step(status[2 * i + 1] != 0, status[2 * i], sets_.capacity, tol_[i]);
        if (step == ws::RowStep::NeedCapacity) needs[i] = 1, any_needs = true;
        if (step == ws::RowStep::Tighten) tol_[i] = ws::tighter_sweep_tol(tol_[i]);
        if (ws::stops(step)) keep[i] = 0, at_limit[i] = 1;
      }
      if (any_needs && grow_capacity()) {
        const std::vector<int> regrown = select(needs, false);
        for (std::size_t i = 0; i < active; ++i)
          if (needs[i]) status[2 * i] = regrown[2 * i], status[2 * i + 1] = regrown[2 * i + 1];
        upload_now(status_.data(), status.data(), status.size(), stream);
      } else if (any_needs) {
        // No memory for a larger set: these rows stop with their honest gap.
        for (std::size_t i = 0; i < active; ++i)
          if (needs[i]) keep[i] = 0, at_limit[i] = 1;
      }
    }
    record_leaving(keep, at_limit, pass, first, result);
    compact(keep);
    if (active_ == 0) break;
    sweep_tol_.resize(tol_.size());
    upload_now(sweep_tol_.data(), tol_.data(), tol_.size(), stream);
    ws::grow_gram(atoms_.data(), z_.data(), sets_.view(), status_.data(), active_, d_, stream.get());
    ws::solve_sets(sets_.view(), active_, static_cast<float>(options_.l1), sweep_tol_.data(), stream.get());
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
