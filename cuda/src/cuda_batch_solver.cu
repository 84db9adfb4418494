#include "cuda_batch_solver.hpp"

#include <thrust/iterator/counting_iterator.h>

#include <cub/device/device_select.cuh>

#include <algorithm>
#include <cstring>
#include <future>
#include <limits>
#include <numeric>

#include "concise/core/error.hpp"
#include "csr_download.hpp"
#include "kernels.cuh"

namespace concise::cuda {

CudaBatchSolver::CudaBatchSolver(MatrixView<const float> atoms, const SolveOptions& options, int device,
                                 std::string solver_name)
    : Decomposer(options), ctx_(device), c_(atoms.rows), d_(atoms.cols), solver_name_(std::move(solver_name)) {
  atoms_.resize(atoms.size());
  upload_now(atoms_.data(), atoms.data, atoms_.size(), ctx_.compute);
}

std::int64_t CudaBatchSolver::batch_rows() {
  if (batch_ > 0) return batch_;
  constexpr std::int64_t kDefaultBatchRows = 16384;
  std::size_t free_bytes = 0, total_bytes = 0;
  CONCISE_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  // Staging takes two input buffers of d floats per row besides the solver's own.
  const std::int64_t per_row = bytes_per_row() + 2 * d_ * static_cast<std::int64_t>(sizeof(float));
  const auto fit = std::max<std::int64_t>(1, static_cast<std::int64_t>(free_bytes / 10 * 6) / per_row);
  const std::int64_t wanted = options_.gpu_batch_rows > 0 ? options_.gpu_batch_rows : kDefaultBatchRows;
  // cuBLAS takes int sizes and offsets: a batch's c- or d-wide matrix stays below 2^31 entries.
  const std::int64_t addressable = std::numeric_limits<int>::max() / std::max(c_, d_);
  batch_ = std::max<std::int64_t>(1, std::min({wanted, fit, addressable}));
  return batch_;
}

void CudaBatchSolver::stage(int slot, const float* rows, std::int64_t count) {
  const auto values = static_cast<std::size_t>(count * d_);
  staging_[slot].resize(values);
  std::memcpy(staging_[slot].data(), rows, values * sizeof(float));
  input_[slot].resize(values);
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(input_[slot].data(), staging_[slot].data(), values * sizeof(float),
                                     cudaMemcpyHostToDevice, ctx_.copy.get()));
  copied_[slot].record(ctx_.copy.get());
}

void CudaBatchSolver::solve(MatrixView<const float> z, SolveResult& result) {
  const std::int64_t n = z.rows;
  if (z.cols != d_)
    throw InputError("rows have dimension " + std::to_string(z.cols) + ", expected " + std::to_string(d_) +
                     " (the dictionary's)");
  DeviceScope scope(ctx_.device());
  result.gap.assign(static_cast<std::size_t>(n), 0.0f);
  result.objective.assign(static_cast<std::size_t>(n), 0.0f);
  result.iterations.assign(static_cast<std::size_t>(n), 0);
  result.l1.assign(static_cast<std::size_t>(n), static_cast<float>(options_.l1));
  result.at_limit.assign(static_cast<std::size_t>(n), 0);
  result.codes.clear(c_);
  if (n == 0) return;

  cudaPointerAttributes where{};
  CONCISE_CUDA_CHECK(cudaPointerGetAttributes(&where, z.data));
  const std::int64_t batch = batch_rows();
  if (where.type == cudaMemoryTypeDevice || where.type == cudaMemoryTypeManaged) {
    for (std::int64_t first = 0; first < n; first += batch) solve_batch(z.row(first), std::min(batch, n - first), first, result);
    return;
  }
  // Host rows: batch k+1 is copied into pinned memory on a host thread and sent on the
  // copy stream while batch k solves, so the GPU does not wait for either copy.
  stage(0, z.row(0), std::min(batch, n));
  int slot = 0;
  for (std::int64_t first = 0; first < n; first += batch, slot = 1 - slot) {
    const std::int64_t count = std::min(batch, n - first);
    std::future<void> next;
    if (first + batch < n) {
      const int next_slot = 1 - slot;
      const float* next_rows = z.row(first + batch);
      const std::int64_t next_count = std::min(batch, n - first - batch);
      next = std::async(std::launch::async, [this, next_slot, next_rows, next_count] {
        // A thread of its own: nothing to restore (restoring would make a context on GPU 0).
        CONCISE_CUDA_CHECK(cudaSetDevice(ctx_.device()));
        stage(next_slot, next_rows, next_count);
      });
    }
    copied_[slot].wait_on(ctx_.compute.get());
    try {
      solve_batch(input_[slot].data(), count, first, result);
    } catch (...) {
      if (next.valid()) next.wait();  // the stager uses this object's buffers
      throw;
    }
    if (next.valid()) next.get();
  }
}

