#pragma once
// The CUDA backend inside its plugin (libconcise_cuda.so). The program reaches it
// only through the engine, which loads the plugin (concise/cuda/plugin.hpp); the
// GPU parity tests link the backend directly.
#include <memory>
#include <string>
#include <vector>

#include "concise/core/preprocess.hpp"
#include "concise/core/sparse.hpp"
#include "concise/cuda/plugin.hpp"
#include "concise/solvers/decomposer.hpp"

namespace concise::cuda {

// Usable GPUs; 0 with `why` set (no driver, no GPU) when there are none.
int device_count(std::string& why);
inline int device_count() {
  std::string why;
  return device_count(why);
}
// A short description of GPU `device`, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)".
std::string describe_device(int device);
// The GPU decomposer; atoms (host, c x d) are copied to the device once. Its
// solve() takes rows in host memory (copied through pinned buffers, the next batch
// while this one solves) or in device memory (read in place).
std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float> atoms, const SolveOptions& options, int device);
// One GPU context with the atoms and image mean uploaded once: recompose and
// decompose device rows (concise/cuda/plugin.hpp), call after call.
std::unique_ptr<DeviceSession> open_session(MatrixView<const float> atoms, const std::vector<float>& image_mean,
                                            int device);

}  // namespace concise::cuda
