#include "safetensors_header.hpp"

#include <limits>
#include <nlohmann/json.hpp>

#include "concise/core/error.hpp"

namespace concise::clip::detail {
namespace {

std::uint64_t element_size(const std::string& dtype, const std::string& where) {
  if (dtype == "F32") return 4;
  if (dtype == "F16" || dtype == "BF16") return 2;
  if (dtype == "F64") return 8;
  throw InputError(where + " has dtype " + dtype + ", expected F32, F16, BF16 or F64");
}

// The tensor's size in bytes, or an error when a dimension is negative or the size
// does not fit in 64 bits.
std::uint64_t byte_size(const std::vector<std::int64_t>& shape, std::uint64_t item, const std::string& where) {
  std::uint64_t bytes = item;
  for (const auto s : shape) {
    if (s < 0) throw InputError(where + " has a negative dimension " + std::to_string(s));
    const auto dim = static_cast<std::uint64_t>(s);
    if (dim != 0 && bytes > std::numeric_limits<std::uint64_t>::max() / dim)
      throw InputError(where + " has a shape too large for any file");
    bytes *= dim;
  }
  return bytes;
}

// A header list of 64-bit whole numbers. A literal too large for 64 bits parses as a
// floating-point number, which is refused here: casting it to an integer is undefined.
template <class T>
std::vector<T> whole_numbers(const nlohmann::json& list, const char* key, const std::string& where) {
  if (list.is_array())
    for (const auto& x : list)
      if (x.is_number_float() ||
          (x.is_number_unsigned() && x.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
        throw InputError(where + ": " + key + " holds " + x.dump() + ", which is no 64-bit whole number");
  return list.get<std::vector<T>>();
}

}  // namespace

std::vector<SafetensorsEntry> read_safetensors_header(std::istream& in, std::uint64_t file_size,
                                                      const std::string& path) {
  const std::string file = "weights file " + in_quotes(path);
  unsigned char length_bytes[8] = {};
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
  if (!in || file_size < 8 || header_size > file_size - 8 || header_size > (100u << 20))
    throw InputError(file + " is not a safetensors file (bad header length)");
  std::string header(header_size, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_size));
  if (!in) throw InputError(file + " is not a safetensors file (truncated header)");
  nlohmann::json entries;
  try {
    entries = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(file + " has an unreadable safetensors header: " + e.what());
  }
  if (!entries.is_object()) throw InputError(file + " has a safetensors header that is not a JSON object");
  const std::uint64_t data_start = 8 + header_size;
  const std::uint64_t data_size = file_size - data_start;
  std::vector<SafetensorsEntry> out;
  for (const auto& [name, entry] : entries.items()) {
    if (name == "__metadata__") continue;
    const std::string where = "tensor " + in_quotes(name) + " in " + in_quotes(path);
    try {
      SafetensorsEntry e;
      e.name = name;
      e.dtype = entry.at("dtype").get<std::string>();
      e.shape = whole_numbers<std::int64_t>(entry.at("shape"), "shape", where);
      const auto offsets = whole_numbers<std::uint64_t>(entry.at("data_offsets"), "data_offsets", where);
      e.bytes = byte_size(e.shape, element_size(e.dtype, where), where);
      if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] - offsets[0] != e.bytes ||
          offsets[1] > data_size)
        throw InputError(where + ": its byte range does not fit its shape or the file (truncated?)");
      e.offset = data_start + offsets[0];
      out.push_back(std::move(e));
    } catch (const nlohmann::json::exception& e) {
      throw InputError(where + ": malformed header entry: " + e.what());
    }
  }
  return out;
}

}  // namespace concise::clip::detail
