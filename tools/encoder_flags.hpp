#pragma once
// The flags every command that runs a CLIP encoder shares.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "concise/engine/encoders.hpp"

namespace concise::cli {

struct EncoderFlags {
  std::string model;
  std::string device = SolveOptions{}.device;
  std::string bpe;
  std::int64_t batch = 64;
};

// with_device = false where the command's own --device (the solver's) also picks the encoder's.
inline void add_encoder_flags(CLI::App& cmd, EncoderFlags& flags, bool model_required, bool with_device = true) {
  auto* model = cmd.add_option("--model", flags.model,
                               "CLIP model: a Hugging Face folder (config.json + model.safetensors) or a TorchScript "
                               "file with encode_image / encode_text");
  if (model_required) model->required();
  if (with_device)
    cmd.add_option("--device", flags.device, "auto, cpu, cuda or cuda:N (for the encoder)")->capture_default_str();
  cmd.add_option("--batch", flags.batch, "images or texts per encoder batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd.add_option("--bpe", flags.bpe,
                 "CLIP's BPE merges (bpe_simple_vocab_16e6.txt.gz or merges.txt); default: $CONCISE_CLIP_BPE, "
                 "then the model folder, then the merges concise ships");
}

}  // namespace concise::cli
