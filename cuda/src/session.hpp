#pragma once
// A DeviceSession: one GPU context and one dictionary resident on it.
#include "concise/cuda/plugin.hpp"
#include "device_memory.hpp"
#include "gpu_context.hpp"

namespace concise::cuda {

class Session final : public DeviceSession {
 public:
  Session(MatrixView<const float> atoms, const std::vector<float>& image_mean, int device);

  Matrix<float> recompose(const SparseRows& codes, bool add_image_mean) override;
  void decompose_device_rows(Decomposer& decomposer, MatrixView<const float> rows, bool preprocess,
                             const RowNamer& name_row, SolveResult& result, std::vector<float>& cosine,
                             std::uintptr_t caller_stream) override;

  // SpLiCE's recompose into device memory (n x d) on the compute stream; synchronizes.
  void recompose_on_device(const SparseRows& codes, bool add_image_mean, DeviceBuffer<float>& out);

 private:
  GpuContext ctx_;
  std::int64_t concepts_, dim_;
  DeviceBuffer<float> atoms_;
  DeviceBuffer<float> image_mean_;  // empty when the dictionary has none
};

}  // namespace concise::cuda
