#include "python_delegate.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

extern char** environ;

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

// Python is $CONCISE_PYTHON, else a python3 beside this executable, else python3 on PATH;
// it learns this executable's path from $CONCISE_BIN.
std::string choose_python() {
  const std::string self = self_path();
  if (!self.empty()) setenv("CONCISE_BIN", self.c_str(), 1);
  if (const char* chosen = std::getenv("CONCISE_PYTHON"); chosen != nullptr && *chosen != '\0') return chosen;
  if (!self.empty()) {
    const auto beside = std::filesystem::path(self).parent_path() / "python3";
    if (access(beside.c_str(), X_OK) == 0) return beside.string();
  }
  return "python3";
}

std::vector<std::string> python_command_line(const std::string& python, const std::string& module,
                                             const std::vector<std::string>& args, const std::string& prog,
                                             const PythonNeeds& needs) {
  std::vector<std::string> line{python, "-c", bootstrap(module, prog, needs)};
  line.insert(line.end(), args.begin(), args.end());
  return line;
}

std::vector<char*> as_argv(std::vector<std::string>& line) {
  std::vector<char*> argv;
  for (auto& a : line) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

[[noreturn]] void cannot_run(const std::string& python, int error, const PythonNeeds& needs) {
  std::fprintf(stderr, "concise: failed: cannot run Python (%s): %s; set CONCISE_PYTHON to a Python with the concise "
               "package and %s\n", python.c_str(), std::strerror(error), needs.package.c_str());
  std::exit(1);
}

}  // namespace

void run_python_module(const std::string& module, const std::vector<std::string>& args, const std::string& prog,
                       const PythonNeeds& needs) {
  const std::string python = choose_python();
  std::vector<std::string> line = python_command_line(python, module, args, prog, needs);
  std::vector<char*> argv = as_argv(line);
  std::fflush(stdout);
  std::fflush(stderr);
  execvp(python.c_str(), argv.data());
  cannot_run(python, errno, needs);
}

void run_python_module_to_completion(const std::string& module, const std::vector<std::string>& args,
                                     const std::string& prog, const PythonNeeds& needs) {
  const std::string python = choose_python();
  std::vector<std::string> line = python_command_line(python, module, args, prog, needs);
  std::vector<char*> argv = as_argv(line);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t child = 0;
  if (const int error = posix_spawnp(&child, python.c_str(), nullptr, nullptr, argv.data(), environ); error != 0)
    cannot_run(python, error, needs);
  int status = 0;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error("waiting for Python: " + std::string(std::strerror(errno)));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  throw PythonFailed(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

void add_python_command(CLI::App& app, const std::string& name, const std::string& description,
                        const std::string& module) {
  auto* cmd = app.add_subcommand(name, description + " (in Python)");
  cmd->prefix_command();
  cmd->set_help_flag();
  cmd->callback([cmd, module] { run_python_module(module, cmd->remaining(), "concise " + module); });
}

}  // namespace concise::cli
