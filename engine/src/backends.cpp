#include "concise/engine/backends.hpp"

#include "concise/clip/encoder_plugin.hpp"
#include "concise/core/error.hpp"
#include "concise/core/plugin.hpp"
#include "cuda_plugin.hpp"

namespace concise {

namespace {

BackendReport cpu_backend() { return {"cpu", "solvers", true, "built in"}; }

BackendReport found(const std::string& name, const std::string& what) {
  const PluginProbe probe = find_plugin(name);
  if (probe.path.empty()) return {name, what, false, probe.not_found_reason()};
  return {name, what, true, "plugin " + probe.path};
}

BackendReport probe_cuda() {
  BackendReport report = found(cuda::kPluginName, "solvers");
  if (!report.usable) return report;
  try {
    const auto plugin = detail::CudaPlugin::load();
    std::string why;
    const int count = plugin->table().device_count(why);
    report.usable = count > 0;
    report.status = std::string(plugin->table().header.description) + ", plugin " + plugin->path() + ": ";
    if (count == 0) report.status += why;
    for (int i = 0; i < count; ++i)
      report.status += (i ? "; " : "") + std::string("cuda:") + std::to_string(i) + " " + plugin->table().describe_device(i);
  } catch (const Error& e) {
    report.usable = false;
    report.status = e.what();
  }
  return report;
}

BackendReport probe_encoders() {
  BackendReport report = found(clip::kEncoderPluginName, "CLIP encoders");
  if (!report.usable) return report;
  try {
    const LoadedPlugin plugin = load_plugin(clip::kEncoderPluginName, sizeof(clip::EncoderPluginTable));
    const auto& table = *reinterpret_cast<const clip::EncoderPluginTable*>(plugin.table);
    const int gpus = table.cuda_device_count();
    report.status = std::string(table.header.description) + ", plugin " + plugin.library->path() + " (" +
                    (gpus > 0 ? std::to_string(gpus) + " GPU(s) and the CPU" : std::string("CPU")) + ")";
  } catch (const Error& e) {
    report.usable = false;
    report.status = e.what();
  }
  return report;
}

// The CUDA plugin's file, and whether the driver it needs is installed (cheap: the
// plugin and CUDA's libraries stay unloaded).
BackendReport found_cuda() {
  BackendReport report = found(cuda::kPluginName, "solvers");
  if (report.usable && !detail::CudaPlugin::driver_installed()) {
    report.usable = false;
    report.status += ", but no CUDA driver is installed (libcuda.so.1 cannot be loaded)";
  }
  return report;
}

}  // namespace

std::vector<BackendReport> find_backends() {
  return {cpu_backend(), found_cuda(), found(clip::kEncoderPluginName, "CLIP encoders")};
}

std::vector<BackendReport> probe_backends() { return {cpu_backend(), probe_cuda(), probe_encoders()}; }

}  // namespace concise
