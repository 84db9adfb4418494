#include "concise/core/npy.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>

#include "concise/core/error.hpp"
#include "concise/core/output_file.hpp"

namespace concise {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError("file " + in_quotes(path) + ": " + what);
}

std::int64_t element_count(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

}  // namespace

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

float half_to_float(std::uint16_t half) {
  std::uint32_t sign = static_cast<std::uint32_t>(half & 0x8000u) << 16;
  std::uint32_t exponent = (half >> 10) & 0x1fu;
  std::uint32_t mantissa = half & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalize
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof(out));
  return out;
}

NpyInfo inspect_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot be opened (no such file?)");
  char magic[8] = {};
  in.read(magic, 8);
  if (in.gcount() != 8 || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    fail(path, "not a .npy file (bad magic), or it is truncated");
  const int major = static_cast<unsigned char>(magic[6]);
  std::uint32_t header_len = 0;
  if (major == 1) {
    unsigned char len[2];
    in.read(reinterpret_cast<char*>(len), 2);
    header_len = len[0] | (len[1] << 8u);
  } else if (major == 2 || major == 3) {
    unsigned char len[4];
    in.read(reinterpret_cast<char*>(len), 4);
    header_len = len[0] | (len[1] << 8u) | (len[2] << 16u) | (static_cast<std::uint32_t>(len[3]) << 24u);
  } else {
    fail(path, "unsupported .npy version " + std::to_string(major));
  }
  if (!in || header_len > (1u << 24)) fail(path, ".npy header is truncated");
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (static_cast<std::uint32_t>(in.gcount()) != header_len) fail(path, ".npy header is truncated");

  NpyInfo info;
  info.path = path;
  info.data_offset = static_cast<std::uint64_t>(in.tellg());

  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([<>|=])([a-z])(\d+)')")))
    fail(path, ".npy header has no dtype");
  const std::string order = m[1], kind = m[2];
  info.item_size = m[3].length() <= 2 ? std::stoi(m[3]) : 0;
  if (kind != "f" || (info.item_size != 2 && info.item_size != 4 && info.item_size != 8))
    fail(path, "dtype " + std::string(m[0]).substr(std::string(m[0]).find(':') + 1) +
                   " is not supported, expected float16, float32 or float64");
  if (order == ">") fail(path, "big-endian data is not supported, expected little-endian floats");
  if (std::regex_search(header, std::regex(R"('fortran_order'\s*:\s*True)")))
    fail(path, "Fortran-ordered arrays are not supported, expected C order (numpy.ascontiguousarray)");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))"))) fail(path, ".npy header has no shape");
  const std::string dims = m[1];
  std::regex number(R"(\d+)");
  // The data's size must fit in 64 bits before the file size can vouch for it.
  std::uint64_t values = 1;
  const std::uint64_t most_values = std::numeric_limits<std::uint64_t>::max() / 8;
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) {
    const std::string digits = it->str();
    const std::uint64_t dim = digits.size() <= 18 ? std::stoull(digits) : most_values + 1;
    if (dim > most_values || (dim != 0 && values > most_values / dim))
      fail(path, "shape (" + dims + ") is too large for any file");
    values *= dim;
    info.shape.push_back(static_cast<std::int64_t>(dim));
  }
  if (info.shape.empty()) fail(path, "expected an array, found a scalar");

  in.seekg(0, std::ios::end);
  const auto file_size = static_cast<std::uint64_t>(in.tellg());
  const std::uint64_t expected = info.data_offset + static_cast<std::uint64_t>(element_count(info.shape)) *
                                                        static_cast<std::uint64_t>(info.item_size);
  if (file_size < expected)
    fail(path, "truncated: the header announces " + std::to_string(expected - info.data_offset) +
                   " bytes of data, the file holds " + std::to_string(file_size - info.data_offset));
  return info;
}

void read_npy_rows(const NpyInfo& info, std::int64_t first, std::int64_t count, float* out) {
  const std::int64_t cols = info.shape.size() == 1 ? info.shape[0] : element_count(info.shape) / std::max<std::int64_t>(info.shape[0], 1);
  const std::int64_t n = count * cols;
  std::ifstream in(info.path, std::ios::binary);
  if (!in) fail(info.path, "cannot be opened");
  in.seekg(static_cast<std::streamoff>(info.data_offset + static_cast<std::uint64_t>(first * cols * info.item_size)));
  if (info.item_size == 4) {
    in.read(reinterpret_cast<char*>(out), n * 4);
  } else if (info.item_size == 8) {
    std::vector<double> buffer(static_cast<std::size_t>(n));
    in.read(reinterpret_cast<char*>(buffer.data()), n * 8);
    for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(buffer[static_cast<std::size_t>(i)]);
  } else {
    std::vector<std::uint16_t> buffer(static_cast<std::size_t>(n));
    in.read(reinterpret_cast<char*>(buffer.data()), n * 2);
    for (std::int64_t i = 0; i < n; ++i) out[i] = half_to_float(buffer[static_cast<std::size_t>(i)]);
  }
  if (!in) fail(info.path, "read failed at row " + std::to_string(first) + " (truncated?)");
}

Matrix<float> read_npy_matrix(const std::string& path) {
  NpyInfo info = inspect_npy(path);
  if (info.shape.size() != 2) fail(path, "expected a 2-D array [rows, dim], got shape " + shape_text(info.shape));
  Matrix<float> out(info.shape[0], info.shape[1]);
  read_npy_rows(info, 0, info.shape[0], out.data());
  return out;
}

std::vector<float> read_npy_vector(const std::string& path) {
  NpyInfo info = inspect_npy(path);
  if (info.shape.size() > 2 || (info.shape.size() == 2 && info.shape[0] != 1))
    fail(path, "expected a 1-D array (a vector), got shape " + shape_text(info.shape));
  std::vector<float> out(static_cast<std::size_t>(element_count(info.shape)));
  read_npy_rows(info, 0, 1, out.data());
  return out;
}

void write_npy(const std::string& path, const float* data, const std::vector<std::int64_t>& shape) {
  std::string dims;
  for (auto s : shape) dims += std::to_string(s) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const std::string partial = path + ".partial";
  const PartialLock lock(partial);
  errno = 0;
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("file " + in_quotes(partial) + ": cannot be written (" + system_reason(errno) + ")");
  out.write("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<std::uint16_t>(header.size());
  const char len_bytes[2] = {static_cast<char>(len & 0xff), static_cast<char>(len >> 8)};
  out.write(len_bytes, 2);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(element_count(shape) * 4));
  out.close();
  const int error_number = errno;
  std::error_code ec;
  if (!out) {
    std::filesystem::remove(partial, ec);
    throw Error("file " + in_quotes(partial) + ": write failed (" +
                (error_number != 0 ? system_reason(error_number) : std::string("write error")) + ")");
  }
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error("file " + in_quotes(path) + ": cannot be written (" + ec.message() + ")");
}

}  // namespace concise
