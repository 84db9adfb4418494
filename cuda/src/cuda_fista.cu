// Batched projected FISTA on the GPU: two cuBLAS GEMMs per iteration, one fused
// kernel for prox, restart and momentum, gap-safe screening masks; certificates,
// row dropping and CSR output come from CudaBatchSolver.
#include <cmath>
#include <limits>

#include "cuda_batch_solver.hpp"

namespace concise::cuda {

namespace {

class CudaFista final : public CudaBatchSolver {
 public:
  CudaFista(MatrixView<const float> atoms, const SolveOptions& options, int device);

 private:
  void solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) override;
  void keep_solver_rows(std::int64_t remaining) override {
    keep_rows(y_, spare_, c_, remaining);
    keep_rows(screened_, screened_spare_, c_, remaining);
    keep_rows(t_, t_spare_, 1, remaining);
  }

  std::int64_t bytes_per_row() const override {
    // w, g, w_final, spare, w_next, y (floats) and the screening mask per concept; z, r per dimension.
    return c_ * (6 * 4 + 1) + d_ * 2 * 4 + 64;
  }

  double step_;
  DeviceBuffer<float> atom_norms_, w_next_, y_;
  DeviceBuffer<std::uint8_t> screened_, screened_spare_;
  DeviceBuffer<double> t_, t_spare_, scale_radius_;
};

CudaFista::CudaFista(MatrixView<const float> atoms, const SolveOptions& options, int device)
    : CudaBatchSolver(atoms, options, device, "fista"), step_(1.0 / (2.0 * spectral_norm_squared(atoms))) {
  std::vector<float> norms(static_cast<std::size_t>(c_));
  for (std::int64_t k = 0; k < c_; ++k)
    norms[static_cast<std::size_t>(k)] = static_cast<float>(std::sqrt(dot(atoms.row(k), atoms.row(k), d_)));
  atom_norms_.resize(norms.size());
  upload_now(atom_norms_.data(), norms.data(), norms.size(), ctx_.compute);
}

void CudaFista::solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) {
  cudaStream_t stream = ctx_.compute.get();
  const auto nc = static_cast<std::size_t>(n * c_);
  const double l1 = options_.l1;
  start_batch(z, n);
  w_next_.resize(nc);
  y_.resize(nc);
  screened_.resize(nc);
  t_.resize(static_cast<std::size_t>(n));
  kernels::fill(y_.data(), static_cast<std::int64_t>(nc), 0.0f, stream);
  kernels::fill(w_next_.data(), static_cast<std::int64_t>(nc), std::numeric_limits<float>::quiet_NaN(), stream);
  kernels::fill(t_.data(), n, 1.0, stream);
  CONCISE_CUDA_CHECK(cudaMemsetAsync(screened_.data(), 0, nc, stream));

  const auto gain = static_cast<float>(2.0 * step_), shrink = static_cast<float>(step_ * l1);
  std::vector<Certificate> certificates;
  for (int it = 0; active_ > 0; ++it) {
    if (it > 0) {
      residual_and_correlation(y_.data(), active_);
      kernels::fista_step(g_.data(), w_.data(), w_next_.data(), y_.data(), screened_.data(), t_.data(), active_, c_,
                          gain, shrink, stream);
      w_.swap(w_next_);
    }
    const bool last = it >= options_.max_iterations;
    if (it % options_.check_every != 0 && !last) continue;
    const std::vector<std::uint8_t> keep = certify_rows(it, last, first, result, certificates, it == 0);
    if (last) break;
    if (options_.screening) {
      // g_ still holds C r for w_: screen the staying rows before they are compacted.
      std::vector<double> scale_radius(static_cast<std::size_t>(2 * active_), 0.0);
      for (std::size_t i = 0; i < keep.size(); ++i) {
        if (!keep[i]) continue;
        scale_radius[2 * i] = certificates[i].dual_scale;
        scale_radius[2 * i + 1] = std::sqrt(certificates[i].gap);
      }
      scale_radius_.resize(scale_radius.size());
      CONCISE_CUDA_CHECK(cudaMemcpyAsync(scale_radius_.data(), scale_radius.data(), scale_radius_.bytes(),
                                         cudaMemcpyHostToDevice, stream));
      kernels::screen(g_.data(), atom_norms_.data(), scale_radius_.data(), 0.5 * l1, screened_.data(), w_.data(),
                      y_.data(), active_, c_, stream);
      ctx_.compute.synchronize();  // scale_radius is read by an async copy
    }
    drop_rows(keep);
  }
  finish_batch(n, result);
}

}  // namespace

std::unique_ptr<Decomposer> make_fista(MatrixView<const float> atoms, const SolveOptions& options, int device) {
  return std::make_unique<CudaFista>(atoms, options, device);
}

}  // namespace concise::cuda
