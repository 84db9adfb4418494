#pragma once
// The CUDA backend inside its plugin (libconcise_cuda.so). The program reaches it
// only through the engine, which loads the plugin (concise/cuda/plugin.hpp); the
// GPU parity tests link the backend directly.
#include <memory>
#include <string>
#include <vector>

#include "concise/core/preprocess.hpp"
#include "concise/core/sparse.hpp"
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
// SpLiCE's recompose on the GPU (cuSPARSE SpMM): normalize(normalize(W C) + mu) per row.
Matrix<float> recompose(const SparseRows& codes, MatrixView<const float> atoms, const std::vector<float>& mu, int device);

// Rows already in GPU memory (n x d, e.g. a CUDA tensor's), read in place: see
// DeviceSession::decompose_device_rows (concise/cuda/plugin.hpp).
void decompose_device_rows(Decomposer& decomposer, MatrixView<const float> atoms, const std::vector<float>& mu,
                           MatrixView<const float> rows, bool preprocess, int device, const RowNamer& name_row,
                           SolveResult& result, std::vector<float>& cosine);

}  // namespace concise::cuda
