// Batched projected FISTA on the GPU: two cuBLAS GEMMs per iteration, one fused
// kernel for prox, restart and momentum, per-row gap checks certified on the host
// with the CPU's own certify(), gap-safe screening masks, and converged rows
// dropped from the batch (CUB select + gather) so the GEMMs shrink.
#include <thrust/iterator/counting_iterator.h>

#include <cub/device/device_select.cuh>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "concise/core/error.hpp"
#include "concise/solvers/duality_gap.hpp"
#include "csr_download.hpp"
#include "cuda_solvers.hpp"
#include "kernels.cuh"

namespace concise::cuda {

namespace {

class CudaFista final : public Decomposer {
 public:
  CudaFista(MatrixView<const float> atoms, const SolveOptions& options, int device);
  std::string name() const override { return "cuda:" + std::to_string(ctx_.device()) + "/fista"; }
  void solve(MatrixView<const float> z, SolveResult& result) override;

 private:
  std::int64_t batch_rows() const { return std::clamp<std::int64_t>((std::int64_t{1} << 29) / c_, 256, 16384); }
  void solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result);
  // r = z - w C and g = C r for the first `rows` active rows.
  void residual_and_correlation(const float* w, std::int64_t rows);
  // Keeps the rows flagged in `keep` (host, one per active row), in order.
  std::int64_t compact(const std::vector<std::uint8_t>& keep);
  void stage(int slot, const float* rows, std::int64_t count);

  GpuContext ctx_;
  std::int64_t c_, d_;
  double step_;
  DeviceBuffer<float> atoms_, atom_norms_;
  DeviceBuffer<float> z_, w_, w_next_, y_, r_, g_, w_final_, spare_;
  DeviceBuffer<std::uint8_t> screened_, screened_spare_, flags_;
  DeviceBuffer<double> t_, t_spare_, terms_, scale_radius_;
  DeviceBuffer<int> kept_, positions_, row_ids_, selected_;
  PinnedBuffer<double> host_terms_;
  PinnedBuffer<float> staging_[2];
  DeviceBuffer<float> input_[2];
  Event copied_[2];
};

CudaFista::CudaFista(MatrixView<const float> atoms, const SolveOptions& options, int device)
    : Decomposer(options), ctx_(device), c_(atoms.rows), d_(atoms.cols),
      step_(1.0 / (2.0 * spectral_norm_squared(atoms))) {
  atoms_.resize(atoms.size());
  CONCISE_CUDA_CHECK(cudaMemcpy(atoms_.data(), atoms.data, atoms_.bytes(), cudaMemcpyHostToDevice));
  std::vector<float> norms(static_cast<std::size_t>(c_));
  for (std::int64_t k = 0; k < c_; ++k) norms[static_cast<std::size_t>(k)] = static_cast<float>(std::sqrt(dot(atoms.row(k), atoms.row(k), d_)));
  atom_norms_.resize(norms.size());
  CONCISE_CUDA_CHECK(cudaMemcpy(atom_norms_.data(), norms.data(), atom_norms_.bytes(), cudaMemcpyHostToDevice));
}

void CudaFista::stage(int slot, const float* rows, std::int64_t count) {
  const auto values = static_cast<std::size_t>(count * d_);
  staging_[slot].resize(values);
  std::memcpy(staging_[slot].data(), rows, values * sizeof(float));
  input_[slot].resize(values);
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(input_[slot].data(), staging_[slot].data(), values * sizeof(float),
                                     cudaMemcpyHostToDevice, ctx_.copy.get()));
  copied_[slot].record(ctx_.copy.get());
}

void CudaFista::solve(MatrixView<const float> z, SolveResult& result) {
  const std::int64_t n = z.rows;
  if (z.cols != d_)
    throw InputError("rows have dimension " + std::to_string(z.cols) + ", expected " + std::to_string(d_) +
                     " (the dictionary's)");
  DeviceScope scope(ctx_.device());
  result.gap.assign(static_cast<std::size_t>(n), 0.0f);
  result.objective.assign(static_cast<std::size_t>(n), 0.0f);
  result.iterations.assign(static_cast<std::size_t>(n), 0);
  result.codes.clear(c_);
  if (n == 0) return;

  cudaPointerAttributes where{};
  CONCISE_CUDA_CHECK(cudaPointerGetAttributes(&where, z.data));
  const std::int64_t batch = batch_rows();
  if (where.type == cudaMemoryTypeDevice || where.type == cudaMemoryTypeManaged) {
    for (std::int64_t first = 0; first < n; first += batch) solve_batch(z.row(first), std::min(batch, n - first), first, result);
    return;
  }
  // Host rows: pinned staging, and the copy of batch k+1 runs while batch k solves.
  stage(0, z.row(0), std::min(batch, n));
  int slot = 0;
  for (std::int64_t first = 0; first < n; first += batch, slot = 1 - slot) {
    const std::int64_t count = std::min(batch, n - first);
    if (first + batch < n) stage(1 - slot, z.row(first + batch), std::min(batch, n - first - batch));
    copied_[slot].wait_on(ctx_.compute.get());
    solve_batch(input_[slot].data(), count, first, result);
  }
}

