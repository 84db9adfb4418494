#include "concise/core/data_dir.hpp"

#include <filesystem>

namespace concise {

std::string shipped_data_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path dir = exe.parent_path().parent_path() / "share" / "concise";
  return fs::is_directory(dir, ec) ? dir.string() : "";
}

}  // namespace concise
