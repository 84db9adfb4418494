#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/dictionary.hpp"

namespace concise::cli {

// Prints rows [first, last) of a codes file: top concepts with weights, l0, the centered and SpLiCE cosines, gap.
// Learned atoms show what they are near, "learned_17 ~ {beach, surfboard, ocean}", from the descriptions the
// codes file keeps (or from the codes' dictionary, when given).
void print_explanation(const std::string& codes_path, std::int64_t first, std::int64_t last, int top,
                       const std::vector<std::string>& labels, const Dictionary* dictionary = nullptr);

}  // namespace concise::cli
