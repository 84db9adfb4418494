#include "concise/engine/encoders.hpp"

#include "concise/clip/encoder_plugin.hpp"
#include "concise/core/error.hpp"
#include "concise/engine/device.hpp"

namespace concise {

namespace {

struct EncoderPlugin {
  LoadedPlugin plugin;
  const clip::EncoderPluginTable& table() const { return *reinterpret_cast<const clip::EncoderPluginTable*>(plugin.table); }
};

std::shared_ptr<const EncoderPlugin> load_encoder_plugin() {
  auto loaded = std::make_shared<EncoderPlugin>();
  loaded->plugin = load_plugin(clip::kEncoderPluginName, sizeof(clip::EncoderPluginTable));
  return loaded;
}

// An encoder made by the plugin, which keeps the plugin loaded while it lives.
class PluginEncoder final : public clip::Encoder {
 public:
  PluginEncoder(std::shared_ptr<const EncoderPlugin> plugin, std::unique_ptr<clip::Encoder> inner)
      : plugin_(std::move(plugin)), inner_(std::move(inner)) {}
  Matrix<float> encode_images(const float* pixels, std::int64_t count) override {
    return inner_->encode_images(pixels, count);
  }
  Matrix<float> encode_texts(const std::int64_t* ids, std::int64_t count, int context) override {
    return inner_->encode_texts(ids, count, context);
  }
  const clip::Preprocessing& preprocessing() const override { return inner_->preprocessing(); }
  std::string describe() const override { return inner_->describe(); }
  std::string name() const override { return inner_->name(); }

 private:
  std::shared_ptr<const EncoderPlugin> plugin_;  // declared first: released after inner_
  std::unique_ptr<clip::Encoder> inner_;
};

}  // namespace

std::unique_ptr<clip::Encoder> load_encoder(const std::string& model, const std::string& device) {
  const DeviceRequest request = parse_device(device);
  std::shared_ptr<const EncoderPlugin> plugin;
  try {
    plugin = load_encoder_plugin();
  } catch (const Error& e) {
    throw InputError("cannot load CLIP model " + in_quotes(model) +
                     ": the CLIP encoders need LibTorch and live in a plugin that cannot be used here: " + e.what() +
                     ". Build concise with LibTorch (install libtorch-dev or PyTorch, configure with "
                     "-DCONCISE_TORCH=ON, adding torch.utils.cmake_prefix_path to CMAKE_PREFIX_PATH for a "
                     "pip-installed PyTorch)");
  }
  int cuda_device = -1;
  if (request.automatic) {
    if (plugin->table().cuda_device_count() > 0) cuda_device = 0;
  } else if (request.device.kind == Device::Kind::Cuda) {
    cuda_device = request.device.index;
  }
  return std::make_unique<PluginEncoder>(plugin, plugin->table().load_encoder(model, cuda_device));
}

bool encoders_available(std::string* why) {
  try {
    load_encoder_plugin();
    return true;
  } catch (const Error& e) {
    if (why != nullptr) *why = e.what();
    return false;
  }
}

}  // namespace concise
