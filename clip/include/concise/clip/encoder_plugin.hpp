#pragma once
// The table the LibTorch encoder plugin (libconcise_clip_torch.so) hands the
// engine. Only the engine loads it (concise/engine/encoders.hpp).
#include <memory>
#include <string>

#include "concise/clip/encoder.hpp"
#include "concise/core/plugin.hpp"

namespace concise::clip {

struct EncoderPluginTable {
  PluginHeader header;
  // CUDA GPUs LibTorch can use (0 for a CPU-only LibTorch).
  int (*cuda_device_count)();
  // model: a Hugging Face CLIP folder or a TorchScript file; cuda_device: -1 for the CPU.
  std::unique_ptr<Encoder> (*load_encoder)(const std::string& model, int cuda_device);
};

inline constexpr const char* kEncoderPluginName = "clip_torch";

}  // namespace concise::clip
