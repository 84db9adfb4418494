#pragma once
// The CUDA backend of the Decomposer interface. This header is plain C++: it
// compiles without CUDA, and in a build without CUDA the functions report that.
#include <memory>
#include <string>

#include <vector>

#include "concise/core/preprocess.hpp"
#include "concise/core/sparse.hpp"
#include "concise/solvers/decomposer.hpp"

namespace concise::cuda {

// Whether this build contains the CUDA backend.
bool compiled();
// Usable GPUs (0 when the backend is not compiled or no driver/GPU is present).
int device_count();
// A short description of GPU `device`, e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)".
std::string describe_device(int device);
// The GPU decomposer; atoms (host, c x d) are copied to the device once. Its
// solve() takes rows in host memory (copied through pinned buffers, the next batch
// while this one solves) or in device memory (read in place).
std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float> atoms, const SolveOptions& options, int device);
// SpLiCE's recompose on the GPU (cuSPARSE SpMM): normalize(normalize(W C) + mu) per row.
Matrix<float> recompose(const SparseRows& codes, MatrixView<const float> atoms, const std::vector<float>& mu, int device);

// Rows already in GPU memory (n x d, e.g. a CUDA tensor's), read in place:
// preprocessed on the GPU into a scratch when `preprocess` is set (SpLiCE's
// normalize, subtract mu, normalize; a zero or non-finite row is an InputError
// named by name_row), solved by `decomposer` (a GPU one on `device`), and each
// row's cosine between its recomposition and the normalized input computed there too.
void decompose_device_rows(Decomposer& decomposer, MatrixView<const float> atoms, const std::vector<float>& mu,
                           MatrixView<const float> rows, bool preprocess, int device, const RowNamer& name_row,
                           SolveResult& result, std::vector<float>& cosine);

}  // namespace concise::cuda
