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

  const cuda::PluginTable& table() const { return *table_; }
  const std::string& path() const { return plugin_.library->path(); }

 private:
  explicit CudaPlugin(LoadedPlugin plugin);
  LoadedPlugin plugin_;
  const cuda::PluginTable* table_;
};

}  // namespace concise::detail
