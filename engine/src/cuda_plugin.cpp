#include "cuda_plugin.hpp"

#include "concise/core/error.hpp"

namespace concise::detail {

CudaPlugin::CudaPlugin(LoadedPlugin plugin)
    : plugin_(std::move(plugin)), table_(reinterpret_cast<const cuda::PluginTable*>(plugin_.table)) {}

std::shared_ptr<const CudaPlugin> CudaPlugin::load() {
  LoadedPlugin plugin = load_plugin(cuda::kPluginName, sizeof(cuda::PluginTable));
  const auto* table = reinterpret_cast<const cuda::PluginTable*>(plugin.table);
  if (table->solve_options_size != sizeof(SolveOptions))
    throw Error(plugin.library->path() + " was built with other solver options than this concise; rebuild it with this concise");
  return std::shared_ptr<const CudaPlugin>(new CudaPlugin(std::move(plugin)));
}

bool CudaPlugin::driver_installed() {
  try {
    const SharedLibrary driver("libcuda.so.1");
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace concise::detail
