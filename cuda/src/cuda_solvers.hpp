#pragma once
#include <memory>

#include "concise/core/preprocess.hpp"
#include "concise/cuda/cuda_backend.hpp"
#include "device_memory.hpp"
#include "gpu_context.hpp"

namespace concise::cuda {

std::unique_ptr<Decomposer> make_fista(MatrixView<const float> atoms, const SolveOptions& options, int device);
std::unique_ptr<Decomposer> make_admm(MatrixView<const float> atoms, const SolveOptions& options, int device);
std::unique_ptr<Decomposer> make_working_set(MatrixView<const float> atoms, const SolveOptions& options, int device);

// SpLiCE's recompose into device memory (n x d), on ctx's compute stream; synchronizes.
void recompose_on_device(GpuContext& ctx, const SparseRows& codes, MatrixView<const float> atoms,
                         const std::vector<float>& mu, DeviceBuffer<float>& out);

}  // namespace concise::cuda
