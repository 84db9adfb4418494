#pragma once
// Commands whose work is done by the concise Python package (evaluation and
// summaries plot with matplotlib): the CLI hands its arguments to Python.
#include <CLI/CLI.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace concise::cli {

// What a command needs in Python besides the concise package: the module it imports
// first, its name for people, and what to pip install (exit 1 naming them when missing).
struct PythonNeeds {
  std::string module = "matplotlib";
  std::string package = "matplotlib";
  std::string install = ".";
};

// Replaces this process with `python -c BOOT args...` running
// concise.<module>.main(args, prog=prog). Python is $CONCISE_PYTHON, else a python3 beside
// this executable (a virtual environment's bin/ after `pip install .`), else python3 on
// PATH. Python learns this executable's path from $CONCISE_BIN (for the encoders, which
// live in the CLI).
[[noreturn]] void run_python_module(const std::string& module, const std::vector<std::string>& args,
                                    const std::string& prog, const PythonNeeds& needs = {});

// Python ran and exited with a non-zero status, having said why on stderr; the
// command exits with the same status and adds nothing.
class PythonFailed : public std::runtime_error {
 public:
  explicit PythonFailed(int status) : std::runtime_error("Python exited with status " + std::to_string(status)),
                                      status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Runs the same as run_python_module in a child process and waits for it; throws
// PythonFailed when it does not exit 0. For a step in Python within a C++ command.
void run_python_module_to_completion(const std::string& module, const std::vector<std::string>& args,
                                     const std::string& prog, const PythonNeeds& needs = {});

// A subcommand that passes every argument (--help included) to concise.<module>.
void add_python_command(CLI::App& app, const std::string& name, const std::string& description,
                        const std::string& module);

}  // namespace concise::cli
