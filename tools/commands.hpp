#pragma once
#include <CLI/CLI.hpp>

#include "concise/clip/embed.hpp"
#include "concise/core/dictionary.hpp"

namespace concise::cli {

// Each adds its subcommand to app; the callback runs it.
void add_dictionary_command(CLI::App& app);
void add_decompose_command(CLI::App& app);
void add_recompose_command(CLI::App& app);
void add_explain_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_preprocess_command(CLI::App& app);
void add_embed_command(CLI::App& app);
void add_vocab_command(CLI::App& app);
void add_backends_command(CLI::App& app);

// `concise --version`: the version and the backend plugins found (none is loaded).
std::string version_text();
// `dictionary learn`, added to the dictionary command.
void add_learn_command(CLI::App& dictionary);
void add_index_command(CLI::App& app);
void add_search_command(CLI::App& app);
void add_evaluate_command(CLI::App& app);
void add_summarize_command(CLI::App& app);

// Saves the dictionary and prints "wrote FILE: c concepts x d dims ...".
void save_dictionary(const Dictionary& dict, const std::string& path);

// "wrote FILE: N images" or how to resume an embedding that stopped early.
void print_embedding_summary(const clip::ImageEmbeddingSummary& summary, std::size_t images, const std::string& output);

}  // namespace concise::cli
