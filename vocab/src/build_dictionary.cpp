#include "concise/vocab/build_dictionary.hpp"

#include "concise/core/error.hpp"

namespace concise::vocab {

std::string apply_template(const std::string& prompt_template, const std::string& concept_name) {
  const auto slot = prompt_template.find("{}");
  if (slot == std::string::npos)
    throw InputError("prompt template " + in_quotes(prompt_template) + " has no {} for the concept");
  std::string prompt = prompt_template;
  return prompt.replace(slot, 2, concept_name);
}

Dictionary build_dictionary(clip::Encoder& encoder, const clip::Tokenizer& tokenizer,
                            std::vector<std::string> concepts, const DictionarySettings& settings) {
  if (concepts.empty()) throw InputError("no concepts to build a dictionary from");
  std::vector<std::string> prompts;
  prompts.reserve(concepts.size());
  for (const auto& name : concepts) prompts.push_back(apply_template(settings.prompt_template, name));
  Matrix<float> embeddings = clip::embed_texts(encoder, tokenizer, prompts, settings.embed);
  if (!settings.image_mean.empty() && static_cast<std::int64_t>(settings.image_mean.size()) != embeddings.cols())
    throw InputError("the image mean has " + std::to_string(settings.image_mean.size()) + " values, the model's " +
                     "embeddings have " + std::to_string(embeddings.cols()) + " dimensions");
  return Dictionary::build(std::move(embeddings), std::move(concepts), settings.image_mean, encoder.name(),
                           settings.vocabulary);
}

}  // namespace concise::vocab
