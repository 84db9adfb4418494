// The working-set solver on the GPU: per pass, one correlation GEMM pair certifies
// every row (CudaBatchSolver), the rows not yet optimal grow their atom sets by the
// worst violators, and each row's small lasso on its set is solved by coordinate
// descent in shared memory on a Gram block gathered from the full Gram matrix
// C C^T, computed once. Rows need a few passes, not hundreds of iterations.
#include <algorithm>
#include <cmath>

#include "concise/core/error.hpp"
#include "cuda_batch_solver.hpp"
#include "ws_kernels.cuh"

namespace concise::cuda {

namespace {

constexpr int kInitialSet = 64;
constexpr int kGrowth = 32;
constexpr auto kNearViolation = static_cast<float>(rules::kNearViolation);
constexpr int kMaxSweeps = 2000;
constexpr float kFirstSweepTol = 1e-5f, kFinestSweepTol = 1e-9f;

class CudaWorkingSet final : public CudaBatchSolver {
 public:
  CudaWorkingSet(MatrixView<const float> atoms, const SolveOptions& options, int device);

 private:
  void solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) override;
  void keep_solver_rows(std::int64_t remaining) override {
    keep_rows(set_, int_spare_, ws::kMaxSet, remaining);
    keep_rows(set_size_, int_spare_, 1, remaining);
    keep_rows(set_b_, spare_, ws::kMaxSet, remaining);
    keep_rows(set_w_, spare_, ws::kMaxSet, remaining);
  }

  DeviceBuffer<float> gram_, set_b_, set_w_, sweep_tol_;
  DeviceBuffer<int> set_, set_size_, added_, int_spare_;
};

CudaWorkingSet::CudaWorkingSet(MatrixView<const float> atoms, const SolveOptions& options, int device)
    : CudaBatchSolver(atoms, options, device, "ws") {
  const std::size_t gram_bytes = static_cast<std::size_t>(c_) * static_cast<std::size_t>(c_) * sizeof(float);
  std::size_t free_bytes = 0, total_bytes = 0;
  CONCISE_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  if (gram_bytes > free_bytes / 2)
    throw InputError("--solver ws on the GPU keeps the " + std::to_string(c_) + " x " + std::to_string(c_) +
                     " Gram matrix (" + std::to_string(gram_bytes >> 20) + " MiB), more than half of the GPU's free " +
                     std::to_string(free_bytes >> 20) + " MiB; use --solver fista or admm for this dictionary");
  gram_.resize(static_cast<std::size_t>(c_ * c_));
  // Row-major G = C C^T (c x c), as column-major G^T = (C^T)^T C^T with C^T the atoms buffer (d x c).
  const float one = 1.0f, zero = 0.0f;
  const int c = static_cast<int>(c_), d = static_cast<int>(d_);
  CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, c, c, d, &one, atoms_.data(), d,
                                 atoms_.data(), d, &zero, gram_.data(), c));
  ctx_.compute.synchronize();
}

void CudaWorkingSet::solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) {
  cudaStream_t stream = ctx_.compute.get();
  start_batch(z, n);
  set_.resize(static_cast<std::size_t>(n * ws::kMaxSet));
  set_b_.resize(static_cast<std::size_t>(n * ws::kMaxSet));
  set_w_.resize(static_cast<std::size_t>(n * ws::kMaxSet));
  set_size_.resize(static_cast<std::size_t>(n));
  added_.resize(static_cast<std::size_t>(n));
  sweep_tol_.resize(static_cast<std::size_t>(n));
  CONCISE_CUDA_CHECK(cudaMemsetAsync(set_size_.data(), 0, set_size_.bytes(), stream));
  kernels::fill(set_w_.data(), n * ws::kMaxSet, 0.0f, stream);
  std::vector<float> sweep_tol(static_cast<std::size_t>(n), kFirstSweepTol);
  std::vector<int> added(static_cast<std::size_t>(n));
  std::vector<Certificate> certificates;
  const auto half_l1 = static_cast<float>(0.5 * options_.l1);

  for (int pass = 0; active_ > 0; ++pass) {
    const bool last = pass >= options_.max_rounds;
    const std::vector<std::uint8_t> keep = certify_rows(pass, last, first, result, certificates, pass == 0);
    if (last) break;
    // g_ holds C r for every active row: grow the sets (the leaving rows' too, then dropped).
    ws::extend_sets(g_.data(), gram_.data(), active_, c_, half_l1, 1.0f - kNearViolation,
                    pass == 0 ? kInitialSet : kGrowth, set_.data(), set_b_.data(), set_w_.data(), set_size_.data(),
                    added_.data(), stream);
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(added.data(), added_.data(), sizeof(int) * static_cast<std::size_t>(active_),
                                       cudaMemcpyDeviceToHost, stream));
    ctx_.compute.synchronize();
    std::vector<float> staying_tol;
    for (std::size_t i = 0; i < keep.size(); ++i) {
      if (!keep[i]) continue;
      // No atom to add but not yet certified: the set is right, solve it tighter.
      staying_tol.push_back(added[i] == 0 ? std::max(kFinestSweepTol, sweep_tol[i] * 0.01f) : sweep_tol[i]);
    }
    sweep_tol.swap(staying_tol);
    drop_rows(keep);
    if (active_ == 0) break;
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(sweep_tol_.data(), sweep_tol.data(), sizeof(float) * sweep_tol.size(),
                                       cudaMemcpyHostToDevice, stream));
    ws::solve_sets(gram_.data(), active_, c_, static_cast<float>(options_.l1), set_.data(), set_b_.data(),
                   set_w_.data(), set_size_.data(), sweep_tol_.data(), kMaxSweeps, stream);
    kernels::fill(w_.data(), active_ * c_, 0.0f, stream);
    ws::scatter_sets(set_.data(), set_w_.data(), set_size_.data(), w_.data(), active_, c_, stream);
    ctx_.compute.synchronize();  // sweep_tol is read by an async copy
  }
  finish_batch(n, result);
}

}  // namespace

std::unique_ptr<Decomposer> make_working_set(MatrixView<const float> atoms, const SolveOptions& options, int device) {
  return std::make_unique<CudaWorkingSet>(atoms, options, device);
}

}  // namespace concise::cuda
