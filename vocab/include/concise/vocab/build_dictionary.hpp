#pragma once
// A Dictionary from concept names: each name put into a prompt template, embedded
// with a CLIP text encoder, then centered and normalized (Dictionary::build).
#include <string>
#include <vector>

#include "concise/clip/embed.hpp"
#include "concise/core/dictionary.hpp"

namespace concise::vocab {

struct DictionarySettings {
  std::string prompt_template = "{}";  // "{}" is replaced by the concept, e.g. "a photo of {}"
  std::vector<float> image_mean;       // stored for decomposing images (may be empty)
  std::string vocabulary;              // where the concepts came from
  clip::EmbedSettings embed;
};

std::string apply_template(const std::string& prompt_template, const std::string& concept_name);

Dictionary build_dictionary(clip::Encoder& encoder, const clip::Tokenizer& tokenizer,
                            std::vector<std::string> concepts, const DictionarySettings& settings);

}  // namespace concise::vocab
