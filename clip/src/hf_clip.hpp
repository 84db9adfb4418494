#pragma once
#include <memory>
#include <string>

#include "concise/clip/encoder.hpp"

namespace concise::clip::detail {

// A Hugging Face CLIPModel folder: config.json + model.safetensors (or its index).
std::unique_ptr<Encoder> load_hf_clip(const std::string& folder, int cuda_device);

}  // namespace concise::clip::detail
