#include "concise/core/error.hpp"

namespace concise {

std::string in_quotes(const std::string& text) { return "'" + text + "'"; }

}  // namespace concise