void CudaBatchSolver::start_rows(const float* z, std::int64_t n) {
  const auto nd = static_cast<std::size_t>(n * d_);
  z_.resize(nd);
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(z_.data(), z, nd * sizeof(float), cudaMemcpyDeviceToDevice, ctx_.compute.get()));
  row_ids_.resize(static_cast<std::size_t>(n));
  std::iota(row_ids_.begin(), row_ids_.end(), 0);
  active_ = n;
}

void CudaBatchSolver::start_batch(const float* z, std::int64_t n) {
  cudaStream_t stream = ctx_.compute.get();
  const auto nc = static_cast<std::size_t>(n * c_), nd = static_cast<std::size_t>(n * d_);
  w_.resize(nc);
  g_.resize(nc);
  w_final_.resize(nc);
  r_.resize(nd);
  start_rows(z, n);
  // The iterate starts at 0; scratch that every step overwrites starts as NaN, so a
  // read of anything not written shows up in the results.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  kernels::fill(w_.data(), static_cast<std::int64_t>(nc), 0.0f, stream);
  kernels::fill(w_final_.data(), static_cast<std::int64_t>(nc), 0.0f, stream);
  kernels::fill(g_.data(), static_cast<std::int64_t>(nc), nan, stream);
  kernels::fill(r_.data(), static_cast<std::int64_t>(nd), nan, stream);
}

void CudaBatchSolver::residual_and_correlation(const float* w, std::int64_t rows, bool w_is_zero) {
  const float minus_one = -1.0f, one = 1.0f, zero = 0.0f;
  const int c = static_cast<int>(c_), d = static_cast<int>(d_), m = static_cast<int>(rows);
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(r_.data(), z_.data(), sizeof(float) * static_cast<std::size_t>(rows * d_),
                                     cudaMemcpyDeviceToDevice, ctx_.compute.get()));
  // Row-major R (rows x d) -= W (rows x c) C (c x d), as column-major R^T -= C^T W^T.
  if (!w_is_zero)
    CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, d, m, c, &minus_one, atoms_.data(), d, w,
                                   c, &one, r_.data(), d));
  // Row-major G (rows x c) = R C^T, as column-major G^T = C R^T.
  CONCISE_CUDA_CHECK(cublasSgemm(ctx_.blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, c, m, d, &one, atoms_.data(), d, r_.data(),
                                 d, &zero, g_.data(), c));
}

