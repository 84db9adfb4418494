#pragma once
// The rules every writer follows before it touches the disk (docs/DESIGN.md §4):
// the output's folder exists, the output is none of the inputs, and only one
// writer at a time works on OUT.partial.
#include <string>
#include <vector>

namespace concise {

// Throws an InputError naming the folder when output's folder does not exist, and
// one naming both paths when output already exists and is the same file (same
// device and inode, whatever the names) as one of inputs. A folder among inputs
// stands for the files directly inside it.
void check_output(const std::string& output, const std::vector<std::string>& inputs = {});

// An exclusive lock on a .partial file (created empty when missing), held for the
// lifetime of the object: a second writer of the same output is refused with an
// InputError before it changes anything. The lock is an open-file-description lock,
// so HDF5 opening and closing the same file does not release it.
class PartialLock {
 public:
  explicit PartialLock(const std::string& partial_path);
  ~PartialLock();
  PartialLock(const PartialLock&) = delete;
  PartialLock& operator=(const PartialLock&) = delete;

  // Whether the file existed before this lock was taken.
  bool existed() const { return existed_; }

 private:
  int fd_ = -1;
  bool existed_ = false;
};

// The operating system's reason for the last failed call ("No space left on device").
std::string system_reason(int error_number);

}  // namespace concise
