#pragma once
// What the GPU's batched solvers share: atoms on the device, host rows staged
// through pinned buffers (batch k+1 copied while batch k solves) or device rows read
// in place, the residual and correlation GEMMs, per-row gap certificates (the CPU's
// certify()), converged rows moved to the output and dropped from the batch (CUB
// select + gather), and the CSR download. A solver supplies its iteration.
#include <algorithm>
#include <string>
#include <vector>

#include "concise/solvers/duality_gap.hpp"
#include "cuda_solvers.hpp"
#include "kernels.cuh"

namespace concise::cuda {

class CudaBatchSolver : public Decomposer {
 public:
  CudaBatchSolver(MatrixView<const float> atoms, const SolveOptions& options, int device, std::string solver_name);
  std::string name() const override { return "cuda:" + std::to_string(ctx_.device()) + "/" + solver_name_; }
  void solve(MatrixView<const float> z, SolveResult& result) override;

 protected:
  // Solves rows z (device, n x d) of the input starting at row `first` and appends their
  // codes to result (finish_batch(), or the solver's own CSR).
  virtual void solve_batch(const float* z, std::int64_t n, std::int64_t first, SolveResult& result) = 0;
  // Keeps the solver's own per-row state for the rows in kept_ (`remaining` of them, in order).
  virtual void keep_solver_rows(std::int64_t remaining) = 0;

  // Sizes the shared per-row buffers for n rows, copies z in, sets w = 0, row ids 0..n-1.
  void start_batch(const float* z, std::int64_t n);
  // Only z and the row ids (solvers without a dense iterate).
  void start_rows(const float* z, std::int64_t n);
  // r = z - w C and g = C r for the first `rows` active rows (w_is_zero: r = z, one GEMM).
  void residual_and_correlation(const float* w, std::int64_t rows, bool w_is_zero = false);
  // Certifies w_ of every active row (w_is_zero: w_ is still the starting 0). Rows that converged, or every row when `last`,
  // get gap, objective and iterations in result and their w in the output. Returns
  // one flag per active row (1: stays) and each active row's certificate.
  std::vector<std::uint8_t> certify_rows(int iteration, bool last, std::int64_t first, SolveResult& result,
                                         std::vector<Certificate>& certificates, bool w_is_zero = false);
  // Drops the rows whose flag is 0 from every per-row buffer, the solver's included.
  void drop_rows(const std::vector<std::uint8_t>& keep);
  // The bookkeeping of drop_rows: row ids, active_, and kept_ (the staying rows'
  // positions, for keep_rows) once the compute stream gets there. False when every row stays.
  bool select_kept(const std::vector<std::uint8_t>& keep);
  // Appends the batch's codes to result (CSR).
  void finish_batch(std::int64_t n, SolveResult& result);

  // Device bytes one row of a batch holds (the batch size comes from the GPU's free memory).
  virtual std::int64_t bytes_per_row() const = 0;

  template <class Buffer>
  void keep_rows(Buffer& state, Buffer& spare, std::int64_t width, std::int64_t remaining) {
    spare.resize(static_cast<std::size_t>(std::max<std::int64_t>(remaining * width, 1)));
    kernels::gather_rows(state.data(), kept_.data(), spare.data(), remaining, width, ctx_.compute.get());
    state.swap(spare);
  }

  GpuContext ctx_;
  std::int64_t c_, d_;
  std::int64_t active_ = 0;                  // rows still iterating
  std::vector<std::int64_t> row_ids_;        // batch row of each active row
  DeviceBuffer<float> atoms_;
  DeviceBuffer<float> z_, w_, r_, g_, w_final_, spare_;
  DeviceBuffer<float> spare_d_;  // z_'s: a spare shared with the c-wide buffers would leave z_ c wide
  DeviceBuffer<int> kept_;

 private:
  // gpu_batch_rows, or 16384, as far as 60% of the GPU's free memory holds them; fixed at the first solve.
  std::int64_t batch_rows();
  std::int64_t batch_ = 0;
  void stage(int slot, const float* rows, std::int64_t count);

  std::string solver_name_;
  DeviceBuffer<std::uint8_t> flags_;
  DeviceBuffer<double> terms_;
  DeviceBuffer<int> positions_, leaving_rows_, selected_;
  PinnedBuffer<double> host_terms_;
  PinnedBuffer<float> staging_[2];
  DeviceBuffer<float> input_[2];
  Event copied_[2];
};

}  // namespace concise::cuda
