#pragma once
#include <memory>

#include "concise/core/preprocess.hpp"
#include "concise/cuda/cuda_backend.hpp"
#include "gpu_context.hpp"

namespace concise::cuda {

std::unique_ptr<Decomposer> make_fista(MatrixView<const float> atoms, const SolveOptions& options, int device);

}  // namespace concise::cuda
