#include "commands.hpp"
#include "python_delegate.hpp"

namespace concise::cli {

void add_evaluate_command(CLI::App& app) {
  add_python_command(app, "evaluate",
                     "zero-shot and retrieval accuracy of codes vs dense embeddings, with plots",
                     "evaluate");
}

}  // namespace concise::cli
