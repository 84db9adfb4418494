#pragma once
#include <memory>
#include <string>

#include "concise/solvers/decomposer.hpp"

namespace concise {

struct Device {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  int index = 0;
  std::string to_string() const;
};

// "auto" (the first GPU when one is usable, else the CPU), "cpu", "cuda" or "cuda:N".
Device parse_device(const std::string& text);

// The decomposer for a device; atoms must outlive it.
std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float> atoms, const SolveOptions& options,
                                            const Device& device);

}  // namespace concise
