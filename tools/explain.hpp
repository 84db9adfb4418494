#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace concise::cli {

// Prints rows [first, last) of a codes file: top concepts with weights, l0, the centered and SpLiCE cosines, gap.
void print_explanation(const std::string& codes_path, std::int64_t first, std::int64_t last, int top,
                       const std::vector<std::string>& labels);

}  // namespace concise::cli
