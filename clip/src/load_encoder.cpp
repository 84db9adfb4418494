// The LibTorch encoder plugin's one entry point.
#include <torch/version.h>

#include <filesystem>

#include "concise/clip/encoder_plugin.hpp"
#include "concise/core/error.hpp"
#include "hf_clip.hpp"
#include "torch_support.hpp"
#include "torchscript_clip.hpp"

namespace concise::clip {
namespace {

std::unique_ptr<Encoder> load_encoder(const std::string& model, int cuda_device) {
  namespace fs = std::filesystem;
  const fs::path path(model);
  detail::use_all_cpu_cores_unless_told();
  if (fs::is_directory(path)) {
    if (fs::exists(path / "config.json")) return detail::load_hf_clip(model, cuda_device);
    for (const char* name : {"model.torchscript.pt", "model.pt"})
      if (fs::exists(path / name)) return detail::load_torchscript_clip((path / name).string(), cuda_device, 224);
    throw InputError("model folder " + in_quotes(model) +
                     " has neither config.json + model.safetensors (Hugging Face CLIP) nor model.torchscript.pt");
  }
  if (fs::is_regular_file(path)) return detail::load_torchscript_clip(model, cuda_device, 224);
  throw InputError("model " + in_quotes(model) + " does not exist");
}

const EncoderPluginTable table{
    {kPluginAbiVersion, sizeof(EncoderPluginTable), "LibTorch " TORCH_VERSION " CLIP encoders"},
    [] { return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0; },
    &load_encoder,
};

}  // namespace
}  // namespace concise::clip

CONCISE_PLUGIN_ENTRY(clip_torch) { return &concise::clip::table.header; }
