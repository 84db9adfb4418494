// The CUDA backend plugin's one entry point: a versioned table of the backend's functions.
#include <cuda_runtime_api.h>

#include "concise/cuda/cuda_backend.hpp"
#include "concise/cuda/plugin.hpp"
#include "session.hpp"

namespace concise::cuda {
namespace {

std::string runtime_description() {
  int version = 0;
  cudaRuntimeGetVersion(&version);
  return "CUDA backend (runtime " + std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10) + ")";
}

const PluginTable& table() {
  static const std::string description = runtime_description();
  static const PluginTable table{
      {kPluginAbiVersion, sizeof(PluginTable), description.c_str()},
      sizeof(SolveOptions),
      [](std::string& why) { return device_count(why); },
      &describe_device,
      &make_decomposer,
      &open_session,
      &make_dictionary_updater,
  };
  return table;
}

}  // namespace
}  // namespace concise::cuda

CONCISE_PLUGIN_ENTRY(cuda) { return &concise::cuda::table().header; }
