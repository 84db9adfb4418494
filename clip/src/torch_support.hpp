#pragma once
// What the LibTorch encoders share: the engine's resolved device as a torch::Device,
// the CPU thread count, and features back as a host Matrix.
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "concise/core/error.hpp"
#include "concise/core/matrix.hpp"

namespace concise::clip::detail {

// The engine resolved the device (concise/engine/device.hpp): -1 is the CPU, else a CUDA index.
inline torch::Device torch_device(int cuda_device) {
  if (cuda_device < 0) return torch::Device(torch::kCPU);
  if (!torch::cuda::is_available())
    throw InputError("device cuda:" + std::to_string(cuda_device) + " was asked for, but LibTorch sees no CUDA GPU");
  if (cuda_device >= static_cast<int>(torch::cuda::device_count()))
    throw InputError("device cuda:" + std::to_string(cuda_device) + " does not exist (" +
                     std::to_string(torch::cuda::device_count()) + " CUDA devices)");
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(cuda_device));
}

// Some LibTorch builds (Debian's among them) start with one intra-op thread; CPU
// encoding then leaves cores idle. Use them all unless the user set OMP_NUM_THREADS.
inline void use_all_cpu_cores_unless_told() {
  const char* told = std::getenv("OMP_NUM_THREADS");
  if (told != nullptr && *told != '\0') return;
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0 && torch::get_num_threads() < static_cast<int>(cores)) torch::set_num_threads(static_cast<int>(cores));
}

// count x dim float32 on the host, from features on any device and of any float type.
inline Matrix<float> to_matrix(const torch::Tensor& features) {
  const torch::Tensor host = features.to(torch::kCPU, torch::kFloat32).contiguous();
  Matrix<float> out(host.size(0), host.size(1));
  std::copy_n(host.data_ptr<float>(), host.numel(), out.data());
  return out;
}

}  // namespace concise::clip::detail
