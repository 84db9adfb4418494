#include "concise/core/output_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "concise/core/error.hpp"

namespace concise {
namespace {

namespace fs = std::filesystem;

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

void check_folder(const std::string& output) {
  const std::string folder = folder_of(output);
  struct stat info {};
  if (stat(folder.c_str(), &info) != 0)
    throw InputError("output folder " + in_quotes(folder) + " does not exist (for " + in_quotes(output) +
                     "); create it first");
  if (!S_ISDIR(info.st_mode)) throw InputError("output folder " + in_quotes(folder) + " is not a folder");
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

}  // namespace

std::string system_reason(int error_number) { return std::strerror(error_number); }

void check_output(const std::string& output, const std::vector<std::string>& inputs) {
  check_folder(output);
  struct stat out {};
  if (stat(output.c_str(), &out) != 0) return;  // a new file cannot be an input
  const auto refuse = [&](const std::string& input) {
    throw InputError("output " + in_quotes(output) + " is the input " + in_quotes(input) +
                     " (the same file); concise never overwrites its inputs: pick another output");
  };
  for (const auto& input : inputs) {
    struct stat in {};
    if (input.empty() || stat(input.c_str(), &in) != 0) continue;
    if (same_file(in, out)) refuse(input);
    if (!S_ISDIR(in.st_mode)) continue;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(input, ec)) {
      struct stat child {};
      if (stat(entry.path().c_str(), &child) == 0 && same_file(child, out)) refuse(entry.path().string());
    }
  }
}

PartialLock::PartialLock(const std::string& partial_path) {
  check_folder(partial_path);
  existed_ = access(partial_path.c_str(), F_OK) == 0;
  fd_ = open(partial_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw InputError("file " + in_quotes(partial_path) + ": cannot be created (" + system_reason(errno) + ")");
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (fcntl(fd_, F_OFD_SETLK, &lock) != 0) {
    const int error_number = errno;
    close(fd_);
    fd_ = -1;
    if (error_number == EAGAIN || error_number == EACCES)
      throw InputError("file " + in_quotes(partial_path) +
                       ": another concise run is writing this output now; wait for it to finish, or pick another output");
    throw Error("file " + in_quotes(partial_path) + ": cannot be locked (" + system_reason(error_number) + ")");
  }
}

PartialLock::~PartialLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace concise
