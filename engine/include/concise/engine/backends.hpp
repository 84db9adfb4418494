#pragma once
// The backends this concise can use, for `concise --version` and `concise backends`.
#include <string>
#include <vector>

namespace concise {

struct BackendReport {
  std::string name;    // "cpu", "cuda", "clip_torch"
  std::string what;    // "solvers", "CLIP encoders"
  bool usable = false;
  std::string status;  // where it is, its devices, or why it cannot be used
};

// Fast (no plugin is loaded): the built-in CPU backend, which plugin files exist,
// and for CUDA's whether a driver is installed.
std::vector<BackendReport> find_backends();

// Loads every plugin found and asks it: its GPUs, or why it cannot run here (a CUDA
// or LibTorch library missing, no driver, no GPU).
std::vector<BackendReport> probe_backends();

}  // namespace concise