void CudaFista::residual_and_correlation(const float* w, std::int64_t rows) {
  const float minus_one = -1.0f, one = 1.0f, zero = 0.0f;
  const int c = static_cast<int>(c_), d = static_cast<int>(d_), m = static_cast<int>(rows);
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(r_.data(), z_.data(), sizeof(float) * static_cast<std::size_t>(rows * d_),
                                     cudaMemcpyDeviceToDevice, ctx_.compute.get()));
  // Row-major R (rows x d) -= W (rows x c) C (c x d), as column-major R^T -= C^T W^T.
  CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, d, m, c, &minus_one, atoms_.data(), d, w, c,
                                 &one, r_.data(), d));
  // Row-major G (rows x c) = R C^T, as column-major G^T = C R^T.
  CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, c, m, d, &one, atoms_.data(), d, r_.data(),
                                 d, &zero, g_.data(), c));
}

std::int64_t CudaFista::compact(const std::vector<std::uint8_t>& keep) {
  cudaStream_t stream = ctx_.compute.get();
  const auto rows = static_cast<std::int64_t>(keep.size());
  flags_.resize(keep.size());
  kept_.resize(keep.size());
  selected_.resize(1);
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(flags_.data(), keep.data(), keep.size(), cudaMemcpyHostToDevice, stream));
  thrust::counting_iterator<int> positions(0);
  std::size_t bytes = 0;
  CONCISE_CUDA_CHECK(cub::DeviceSelect::Flagged(nullptr, bytes, positions, flags_.data(), kept_.data(),
                                                selected_.data(), static_cast<int>(rows), stream));
  CONCISE_CUDA_CHECK(cub::DeviceSelect::Flagged(ctx_.scratch_of(bytes), bytes, positions, flags_.data(), kept_.data(),
                                                selected_.data(), static_cast<int>(rows), stream));
  const auto remaining = static_cast<std::int64_t>(std::count(keep.begin(), keep.end(), 1));
  // Each per-row array keeps its kept rows, in order, through a spare of its type.
  const auto keep_rows = [&](auto& state, auto& spare, std::int64_t width) {
    spare.resize(static_cast<std::size_t>(remaining * width));
    kernels::gather_rows(state.data(), kept_.data(), spare.data(), remaining, width, stream);
    state.swap(spare);
  };
  keep_rows(w_, spare_, c_);
  keep_rows(y_, spare_, c_);
  keep_rows(z_, spare_, d_);
  keep_rows(screened_, screened_spare_, c_);
  keep_rows(t_, t_spare_, 1);
  return remaining;
}

