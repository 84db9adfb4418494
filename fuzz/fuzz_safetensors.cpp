// The safetensors header parser: length prefix, JSON header, dtypes, shapes and
// byte ranges checked against the file.
#include <cstdint>
#include <sstream>
#include <string>

#include "expect_errors.hpp"
#include "safetensors_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  return concise::fuzz::expect_errors([&] {
    for (const auto& entry : concise::clip::detail::read_safetensors_header(in, size, "model.safetensors"))
      if (entry.offset + entry.bytes > size || entry.offset < 8) __builtin_trap();  // promised to fit the file
  });
}
