// Decomposing rows that already live in GPU memory (CUDA tensors from the Python
// module): nothing goes through the host but the codes and per-row numbers.
#include <algorithm>

#include "concise/core/error.hpp"
#include "cuda_solvers.hpp"
#include "kernels.cuh"
#include "session.hpp"

namespace concise::cuda {

void Session::decompose_device_rows(Decomposer& decomposer, MatrixView<const float> rows, bool preprocess,
                                    const RowNamer& name_row, SolveResult& result, std::vector<float>& cosine,
                                    std::uintptr_t caller_stream) {
  const std::int64_t n = rows.rows, d = rows.cols;
  const int device = ctx_.device();
  if (d != dim_)
    throw InputError("embeddings have dimension " + std::to_string(d) + ", expected " + std::to_string(dim_) +
                     " (the dictionary's)");
  cudaPointerAttributes where{};
  CONCISE_CUDA_CHECK(cudaPointerGetAttributes(&where, rows.data));
  if (where.type != cudaMemoryTypeDevice && where.type != cudaMemoryTypeManaged)
    throw InputError("rows are not in GPU memory; decompose host rows with the ordinary solve");
  if (where.device != device)
    throw InputError("rows are on cuda:" + std::to_string(where.device) + ", the decomposer on cuda:" +
                     std::to_string(device) + "; move them or pick device='cuda:" + std::to_string(where.device) + "'");
  DeviceScope on(device);
  cudaStream_t stream = ctx_.compute.get();
  {
    // The rows may still be in flight on the caller's stream (torch's current one):
    // the host waits for them, since the decomposer reads them on streams of its own.
    Event written;
    written.record(reinterpret_cast<cudaStream_t>(caller_stream));
    CONCISE_CUDA_CHECK(cudaEventSynchronize(written.get()));
  }
  DeviceBuffer<float> centered;
  MatrixView<const float> z = rows;
  const float* mu = image_mean_.size() > 0 ? image_mean_.data() : nullptr;
  if (preprocess) {
    centered.resize(static_cast<std::size_t>(n * d));
    DeviceBuffer<int> bad(static_cast<std::size_t>(n));
    kernels::preprocess_rows(rows.data, centered.data(), mu, n, d, bad.data(), stream);
    std::vector<int> bad_host(static_cast<std::size_t>(n));
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(bad_host.data(), bad.data(), bad.bytes(), cudaMemcpyDeviceToHost, stream));
    ctx_.compute.synchronize();
    const auto first_bad = std::find(bad_host.begin(), bad_host.end(), 1);
    if (first_bad != bad_host.end())
      throw InputError(name_row(first_bad - bad_host.begin()) +
                       ": is all zeros, holds NaN/Inf, or equals the image mean; expected a finite CLIP embedding with a direction of its own");
    z = {centered.data(), n, d};
  }
  decomposer.solve(z, result);

  DeviceBuffer<float> recomposed;
  recompose_on_device(result.codes, preprocess, recomposed);
  DeviceBuffer<float> d_cosine(static_cast<std::size_t>(std::max<std::int64_t>(n, 1)));
  kernels::row_cosines(recomposed.data(), rows.data, d_cosine.data(), n, d, stream);
  cosine.resize(static_cast<std::size_t>(n));
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(cosine.data(), d_cosine.data(), cosine.size() * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream));
  ctx_.compute.synchronize();
}

}  // namespace concise::cuda
