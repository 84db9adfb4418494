#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/dictionary.hpp"

namespace concise::cli {

// Prints rows [first, last) of a codes file: top concepts with weights, l0, the centered and SpLiCE cosines, gap.
// With the codes' dictionary, learned atoms show what they are near: "learned_17 ~ {beach, surfboard, ocean}".
void print_explanation(const std::string& codes_path, std::int64_t first, std::int64_t last, int top,
                       const std::vector<std::string>& labels, const Dictionary* dictionary = nullptr);

}  // namespace concise::cli
