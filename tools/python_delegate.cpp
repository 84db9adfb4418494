#include "python_delegate.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace concise::cli {

namespace {

std::string bootstrap(const std::string& module, const std::string& prog, const PythonNeeds& needs) {
  return "import sys\n"
         "try:\n"
         "    import " + needs.module + "\n"
         "    import concise." + module + " as command\n"
         "except ImportError as e:\n"
         "    sys.stderr.write('concise: failed: this command runs in Python (' + sys.executable + ') and needs the '\n"
         "                     'concise package and " + needs.package + " there: pip install " + needs.install +
         " from the source tree, or set '\n"
         "                     'CONCISE_PYTHON to a Python that has them (' + str(e) + ')\\n')\n"
         "    sys.exit(1)\n"
         "sys.exit(command.main(sys.argv[1:], prog='" + prog + "'))\n";
}

std::string self_path() {
  std::error_code ec;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : path.string();
}

}  // namespace

void run_python_module(const std::string& module, const std::vector<std::string>& args, const std::string& prog,
                       const PythonNeeds& needs) {
  const std::string self = self_path();
  if (!self.empty()) setenv("CONCISE_BIN", self.c_str(), 1);
  std::string python;
  if (const char* chosen = std::getenv("CONCISE_PYTHON"); chosen != nullptr && *chosen != '\0') {
    python = chosen;
  } else if (!self.empty()) {
    const auto beside = std::filesystem::path(self).parent_path() / "python3";
    if (access(beside.c_str(), X_OK) == 0) python = beside.string();
  }
  if (python.empty()) python = "python3";
  const std::string code = bootstrap(module, prog, needs);
  std::vector<std::string> argv_strings{python, "-c", code};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  execvp(python.c_str(), argv.data());
  std::fprintf(stderr, "concise: failed: cannot run Python (%s): %s; set CONCISE_PYTHON to a Python with the concise "
               "package and %s\n", python.c_str(), std::strerror(errno), needs.package.c_str());
  std::exit(1);
}

void add_python_command(CLI::App& app, const std::string& name, const std::string& description,
                        const std::string& module) {
  auto* cmd = app.add_subcommand(name, description + " (in Python)");
  cmd->prefix_command();
  cmd->set_help_flag();
  cmd->callback([cmd, module] { run_python_module(module, cmd->remaining(), "concise " + module); });
}

}  // namespace concise::cli
