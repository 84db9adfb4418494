// concise: sparse, nonnegative concept codes for CLIP embeddings.
#include <cstdio>

#include "commands.hpp"
#include "concise/core/error.hpp"
#include "python_delegate.hpp"

int main(int argc, char** argv) {
  CLI::App app{"concise: decompose CLIP embeddings into sparse, human-readable concept codes"};
  app.require_subcommand(1);
  app.set_version_flag("--version", [] { return concise::cli::version_text(); });
  concise::cli::add_dictionary_command(app);
  concise::cli::add_decompose_command(app);
  concise::cli::add_recompose_command(app);
  concise::cli::add_explain_command(app);
  concise::cli::add_demo_command(app);
  concise::cli::add_tokenize_command(app);
  concise::cli::add_preprocess_command(app);
  concise::cli::add_embed_command(app);
  concise::cli::add_vocab_command(app);
  concise::cli::add_backends_command(app);
  concise::cli::add_index_command(app);
  concise::cli::add_search_command(app);
  concise::cli::add_evaluate_command(app);
  concise::cli::add_summarize_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error (a missing verb or flag, a bad
    // value) exits 2 like any other bad input.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const concise::cli::PythonFailed& e) {
    return e.status();  // Python has said what went wrong
  } catch (const concise::InputError& e) {
    std::fprintf(stderr, "concise: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "concise: failed: %s\n", e.what());
    return 1;
  }
  return 0;
}
