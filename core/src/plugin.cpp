#include "concise/core/plugin.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "concise/core/error.hpp"

namespace concise {

namespace fs = std::filesystem;

SharedLibrary::SharedLibrary(const std::string& path) : path_(path) {
  // RTLD_LOCAL: a plugin's libraries (LibTorch's OpenBLAS, CUDA's) stay out of the
  // global namespace the program and other plugins resolve against.
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* why = dlerror();
    throw Error(why != nullptr ? why : "cannot open " + path);
  }
}

SharedLibrary::~SharedLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

void* SharedLibrary::symbol(const char* name) const { return dlsym(handle_, name); }

namespace {

// The directory of the binary (program or shared library) that holds this code.
std::string directory_of_this_binary() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&plugin_search_path), &info) == 0 || info.dli_fname == nullptr) return "";
  const fs::path file(info.dli_fname);
  if (!file.has_parent_path()) return "";  // the program itself, named as typed
  std::error_code ec;
  const fs::path resolved = fs::canonical(file, ec);
  return ec ? "" : resolved.parent_path().string();
}

std::string directory_of_executable() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "" : exe.parent_path().string();
}

void add_unique(std::vector<std::string>& list, const std::string& dir) {
  if (dir.empty()) return;
  for (const auto& seen : list)
    if (seen == dir) return;
  list.push_back(dir);
}

}  // namespace

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> dirs;
  if (const char* told = std::getenv("CONCISE_PLUGIN_PATH"); told != nullptr && *told != '\0') {
    std::string list(told);
    std::size_t start = 0;
    while (start <= list.size()) {
      const std::size_t end = std::min(list.find(':', start), list.size());
      add_unique(dirs, list.substr(start, end - start));
      start = end + 1;
    }
    return dirs;
  }
  for (const std::string& base : {directory_of_this_binary(), directory_of_executable()}) {
    if (base.empty()) continue;
    std::error_code ec;
    const fs::path lib = fs::weakly_canonical(fs::path(base) / ".." / "lib" / "concise", ec);
    add_unique(dirs, ec ? "" : lib.string());
    add_unique(dirs, base);
  }
  return dirs;
}

std::string plugin_file_name(const std::string& name) { return "libconcise_" + name + ".so"; }

std::string PluginProbe::not_found_reason() const {
  std::string where;
  for (const auto& dir : looked_in) where += (where.empty() ? "" : ", ") + dir;
  return plugin_file_name(name) + " was not found (looked in " + (where.empty() ? "no folder" : where) +
         "; CONCISE_PLUGIN_PATH sets where to look)";
}

PluginProbe find_plugin(const std::string& name) {
  PluginProbe probe;
  probe.name = name;
  probe.looked_in = plugin_search_path();
  for (const auto& dir : probe.looked_in) {
    const fs::path candidate = fs::path(dir) / plugin_file_name(name);
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) {
      probe.path = candidate.string();
      break;
    }
  }
  return probe;
}

LoadedPlugin load_plugin(const std::string& name, std::uint32_t table_size) {
  const PluginProbe probe = find_plugin(name);
  if (probe.path.empty()) throw Error(probe.not_found_reason());
  LoadedPlugin plugin;
  try {
    plugin.library = std::make_shared<SharedLibrary>(probe.path);
  } catch (const Error& e) {
    throw Error(probe.path + " cannot be loaded: " + e.what());
  }
  const std::string entry = "concise_" + name + "_plugin";
  using Entry = const PluginHeader* (*)();
  auto* function = reinterpret_cast<Entry>(plugin.library->symbol(entry.c_str()));
  if (function == nullptr) throw Error(probe.path + " is not a concise plugin: it has no " + entry + "()");
  plugin.table = function();
  if (plugin.table == nullptr || plugin.table->abi_version != kPluginAbiVersion)
    throw Error(probe.path + " was built for plugin ABI " +
                (plugin.table ? std::to_string(plugin.table->abi_version) : std::string("?")) + ", this concise uses " +
                std::to_string(kPluginAbiVersion) + "; rebuild it with this concise");
  if (plugin.table->table_size < table_size)
    throw Error(probe.path + " has an older table than this concise expects; rebuild it with this concise");
  return plugin;
}

}  // namespace concise
