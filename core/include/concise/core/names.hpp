#pragma once
// Suggestions for a name that was not found: "did you mean 'cat', 'can' or 'cart'?"
#include <cstddef>
#include <string>
#include <vector>

namespace concise {

// Up to `count` of `names` closest to `name`, ignoring case (edit distance), closest
// first; names too far off to be a slip are left out.
std::vector<std::string> nearest_names(const std::string& name, const std::vector<std::string>& names,
                                       std::size_t count = 3);

}  // namespace concise
