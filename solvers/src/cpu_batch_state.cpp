#include "cpu_batch_state.hpp"

#include <cstring>
#include <numeric>

namespace concise::cpu {

BatchState::BatchState(const std::vector<std::int64_t>& rows, MatrixView<const float> atoms, int planes)
    : full_(atoms), d_(atoms.cols), row_ids_(rows), atom_ids_(static_cast<std::size_t>(atoms.rows)),
      planes_(static_cast<std::size_t>(planes)), scalars_(rows.size(), 0.0), dictionary_(atoms.data) {
  std::iota(atom_ids_.begin(), atom_ids_.end(), 0);
  for (auto& p : planes_) p.assign(rows.size() * static_cast<std::size_t>(atoms.rows), 0.0f);
  screened_.assign(rows.size() * static_cast<std::size_t>(atoms.rows), 0);
}

void BatchState::drop_rows(const std::vector<std::uint8_t>& leaving) {
  const auto ca = static_cast<std::size_t>(atoms());
  std::size_t kept = 0;
  for (std::size_t i = 0; i < row_ids_.size(); ++i) {
    if (leaving[i]) continue;
    if (kept != i) {
      row_ids_[kept] = row_ids_[i];
      scalars_[kept] = scalars_[i];
      for (auto& p : planes_) std::memmove(p.data() + kept * ca, p.data() + i * ca, ca * sizeof(float));
      std::memmove(screened_.data() + kept * ca, screened_.data() + i * ca, ca);
    }
    ++kept;
  }
  row_ids_.resize(kept);
  scalars_.resize(kept);
  for (auto& p : planes_) p.resize(kept * ca);
  screened_.resize(kept * ca);
}

bool BatchState::compact_atoms() {
  const std::size_t na = row_ids_.size(), ca = atom_ids_.size();
  std::vector<std::size_t> keep;
  for (std::size_t k = 0; k < ca; ++k) {
    bool everywhere = na > 0;
    for (std::size_t i = 0; i < na && everywhere; ++i) everywhere = screened_[i * ca + k] != 0;
    if (!everywhere) keep.push_back(k);
  }
  if (keep.size() + ca / 4 > ca || ca - keep.size() < 64) return false;
  const std::size_t nk = keep.size();
  for (auto& p : planes_) {
    std::vector<float> next(na * nk);
    for (std::size_t i = 0; i < na; ++i)
      for (std::size_t j = 0; j < nk; ++j) next[i * nk + j] = p[i * ca + keep[j]];
    p.swap(next);
  }
  std::vector<std::uint8_t> screened(na * nk);
  for (std::size_t i = 0; i < na; ++i)
    for (std::size_t j = 0; j < nk; ++j) screened[i * nk + j] = screened_[i * ca + keep[j]];
  screened_.swap(screened);
  std::vector<std::int64_t> ids(nk);
  std::vector<float> dictionary(nk * static_cast<std::size_t>(d_));
  for (std::size_t j = 0; j < nk; ++j) {
    ids[j] = atom_ids_[keep[j]];
    std::memcpy(dictionary.data() + j * static_cast<std::size_t>(d_), full_.row(ids[j]),
                sizeof(float) * static_cast<std::size_t>(d_));
  }
  atom_ids_.swap(ids);
  owned_dictionary_.swap(dictionary);
  dictionary_ = owned_dictionary_.data();
  return true;
}

}  // namespace concise::cpu
