#pragma once
// The CUDA plugin as the engine holds it: the library and its checked table.
#include <memory>
#include <string>

#include "concise/core/plugin.hpp"
#include "concise/cuda/plugin.hpp"

namespace concise::detail {

class CudaPlugin {
 public:
  // Throws Error saying why the plugin cannot be used (not found, a library missing, another ABI).
  static std::shared_ptr<const CudaPlugin> load();
  // Whether the CUDA driver (libcuda.so.1) is installed: without it there is no GPU to
  // use, which "auto" learns without loading the plugin and CUDA's large libraries.
  static bool driver_installed();

  const cuda::PluginTable& table() const { return *table_; }
  const std::string& path() const { return plugin_.library->path(); }

 private:
  explicit CudaPlugin(LoadedPlugin plugin);
  LoadedPlugin plugin_;
  const cuda::PluginTable* table_;
};

}  // namespace concise::detail
