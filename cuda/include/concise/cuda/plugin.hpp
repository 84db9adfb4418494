#pragma once
// The table the CUDA backend plugin (libconcise_cuda.so) hands the engine. Plain
// C++: the engine includes it without CUDA. Only the engine loads the plugin
// (concise/engine/resources.hpp); nothing else calls this table.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "concise/core/plugin.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/core/sparse.hpp"
#include "concise/cuda/dictionary_update.hpp"
#include "concise/solvers/decomposer.hpp"

namespace concise::cuda {

// What stays on one GPU for one dictionary: the context (streams, library handles)
// and the atoms and image mean, uploaded once and reused by every call.
class DeviceSession {
 public:
  virtual ~DeviceSession() = default;
  // SpLiCE's recompose (cuSPARSE SpMM): normalize(normalize(W C) + mu) per row,
  // without mu when add_image_mean is false.
  virtual Matrix<float> recompose(const SparseRows& codes, bool add_image_mean) = 0;
  // Rows already in this GPU's memory (n x d), read in place: preprocessed on the GPU
  // when `preprocess` is set (a zero or non-finite row is an InputError named by
  // name_row), solved by `decomposer` (one from make_decomposer on this GPU), and
  // each row's cosine between its recomposition and the normalized input.
  // caller_stream (a cudaStream_t, 0 for the legacy default stream) is the stream that
  // wrote the rows, e.g. torch.cuda.current_stream(): the work waits for it.
  virtual void decompose_device_rows(Decomposer& decomposer, MatrixView<const float> rows, bool preprocess,
                                     const RowNamer& name_row, SolveResult& result, std::vector<float>& cosine,
                                     std::uintptr_t caller_stream) = 0;
};

// The words every error after a sticky CUDA fault (an illegal address, a failed
// launch...) carries: the GPU context is unusable until the process ends, and an
// object that saw them refuses further work.
inline constexpr const char* kContextLost = "the GPU context is lost";
inline bool reports_lost_context(const std::string& message) {
  return message.find(kContextLost) != std::string::npos;
}

struct PluginTable {
  PluginHeader header;
  std::uint32_t solve_options_size;  // sizeof(SolveOptions) the plugin was built with
  // Usable GPUs; 0 with `why` set when there are none (no driver, no GPU).
  int (*device_count)(std::string& why);
  // e.g. "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)"
  std::string (*describe_device)(int device);
  // The GPU decomposer; atoms (host, c x d) are copied to the device once and must outlive it.
  std::unique_ptr<Decomposer> (*make_decomposer)(MatrixView<const float> atoms, const SolveOptions& options,
                                                 int device);
  std::unique_ptr<DeviceSession> (*open_session)(MatrixView<const float> atoms, const std::vector<float>& image_mean,
                                                 int device);
  // Dictionary learning's atom update on the GPU (concise/cuda/dictionary_update.hpp).
  std::unique_ptr<DictionaryUpdater> (*make_dictionary_updater)(std::int64_t fixed, std::int64_t learned,
                                                                std::int64_t dim, int device);
};

inline constexpr const char* kPluginName = "cuda";

}  // namespace concise::cuda