void CudaFista::solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) {
  cudaStream_t stream = ctx_.compute.get();
  const auto nc = static_cast<std::size_t>(n * c_), nd = static_cast<std::size_t>(n * d_);
  const double l1 = options_.l1;
  for (auto* plane : {&w_, &w_next_, &y_, &g_, &w_final_}) plane->resize(nc);
  z_.resize(nd);
  r_.resize(nd);
  screened_.resize(nc);
  t_.resize(static_cast<std::size_t>(n));
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(z_.data(), z, nd * sizeof(float), cudaMemcpyDeviceToDevice, stream));
  // The iterates start at 0; scratch that every step overwrites starts as NaN, so a
  // read of anything not written shows up in the results.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  kernels::fill(w_.data(), static_cast<std::int64_t>(nc), 0.0f, stream);
  kernels::fill(y_.data(), static_cast<std::int64_t>(nc), 0.0f, stream);
  kernels::fill(w_final_.data(), static_cast<std::int64_t>(nc), 0.0f, stream);
  kernels::fill(w_next_.data(), static_cast<std::int64_t>(nc), nan, stream);
  kernels::fill(g_.data(), static_cast<std::int64_t>(nc), nan, stream);
  kernels::fill(r_.data(), static_cast<std::int64_t>(nd), nan, stream);
  kernels::fill(t_.data(), n, 1.0, stream);
  CONCISE_CUDA_CHECK(cudaMemsetAsync(screened_.data(), 0, nc, stream));

  std::vector<std::int64_t> row_ids(static_cast<std::size_t>(n));
  std::iota(row_ids.begin(), row_ids.end(), 0);
  std::int64_t active = n;
  const auto gain = static_cast<float>(2.0 * step_), shrink = static_cast<float>(step_ * l1);
  for (int it = 0; active > 0; ++it) {
    if (it > 0) {
      residual_and_correlation(y_.data(), active);
      kernels::fista_step(g_.data(), w_.data(), w_next_.data(), y_.data(), screened_.data(), t_.data(), active, c_, gain,
                          shrink, stream);
      w_.swap(w_next_);
    }
    const bool last = it >= options_.max_iterations;
    if (it % options_.check_every != 0 && !last) continue;

    residual_and_correlation(w_.data(), active);
    terms_.resize(static_cast<std::size_t>(active * kernels::kGapTerms));
    kernels::gap_terms(z_.data(), r_.data(), w_.data(), g_.data(), atoms_.data(), active, c_, d_, terms_.data(), stream);
    host_terms_.resize(terms_.size());
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(host_terms_.data(), terms_.data(), terms_.bytes(), cudaMemcpyDeviceToHost, stream));
    ctx_.compute.synchronize();

    std::vector<std::uint8_t> keep(static_cast<std::size_t>(active), 1);
    std::vector<int> leaving_positions, leaving_rows;
    std::vector<double> scale_radius(static_cast<std::size_t>(2 * active), 0.0);
    for (std::int64_t i = 0; i < active; ++i) {
      const double* term = host_terms_.data() + i * kernels::kGapTerms;
      const Certificate cert = certify(GapTerms{term[0], term[1], term[2], term[3]}, l1);
      const std::int64_t row = row_ids[static_cast<std::size_t>(i)];
      if (cert.converged(options_.tol) || last) {
        const auto at = static_cast<std::size_t>(first + row);
        result.gap[at] = static_cast<float>(cert.gap);
        result.objective[at] = static_cast<float>(cert.objective);
        result.iterations[at] = it;
        keep[static_cast<std::size_t>(i)] = 0;
        leaving_positions.push_back(static_cast<int>(i));
        leaving_rows.push_back(static_cast<int>(row));
      } else {
        scale_radius[static_cast<std::size_t>(2 * i)] = cert.dual_scale;
        scale_radius[static_cast<std::size_t>(2 * i + 1)] = std::sqrt(cert.gap);
      }
    }
    if (!leaving_positions.empty()) {
      const auto m = static_cast<std::int64_t>(leaving_positions.size());
      positions_.resize(leaving_positions.size());
      row_ids_.resize(leaving_rows.size());
      CONCISE_CUDA_CHECK(cudaMemcpyAsync(positions_.data(), leaving_positions.data(), positions_.bytes(),
                                         cudaMemcpyHostToDevice, stream));
      CONCISE_CUDA_CHECK(cudaMemcpyAsync(row_ids_.data(), leaving_rows.data(), row_ids_.bytes(), cudaMemcpyHostToDevice,
                                         stream));
      spare_.resize(static_cast<std::size_t>(m * c_));
      kernels::gather_rows(w_.data(), positions_.data(), spare_.data(), m, c_, stream);
      kernels::scatter_rows(spare_.data(), row_ids_.data(), w_final_.data(), m, c_, stream);
    }
    if (last) {
      ctx_.compute.synchronize();
      break;
    }
    if (options_.screening && leaving_positions.size() < static_cast<std::size_t>(active)) {
      scale_radius_.resize(scale_radius.size());
      CONCISE_CUDA_CHECK(cudaMemcpyAsync(scale_radius_.data(), scale_radius.data(), scale_radius_.bytes(),
                                         cudaMemcpyHostToDevice, stream));
      kernels::screen(g_.data(), atom_norms_.data(), scale_radius_.data(), 0.5 * l1, screened_.data(), w_.data(),
                      y_.data(), active, c_, stream);
    }
    if (!leaving_positions.empty()) {
      std::vector<std::int64_t> remaining_ids;
      for (std::int64_t i = 0; i < active; ++i)
        if (keep[static_cast<std::size_t>(i)]) remaining_ids.push_back(row_ids[static_cast<std::size_t>(i)]);
      active = remaining_ids.empty() ? 0 : compact(keep);
      row_ids.swap(remaining_ids);
    }
    // The host vectors above are read by async copies: wait before they go out of scope.
    ctx_.compute.synchronize();
  }
  append_csr(ctx_, w_final_.data(), n, c_, result.codes);
}

}  // namespace

std::unique_ptr<Decomposer> make_fista(MatrixView<const float> atoms, const SolveOptions& options, int device) {
  return std::make_unique<CudaFista>(atoms, options, device);
}

}  // namespace concise::cuda
