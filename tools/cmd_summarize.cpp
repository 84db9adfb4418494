#include "commands.hpp"
#include "python_delegate.hpp"

namespace concise::cli {

void add_summarize_command(CLI::App& app) {
  add_python_command(app, "summarize",
                     "a codes file's concepts, overall and per class, with plots and an HTML report",
                     "summarize");
}

}  // namespace concise::cli
