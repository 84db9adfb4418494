#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace concise::cli {

// One name per line (trailing empty lines dropped, CRLF tolerated).
std::vector<std::string> read_names(const std::string& path);
// The same, refused with a message naming the file unless it holds `expected` names
// (what: "rows in 'x.npy'", for the message).
std::vector<std::string> read_names(const std::string& path, std::int64_t expected, const std::string& what);

}  // namespace concise::cli
