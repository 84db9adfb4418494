#include <cstdio>
#include <fstream>

#include "commands.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/output_file.hpp"
#include "concise/core/npy.hpp"
#include "names_file.hpp"

namespace concise::cli {

std::vector<std::string> read_names(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError("file " + in_quotes(path) + ": cannot be opened");
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  return names;
}

std::vector<std::string> read_names(const std::string& path, std::int64_t expected, const std::string& what) {
  std::vector<std::string> names = read_names(path);
  if (static_cast<std::int64_t>(names.size()) != expected)
    throw InputError("file " + in_quotes(path) + ": has " + std::to_string(names.size()) + " names (one per line), expected " +
                     std::to_string(expected) + ", one for each of the " + std::to_string(expected) + " " + what);
  return names;
}

void save_dictionary(const Dictionary& dict, const std::string& path) {
  dict.save(path);
  std::printf("wrote %s: %lld concepts x %lld dims%s (fingerprint %s)\n", path.c_str(),
              static_cast<long long>(dict.size()), static_cast<long long>(dict.dim()),
              dict.image_mean.empty() ? "" : ", with image mean", dict.fingerprint.c_str());
}

void add_dictionary_command(CLI::App& app) {
  auto* dictionary = app.add_subcommand("dictionary", "build or inspect concept dictionaries");
  dictionary->require_subcommand(1);
  add_learn_command(*dictionary);

  struct BuildArgs {
    std::string embeddings, names, image_mean, model_name, vocabulary, output;
  };
  auto args = std::make_shared<BuildArgs>();
  auto* build = dictionary->add_subcommand("build", "raw CLIP text embeddings + names -> centered, normalized atoms");
  build->add_option("--embeddings", args->embeddings, "raw text embeddings [c, d] (.npy)")->required();
  build->add_option("--names", args->names, "concept names, one per line, in row order")->required();
  build->add_option("--image-mean", args->image_mean, "the modality mean [d] (.npy) used to center image embeddings");
  build->add_option("--model-name", args->model_name,
                    "a label: the CLIP model that made the embeddings (stored in the file, e.g. openai/clip-vit-base-patch32)");
  build->add_option("--vocabulary", args->vocabulary, "name of the vocabulary");
  build->add_option("-o,--output", args->output, "dictionary file (.h5)")->required();
  build->callback([args] {
    check_output(args->output, {args->embeddings, args->names, args->image_mean});
    std::vector<float> mean;
    if (!args->image_mean.empty()) mean = read_npy_vector(args->image_mean);
    Matrix<float> embeddings = read_npy_matrix(args->embeddings);
    auto names = read_names(args->names, embeddings.rows(), "rows in " + in_quotes(args->embeddings));
    const std::string vocabulary = args->vocabulary.empty() ? args->names : args->vocabulary;
    Dictionary dict = Dictionary::build(std::move(embeddings), std::move(names), std::move(mean), args->model_name,
                                        vocabulary);
    save_dictionary(dict, args->output);
  });

  auto path = std::make_shared<std::string>();
  auto* info = dictionary->add_subcommand("info", "print a dictionary's size and metadata");
  info->add_option("dictionary", *path, "dictionary file (.h5)")->required();
  info->callback([path] {
    const Dictionary dict = Dictionary::load(*path);
    std::printf("%s\n  concepts     %lld\n  dim          %lld\n  model        %s\n  vocabulary   %s\n"
                "  image mean   %s\n  fingerprint  %s\n",
                path->c_str(), static_cast<long long>(dict.size()), static_cast<long long>(dict.dim()),
                dict.model.c_str(), dict.vocabulary.c_str(), dict.image_mean.empty() ? "no" : "yes",
                dict.fingerprint.c_str());
    for (const LearnedAtom& a : dict.learned)
      std::printf("  %s  usage %.3f\n", dict.describe_atom(a.atom, 5).c_str(), static_cast<double>(a.usage));
  });
}

}  // namespace concise::cli
