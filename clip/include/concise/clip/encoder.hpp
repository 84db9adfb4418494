#pragma once
// CLIP image and text encoders behind a LibTorch-free interface: Hugging Face CLIP
// checkpoints (config.json + model.safetensors) rebuilt with LibTorch modules, or any
// TorchScript module with encode_image / encode_text. The encoders live in a plugin
// that links LibTorch; load one with concise::load_encoder (concise/engine/encoders.hpp).
#include <cstdint>
#include <memory>
#include <string>

#include "concise/clip/image.hpp"
#include "concise/core/matrix.hpp"

namespace concise::clip {

class Encoder {
 public:
  virtual ~Encoder() = default;
  // pixels: count x 3 x size x size, preprocessed as preprocessing() says (clip/image.hpp).
  // Returns count x dim projected features, not normalized.
  virtual Matrix<float> encode_images(const float* pixels, std::int64_t count) = 0;
  // ids: count x context token ids (clip/tokenizer.hpp). Returns count x dim.
  virtual Matrix<float> encode_texts(const std::int64_t* ids, std::int64_t count, int context) = 0;
  // The model's input size, mean and std: from a Hugging Face folder's
  // preprocessor_config.json when it has one, from a TorchScript module's
  // image_size / image_mean / image_std attributes when it has them, else CLIP's.
  virtual const Preprocessing& preprocessing() const = 0;
  // e.g. "Hugging Face CLIP 'clip-vit-base-patch32' (ViT 12 x 768, text 12 x 512) on cpu"
  virtual std::string describe() const = 0;
  // Short name stored in files, e.g. the model folder's name.
  virtual std::string name() const = 0;
};

}  // namespace concise::clip
