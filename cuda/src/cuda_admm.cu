// Batched ADMM on the GPU, in the Woodbury form of the CPU's (docs/DESIGN.md §1):
//   x = (2 C C^T + rho I)^-1 q = (q - (q C) P^T) / rho,  P = C (rho/2 I + C^T C)^-1,
// so the only factorization is d x d (cuSOLVER Cholesky) and each iteration is two
// cuBLAS GEMMs plus two elementwise kernels. Over-relaxation 1.6 and residual-balanced
// rho as on the CPU; certificates and row dropping come from CudaBatchSolver.
#include <cmath>
#include <limits>

#include "concise/core/error.hpp"
#include "cuda_batch_solver.hpp"

namespace concise::cuda {

namespace {

constexpr float kRelaxation = 1.6f;

class CudaAdmm final : public CudaBatchSolver {
 public:
  CudaAdmm(MatrixView<const float> atoms, const SolveOptions& options, int device);

 private:
  void solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) override;
  void keep_solver_rows(std::int64_t remaining) override {
    keep_rows(u_, spare_, c_, remaining);
    keep_rows(b_, spare_, c_, remaining);
  }
  std::int64_t bytes_per_row() const override {
    // w, g, w_final, spare, u, b, q per concept; z, r, y per dimension.
    return c_ * 7 * 4 + d_ * 3 * 4 + 64;
  }
  // P = C (rho/2 I + C^T C)^-1 for the current rho.
  void factor(double rho);

  double initial_rho_ = 1.0;
  DeviceBuffer<float> ctc_, k_, p_, u_, b_, q_, y_;
  DeviceBuffer<double> residuals_;
  DeviceBuffer<int> info_;
  PinnedBuffer<double> host_residuals_;
};

CudaAdmm::CudaAdmm(MatrixView<const float> atoms, const SolveOptions& options, int device)
    : CudaBatchSolver(atoms, options, device, "admm") {
  // Start rho at the mean nonzero eigenvalue of 2 C C^T: 2 trace(C^T C) / d.
  double trace = 0;
  for (std::size_t e = 0; e < atoms.size(); ++e) trace += static_cast<double>(atoms.data[e]) * atoms.data[e];
  initial_rho_ = std::max(1e-3, 2.0 * trace / static_cast<double>(d_));
  // C^T C (d x d): column-major C^T is the atoms buffer (d x c, ld d).
  ctc_.resize(static_cast<std::size_t>(d_ * d_));
  const float one = 1.0f, zero = 0.0f;
  const int c = static_cast<int>(c_), d = static_cast<int>(d_);
  CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_N, CUBLAS_OP_T, d, d, c, &one, atoms_.data(), d,
                                 atoms_.data(), d, &zero, ctc_.data(), d));
  ctx_.compute.synchronize();
}

void CudaAdmm::factor(double rho) {
  cudaStream_t stream = ctx_.compute.get();
  const int d = static_cast<int>(d_), c = static_cast<int>(c_);
  k_.resize(ctc_.size());
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(k_.data(), ctc_.data(), ctc_.bytes(), cudaMemcpyDeviceToDevice, stream));
  kernels::add_to_diagonal(k_.data(), d_, static_cast<float>(0.5 * rho), stream);
  int work_size = 0;
  CONCISE_CUDA_CHECK(cusolverDnSpotrf_bufferSize(ctx_.solver.get(), CUBLAS_FILL_MODE_LOWER, d, k_.data(), d, &work_size));
  auto* work = reinterpret_cast<float*>(ctx_.scratch_of(sizeof(float) * static_cast<std::size_t>(std::max(work_size, 1))));
  info_.resize(2);  // potrf's, then potrs's: each checked
  CONCISE_CUDA_CHECK(cusolverDnSpotrf(ctx_.solver.get(), CUBLAS_FILL_MODE_LOWER, d, k_.data(), d, work, work_size,
                                      info_.data()));
  // K X = C^T (d x c, the atoms buffer) gives X = K^-1 C^T, which row-major is P = C K^-1.
  p_.resize(atoms_.size());
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(p_.data(), atoms_.data(), atoms_.bytes(), cudaMemcpyDeviceToDevice, stream));
  CONCISE_CUDA_CHECK(cusolverDnSpotrs(ctx_.solver.get(), CUBLAS_FILL_MODE_LOWER, d, c, k_.data(), d, p_.data(), d,
                                      info_.data() + 1));
  int info[2] = {0, 0};
  download_now(info, info_.data(), 2, ctx_.compute);
  if (info[0] != 0)
    throw Error("ADMM on the GPU: the Cholesky factorization of rho/2 I + C^T C failed (potrf info " +
                std::to_string(info[0]) + ", rho " + std::to_string(rho) + ")");
  if (info[1] != 0)
    throw Error("ADMM on the GPU: the solve with the Cholesky factor failed (potrs info " + std::to_string(info[1]) +
                ", rho " + std::to_string(rho) + ")");
}

