#pragma once
// The CLIP encoders, reached through the engine like every backend: they link
// LibTorch and live in the plugin libconcise_clip_torch.so, loaded on first use.
#include <memory>
#include <string>

#include "concise/clip/encoder.hpp"
#include "concise/solvers/options.hpp"

namespace concise {

// model: a folder with config.json and model.safetensors (or a sharded
// model.safetensors.index.json), or a TorchScript file. device: auto, cpu, cuda,
// cuda:N ("auto": the first GPU LibTorch can use, else the CPU). Without the plugin,
// an InputError says what is missing.
std::unique_ptr<clip::Encoder> load_encoder(const std::string& model, const std::string& device = SolveOptions{}.device);

// Whether the encoder plugin loads here; `why` (when given) says why not.
bool encoders_available(std::string* why = nullptr);

}  // namespace concise
