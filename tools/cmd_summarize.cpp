#include "commands.hpp"
#include "python_delegate.hpp"

namespace concise::cli {

void add_summarize_command(CLI::App& app) {
  add_python_command(app, "summarize",
                     "a codes file's top concepts, per-class concepts, l0 histogram and co-occurrence: tables, "
                     "CSV/JSON, plots and an HTML report",
                     "summarize");
}

}  // namespace concise::cli
