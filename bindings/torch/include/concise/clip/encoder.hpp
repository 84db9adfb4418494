#pragma once
// CLIP image and text encoders behind a LibTorch-free interface: Hugging Face CLIP
// checkpoints (config.json + model.safetensors) rebuilt with LibTorch modules, or any
// TorchScript module with encode_image / encode_text. Builds without LibTorch get a
// stub whose loader explains how to get the real one.
#include <cstdint>
#include <memory>
#include <string>

#include "concise/core/matrix.hpp"

namespace concise::clip {

class Encoder {
 public:
  virtual ~Encoder() = default;
  // pixels: count x 3 x image_size() x image_size(), preprocessed (clip/image.hpp).
  // Returns count x dim projected features, not normalized.
  virtual Matrix<float> encode_images(const float* pixels, std::int64_t count) = 0;
  // ids: count x context token ids (clip/tokenizer.hpp). Returns count x dim.
  virtual Matrix<float> encode_texts(const std::int64_t* ids, std::int64_t count, int context) = 0;
  virtual int image_size() const = 0;
  // e.g. "Hugging Face CLIP 'clip-vit-base-patch32' (ViT 12 x 768, text 12 x 512) on cpu"
  virtual std::string describe() const = 0;
  // Short name stored in files, e.g. the model folder's name.
  virtual std::string name() const = 0;
};

// model: a folder with config.json and model.safetensors (or a sharded
// model.safetensors.index.json), or a TorchScript file. device: auto, cpu, cuda, cuda:N.
std::unique_ptr<Encoder> load_encoder(const std::string& model, const std::string& device = "auto");

// False in builds without LibTorch.
bool encoders_available();

}  // namespace concise::clip
