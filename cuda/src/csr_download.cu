#include <cub/device/device_scan.cuh>

#include <vector>

#include "csr_download.hpp"
#include "kernels.cuh"

namespace concise::cuda {

void append_csr(GpuContext& ctx, const float* w, std::int64_t rows, std::int64_t c, SparseRows& out) {
  if (rows == 0) return;
  cudaStream_t stream = ctx.compute.get();
  DeviceBuffer<std::int64_t> counts(static_cast<std::size_t>(rows + 1)), indptr(static_cast<std::size_t>(rows + 1));
  kernels::count_positive(w, rows, c, counts.data(), stream);
  CONCISE_CUDA_CHECK(cudaMemsetAsync(counts.data() + rows, 0, sizeof(std::int64_t), stream));
  std::size_t scratch_bytes = 0;
  CONCISE_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(nullptr, scratch_bytes, counts.data(), indptr.data(),
                                                   static_cast<int>(rows + 1), stream));
  CONCISE_CUDA_CHECK(cub::DeviceScan::ExclusiveSum(ctx.scratch_of(scratch_bytes), scratch_bytes, counts.data(),
                                                   indptr.data(), static_cast<int>(rows + 1), stream));
  std::vector<std::int64_t> host_indptr(static_cast<std::size_t>(rows + 1));
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(host_indptr.data(), indptr.data(), indptr.bytes(), cudaMemcpyDeviceToHost, stream));
  ctx.compute.synchronize();
  const std::int64_t nnz = host_indptr.back();
  DeviceBuffer<std::int32_t> indices(static_cast<std::size_t>(std::max<std::int64_t>(nnz, 1)));
  DeviceBuffer<float> data(static_cast<std::size_t>(std::max<std::int64_t>(nnz, 1)));
  kernels::fill_csr(w, rows, c, indptr.data(), indices.data(), data.data(), stream);
  const std::size_t base = out.data.size();
  out.indices.resize(base + static_cast<std::size_t>(nnz));
  out.data.resize(base + static_cast<std::size_t>(nnz));
  if (nnz > 0) {
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(out.indices.data() + base, indices.data(), sizeof(std::int32_t) * nnz,
                                       cudaMemcpyDeviceToHost, stream));
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(out.data.data() + base, data.data(), sizeof(float) * nnz, cudaMemcpyDeviceToHost,
                                       stream));
  }
  ctx.compute.synchronize();
  for (std::int64_t r = 1; r <= rows; ++r)
    out.indptr.push_back(static_cast<std::int64_t>(base) + host_indptr[static_cast<std::size_t>(r)]);
}

}  // namespace concise::cuda
