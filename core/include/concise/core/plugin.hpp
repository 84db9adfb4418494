#pragma once
// Backends that live in shared libraries loaded at run time (dlopen), so that the
// program and the Python module start without CUDA or LibTorch and run where they
// are missing. A plugin exports one C function, named by its kind, returning a
// table that starts with a PluginHeader; the loader checks the header's ABI
// version and table size before using anything else in it.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace concise {

// Bumped whenever a plugin table, or a type passed through one, changes.
inline constexpr std::uint32_t kPluginAbiVersion = 3;  // 3: SolveOptions::gpu_tf32 (its size alone would not tell)

struct PluginHeader {
  std::uint32_t abi_version;
  std::uint32_t table_size;  // sizeof the whole table, header included
  const char* description;   // e.g. "CUDA 13.0 backend"
};

// An open shared library, closed (dlclose) when the last handle goes.
class SharedLibrary {
 public:
  // Throws Error with the loader's reason (e.g. a missing libcudart) when it cannot be opened.
  explicit SharedLibrary(const std::string& path);
  ~SharedLibrary();
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  const std::string& path() const { return path_; }
  // The address of an exported symbol, or nullptr.
  void* symbol(const char* name) const;

 private:
  std::string path_;
  void* handle_ = nullptr;
};

// The folders searched for plugins, in order: those of $CONCISE_PLUGIN_PATH
// (colon-separated) when it is set, otherwise <dir>/../lib/concise and <dir> for
// the directory of the binary holding this code (the program, or the Python
// module) and that of the running executable.
std::vector<std::string> plugin_search_path();

// "libconcise_<name>.so"
std::string plugin_file_name(const std::string& name);

// Where a plugin was found, or why it could not be used.
struct PluginProbe {
  std::string name;                // "cuda", "clip_torch"
  std::string path;                // the file found, "" when none
  std::vector<std::string> looked_in;
  std::string not_found_reason() const;  // "libconcise_cuda.so was not found (looked in a, b)"
};

// Finds a plugin's file without loading it.
PluginProbe find_plugin(const std::string& name);

// A loaded plugin: its library and its checked table (valid while the library is).
struct LoadedPlugin {
  std::shared_ptr<SharedLibrary> library;
  const PluginHeader* table = nullptr;
};

// Loads plugin `name` and calls its entry `concise_<name>_plugin`, checking the
// ABI version and that the table is at least `table_size` bytes. Throws Error with
// a reason a person can act on: not found (and where it looked), a library it
// needs is missing, or built for another ABI.
LoadedPlugin load_plugin(const std::string& name, std::uint32_t table_size);

}  // namespace concise

// The entry point every plugin defines, e.g. concise_cuda_plugin.
#define CONCISE_PLUGIN_ENTRY(name) extern "C" __attribute__((visibility("default"))) const concise::PluginHeader* concise_##name##_plugin()
