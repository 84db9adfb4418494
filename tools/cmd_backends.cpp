// `concise --version` (fast: which backend plugins are present, nothing loaded) and
// `concise backends` (loads each plugin and says what it can run on, or why not).
#include <cstdio>

#include "commands.hpp"
#include "concise/engine/backends.hpp"

namespace concise::cli {

namespace {

std::string list(const std::vector<BackendReport>& reports) {
  std::string text;
  for (const auto& r : reports)
    text += "\n  " + r.name + " (" + r.what + "): " + (r.usable ? "" : "unavailable: ") + r.status;
  return text;
}

}  // namespace

std::string version_text() {
  return "concise " CONCISE_VERSION "\nbackends:" + list(find_backends()) +
         "\n(`concise backends` loads the plugins and checks their libraries and devices)";
}

void add_backends_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("backends", "load each backend plugin and report its devices, or why it cannot run");
  cmd->callback([] { std::printf("concise %s\nbackends:%s\n", CONCISE_VERSION, list(probe_backends()).c_str()); });
}

}  // namespace concise::cli
