#pragma once
#include <string>
#include <vector>

namespace concise::cli {

// One name per line (trailing empty lines dropped, CRLF tolerated).
std::vector<std::string> read_names(const std::string& path);

}  // namespace concise::cli
