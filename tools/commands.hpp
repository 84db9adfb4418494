#pragma once
#include <CLI/CLI.hpp>

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

}  // namespace concise::cli