void CudaAdmm::solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) {
  cudaStream_t stream = ctx_.compute.get();
  const auto nc = static_cast<std::size_t>(n * c_);
  const int c = static_cast<int>(c_), d = static_cast<int>(d_);
  start_batch(z, n);
  for (auto* plane : {&u_, &b_, &q_}) plane->resize(nc);
  y_.resize(static_cast<std::size_t>(n * d_));
  residuals_.resize(static_cast<std::size_t>(2 * n));
  kernels::fill(u_.data(), static_cast<std::int64_t>(nc), 0.0f, stream);
  kernels::fill(q_.data(), static_cast<std::int64_t>(nc), std::numeric_limits<float>::quiet_NaN(), stream);
  // b = C z per row: column-major b^T (c x n) = C (c x d) z^T.
  const float one = 1.0f, zero = 0.0f;
  CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, c, static_cast<int>(n), d, &one,
                                 atoms_.data(), d, z_.data(), d, &zero, b_.data(), c));
  // As FISTA's iteration 0: rows that w = 0 already certifies leave with an empty code.
  std::vector<Certificate> certificates;
  drop_rows(certify_rows(0, false, first, result, certificates, /*w_is_zero=*/true));
  double rho = initial_rho_;
  if (active_ > 0) factor(rho);

  for (int it = 1; active_ > 0; ++it) {
    const int m = static_cast<int>(active_);
    const auto frho = static_cast<float>(rho);
    kernels::admm_rhs(b_.data(), w_.data(), u_.data(), q_.data(), active_, c_, frho, stream);
    // y = q C (m x d), then x = (q - y P^T) / rho, in place in q.
    CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, d, m, c, &one, atoms_.data(), d,
                                   q_.data(), c, &zero, y_.data(), d));
    const float minus_inverse = -1.0f / frho, inverse = 1.0f / frho;
    CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, c, m, d, &minus_inverse, p_.data(), d,
                                   y_.data(), d, &inverse, q_.data(), c));
    kernels::admm_step(q_.data(), w_.data(), u_.data(), residuals_.data(), active_, c_, kRelaxation,
                       static_cast<float>(options_.l1 / rho), stream);

    const bool last = it >= options_.max_iterations;
    if (it % options_.check_every != 0 && !last) continue;
    host_residuals_.resize(static_cast<std::size_t>(2 * active_));
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(host_residuals_.data(), residuals_.data(), host_residuals_.size() * sizeof(double),
                                       cudaMemcpyDeviceToHost, stream));
    const std::vector<std::uint8_t> keep = certify_rows(it, last, first, result, certificates);  // synchronizes
    double primal = 0, dual = 0;
    for (std::size_t i = 0; i < host_residuals_.size() / 2; ++i) {
      primal += host_residuals_.data()[2 * i];
      dual += host_residuals_.data()[2 * i + 1];
    }
    if (last) break;
    drop_rows(keep);
    // Residual balancing (Boyd et al. 3.4.1): keep primal and dual residuals within 10x.
    const double primal_norm = std::sqrt(primal), dual_norm = rho * std::sqrt(dual);
    double scale = 1.0;
    if (primal_norm > 10.0 * dual_norm) scale = 2.0;
    if (dual_norm > 10.0 * primal_norm) scale = 0.5;
    if (scale != 1.0 && active_ > 0) {
      rho *= scale;
      kernels::scale(u_.data(), active_ * c_, static_cast<float>(1.0 / scale), stream);
      factor(rho);
    }
  }
  finish_batch(n, result);
}

}  // namespace

std::unique_ptr<Decomposer> make_admm(MatrixView<const float> atoms, const SolveOptions& options, int device) {
  return std::make_unique<CudaAdmm>(atoms, options, device);
}

}  // namespace concise::cuda
