#include "commands.hpp"
#include "python_delegate.hpp"

namespace concise::cli {

void add_evaluate_command(CLI::App& app) {
  add_python_command(app, "evaluate",
                     "what replacing embeddings by codes costs: `evaluate zeroshot` and `evaluate retrieval`, "
                     "tables, JSON, CSV and plots",
                     "evaluate");
}

}  // namespace concise::cli
