#pragma once
#include <memory>
#include <string>

#include "concise/clip/encoder.hpp"

namespace concise::clip::detail {

// A TorchScript module with encode_image(pixels) and encode_text(ids) methods.
std::unique_ptr<Encoder> load_torchscript_clip(const std::string& file, int cuda_device, int image_size);

}  // namespace concise::clip::detail
