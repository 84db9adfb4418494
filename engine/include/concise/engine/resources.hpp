#pragma once
// The one door to a backend (RAFT-style resources): the device, parsed and resolved
// once; on a GPU, the CUDA plugin, its context and the dictionary's atoms, loaded
// once and reused by every chunk a job solves or recomposes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "concise/core/dictionary.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/cuda/dictionary_update.hpp"
#include "concise/engine/device.hpp"
#include "concise/solvers/decomposer.hpp"

namespace concise {

// The device to open for a solve: "auto" stays on the CPU for target sparsity (l0 > 0)
// until the GPU's walk down the lambda grid has been measured against it; "cuda" runs it.
std::string solving_device(const std::string& device, int l0);

class Resources {
 public:
  // device: "auto", "cpu", "cuda" or "cuda:N". "auto" is the first GPU when the CUDA
  // plugin loads and sees one, else the CPU. Asking for a GPU that cannot be used is
  // an InputError saying what is missing (the plugin, a CUDA library, the driver, the GPU).
  explicit Resources(const std::string& device = SolveOptions{}.device);
  ~Resources();
  Resources(Resources&&) noexcept;
  Resources& operator=(Resources&&) noexcept;

  const Device& device() const { return device_; }
  bool on_cuda() const { return device_.kind == Device::Kind::Cuda; }
  // "cpu", or e.g. "cuda:0 (NVIDIA H100 80GB HBM3, sm_90, 79 GiB)"
  std::string describe() const;

  // The decomposer for this device; atoms must outlive it.
  std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float> atoms, const SolveOptions& options) const;

  // Dictionary learning's atom update on this GPU; an InputError on the CPU, whose
  // reference updater lives in learn/.
  std::unique_ptr<cuda::DictionaryUpdater> make_dictionary_updater(std::int64_t fixed, std::int64_t learned,
                                                                   std::int64_t dim) const;

  // SpLiCE's recompose on this device: normalize(normalize(C^T w) + image mean) per row
  // (without the mean when add_image_mean is false). On a GPU the dictionary's atoms
  // stay there between calls; the dictionary must outlive this object.
  Matrix<float> recompose(const Dictionary& dict, const SparseRows& codes, bool add_image_mean = true);

  // Rows already in this GPU's memory (n x d), read in place, solved by `decomposer`
  // (one of this object's); cosine gets each row's SpLiCE cosine. caller_stream is the
  // cudaStream_t that wrote the rows (0: the legacy default stream); the solve waits for it.
  void decompose_device_rows(Decomposer& decomposer, const Dictionary& dict, MatrixView<const float> rows,
                             bool preprocess, const RowNamer& name_row, SolveResult& result,
                             std::vector<float>& cosine, std::uintptr_t caller_stream = 0);

 private:
  struct Cuda;
  Device device_;
  std::unique_ptr<Cuda> cuda_;
};

// The backend and algorithm a decomposer runs, without the GPU index: "cpu/ws",
// "cuda/fista". Codes files record it, and a resumed run must match it.
std::string resolved_solver(const Decomposer& decomposer);

}  // namespace concise
