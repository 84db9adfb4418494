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

}  // namespace concise::cuda
