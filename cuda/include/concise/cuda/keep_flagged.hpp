#pragma once
// The batch's per-row host state follows its rows when finished rows are dropped.
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace concise::cuda {

// Keeps the entries whose flag is set, in order. An entry that stays in place is not
// moved onto itself: a self-moved vector comes out empty.
template <class T>
void keep_flagged(std::vector<T>& values, const std::vector<std::uint8_t>& keep) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!keep[i]) continue;
    if (kept != i) values[kept] = std::move(values[i]);
    ++kept;
  }
  values.resize(kept);
}

}  // namespace concise::cuda
