#include <filesystem>

#include "concise/clip/encoder.hpp"
#include "concise/core/error.hpp"
#include "hf_clip.hpp"
#include "torch_support.hpp"
#include "torchscript_clip.hpp"

namespace concise::clip {

std::unique_ptr<Encoder> load_encoder(const std::string& model, const std::string& device) {
  namespace fs = std::filesystem;
  const fs::path path(model);
  detail::use_all_cpu_cores_unless_told();
  if (fs::is_directory(path)) {
    if (fs::exists(path / "config.json")) return detail::load_hf_clip(model, device);
    for (const char* name : {"model.torchscript.pt", "model.pt"})
      if (fs::exists(path / name)) return detail::load_torchscript_clip((path / name).string(), device, 224);
    throw InputError("model folder " + in_quotes(model) +
                     " has neither config.json + model.safetensors (Hugging Face CLIP) nor model.torchscript.pt");
  }
  if (fs::is_regular_file(path)) return detail::load_torchscript_clip(model, device, 224);
  throw InputError("model " + in_quotes(model) + " does not exist");
}

bool encoders_available() { return true; }

}  // namespace concise::clip
