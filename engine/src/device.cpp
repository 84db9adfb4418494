#include "concise/engine/device.hpp"

#include <cstdlib>

#include "concise/core/error.hpp"

namespace concise {

std::string Device::to_string() const { return kind == Kind::Cpu ? "cpu" : "cuda:" + std::to_string(index); }

std::string DeviceRequest::to_string() const { return automatic ? "auto" : device.to_string(); }

DeviceRequest parse_device(const std::string& text) {
  DeviceRequest request;
  if (text == "auto") {
    request.automatic = true;
    return request;
  }
  if (text == "cpu") return request;
  if (text.rfind("cuda", 0) == 0) {
    request.device.kind = Device::Kind::Cuda;
    if (text.size() > 4) {
      char* end = nullptr;
      const long parsed = text[4] == ':' ? std::strtol(text.c_str() + 5, &end, 10) : -1;
      if (text[4] != ':' || end == text.c_str() + 5 || *end != '\0' || parsed < 0 || parsed > 1024)
        throw InputError("device " + in_quotes(text) + " is malformed, expected auto, cpu, cuda or cuda:N");
      request.device.index = static_cast<int>(parsed);
    }
    return request;
  }
  throw InputError("device " + in_quotes(text) + " is unknown, expected auto, cpu, cuda or cuda:N");
}

}  // namespace concise
