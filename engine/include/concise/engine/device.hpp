#pragma once
// Device names, parsed in one place for the solvers, the encoders and the Python module.
#include <string>

namespace concise {

struct Device {
  enum class Kind { Cpu, Cuda };
  Kind kind = Kind::Cpu;
  int index = 0;
  std::string to_string() const;  // "cpu" or "cuda:N"
  bool operator==(const Device& other) const { return kind == other.kind && (kind == Kind::Cpu || index == other.index); }
};

// What a device name asks for: "auto" (automatic: the backend that uses it picks the
// first GPU it can use, else the CPU), "cpu", "cuda" (= cuda:0) or "cuda:N".
// Anything else is an InputError.
struct DeviceRequest {
  bool automatic = false;
  Device device;
  std::string to_string() const;  // "auto", "cpu" or "cuda:N"
};
DeviceRequest parse_device(const std::string& text);

}  // namespace concise