std::vector<std::uint8_t> CudaBatchSolver::certify_rows(int iteration, bool last, std::int64_t first,
                                                        SolveResult& result, std::vector<Certificate>& certificates,
                                                        bool w_is_zero) {
  cudaStream_t stream = ctx_.compute.get();
  const std::int64_t active = active_;
  residual_and_correlation(w_.data(), active, w_is_zero);
  terms_.resize(static_cast<std::size_t>(active * kernels::kGapTerms));
  kernels::gap_terms(z_.data(), w_.data(), g_.data(), atoms_.data(), active, c_, d_, terms_.data(), stream);
  host_terms_.resize(terms_.size());
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(host_terms_.data(), terms_.data(), terms_.bytes(), cudaMemcpyDeviceToHost, stream));
  ctx_.compute.synchronize();

  std::vector<std::uint8_t> keep(static_cast<std::size_t>(active), 1);
  std::vector<int> leaving_positions, leaving_rows;
  certificates.assign(static_cast<std::size_t>(active), Certificate{});
  for (std::int64_t i = 0; i < active; ++i) {
    const double* term = host_terms_.data() + i * kernels::kGapTerms;
    const Certificate cert = certify(GapTerms{term[0], term[1], term[2], term[3]}, options_.l1);
    certificates[static_cast<std::size_t>(i)] = cert;
    if (cert.converged(options_.tol) || last) {
      const std::int64_t row = row_ids_[static_cast<std::size_t>(i)];
      const auto at = static_cast<std::size_t>(first + row);
      result.gap[at] = static_cast<float>(cert.gap);
      result.objective[at] = static_cast<float>(cert.objective);
      result.iterations[at] = iteration;
      result.at_limit[at] = cert.converged(options_.tol) ? 0 : 1;  // stopped by --max-iter
      keep[static_cast<std::size_t>(i)] = 0;
      leaving_positions.push_back(static_cast<int>(i));
      leaving_rows.push_back(static_cast<int>(row));
    }
  }
  if (!leaving_positions.empty()) {
    const auto m = static_cast<std::int64_t>(leaving_positions.size());
    positions_.resize(leaving_positions.size());
    leaving_rows_.resize(leaving_rows.size());
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(positions_.data(), leaving_positions.data(), positions_.bytes(),
                                       cudaMemcpyHostToDevice, stream));
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(leaving_rows_.data(), leaving_rows.data(), leaving_rows_.bytes(),
                                       cudaMemcpyHostToDevice, stream));
    spare_.resize(static_cast<std::size_t>(m * c_));
    kernels::gather_rows(w_.data(), positions_.data(), spare_.data(), m, c_, stream);
    kernels::scatter_rows(spare_.data(), leaving_rows_.data(), w_final_.data(), m, c_, stream);
    ctx_.compute.synchronize();  // the host vectors above are read by async copies
  }
  return keep;
}

void CudaBatchSolver::drop_rows(const std::vector<std::uint8_t>& keep) {
  if (!select_kept(keep) || active_ == 0) return;
  const std::int64_t remaining = active_;
  keep_rows(w_, spare_, c_, remaining);
  keep_rows(z_, spare_d_, d_, remaining);
  keep_solver_rows(remaining);
  ctx_.compute.synchronize();  // `keep` is read by an async copy
}

bool CudaBatchSolver::select_kept(const std::vector<std::uint8_t>& keep) {
  const auto remaining = static_cast<std::int64_t>(std::count(keep.begin(), keep.end(), 1));
  if (remaining == active_) return false;
  std::vector<std::int64_t> remaining_ids;
  for (std::size_t i = 0; i < keep.size(); ++i)
    if (keep[i]) remaining_ids.push_back(row_ids_[i]);
  row_ids_.swap(remaining_ids);
  active_ = remaining;
  if (remaining == 0) return true;
  cudaStream_t stream = ctx_.compute.get();
  const auto rows = static_cast<int>(keep.size());
  flags_.resize(keep.size());
  kept_.resize(keep.size());
  selected_.resize(1);
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(flags_.data(), keep.data(), keep.size(), cudaMemcpyHostToDevice, stream));
  thrust::counting_iterator<int> positions(0);
  std::size_t bytes = 0;
  CONCISE_CUDA_CHECK(cub::DeviceSelect::Flagged(nullptr, bytes, positions, flags_.data(), kept_.data(),
                                                selected_.data(), rows, stream));
  CONCISE_CUDA_CHECK(cub::DeviceSelect::Flagged(ctx_.scratch_of(bytes), bytes, positions, flags_.data(), kept_.data(),
                                                selected_.data(), rows, stream));
  ctx_.compute.synchronize();  // `keep` is read by an async copy
  return true;
}

void CudaBatchSolver::finish_batch(std::int64_t n, SolveResult& result) {
  ctx_.compute.synchronize();
  append_csr(ctx_, w_final_.data(), n, c_, result.codes);
}

}  // namespace concise::cuda
