#include "gram_rows.hpp"

#include <algorithm>
#include <thread>

#include "cpu_blas.hpp"


namespace concise::cpu {

CONCISE_VECTOR_CLONES float gram_dot(const float* a, const float* b, std::int64_t d) {
  constexpr int kLanes = 16;  // independent partial sums: the loop vectorizes without reordering a sum
  float partial[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes)
    for (int l = 0; l < kLanes; ++l) partial[l] += a[i + l] * b[i + l];
  for (int l = 0; i < d; ++i, ++l) partial[l] += a[i] * b[i];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int l = 0; l < width; ++l) partial[l] += partial[l + width];
  return partial[0];
}

GramRows::GramRows(MatrixView<const float> atoms, std::int64_t budget_floats)
    : atoms_(atoms),
      capacity_(std::min(atoms.rows, std::max<std::int64_t>(0, budget_floats / std::max<std::int64_t>(1, atoms.rows)))),
      blocks_(static_cast<std::size_t>((capacity_ + kBlockRows - 1) / kBlockRows)),
      slot_(static_cast<std::size_t>(atoms.rows), -1),
      state_(new std::atomic<std::uint8_t>[static_cast<std::size_t>(atoms.rows)]) {
  for (std::int64_t a = 0; a < atoms.rows; ++a) state_[static_cast<std::size_t>(a)].store(kAbsent);
}

bool GramRows::fetch(const std::int32_t* ids, std::size_t count) {
  std::vector<std::int32_t> mine, theirs;
  std::int64_t first = 0;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint8_t state = state_[static_cast<std::size_t>(ids[i])].load(std::memory_order_relaxed);
      if (state == kAbsent) mine.push_back(ids[i]);
      else if (state == kPending) theirs.push_back(ids[i]);
    }
    if (used_ + static_cast<std::int64_t>(mine.size()) > capacity_) return false;
    first = used_;
    used_ += static_cast<std::int64_t>(mine.size());
    for (std::size_t i = 0; i < mine.size(); ++i) {
      const std::int64_t slot = first + static_cast<std::int64_t>(i);
      auto& block = blocks_[static_cast<std::size_t>(slot / kBlockRows)];
      if (!block) block.reset(new float[static_cast<std::size_t>(kBlockRows * atoms_.rows)]);
      slot_[static_cast<std::size_t>(mine[i])] = slot;
      state_[static_cast<std::size_t>(mine[i])].store(kPending, std::memory_order_relaxed);
    }
  }
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    float* row = slot_row(first + static_cast<std::int64_t>(i));
    const float* a = atoms_.row(mine[i]);
    for (std::int64_t b = 0; b < c; ++b) row[b] = gram_dot(a, atoms_.row(b), d);
  }
  for (auto a : mine) state_[static_cast<std::size_t>(a)].store(kReady, std::memory_order_release);
  for (auto a : theirs)
    while (state_[static_cast<std::size_t>(a)].load(std::memory_order_acquire) != kReady) std::this_thread::yield();
  return true;
}

bool GramRows::fetch_all() {
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (capacity_ < c || used_ > 0) return false;
    used_ = c;
    for (std::int64_t a = 0; a < c; ++a) {
      slot_[static_cast<std::size_t>(a)] = a;
      state_[static_cast<std::size_t>(a)].store(kPending, std::memory_order_relaxed);
    }
  }
  for (std::int64_t first = 0; first < c; first += kBlockRows) {
    auto& block = blocks_[static_cast<std::size_t>(first / kBlockRows)];
    block.reset(new float[static_cast<std::size_t>(kBlockRows * c)]);
    gemm_abt(atoms_.row(first), atoms_.data, block.get(), std::min(kBlockRows, c - first), c, d, 1.0f, 0.0f);
  }
  for (std::int64_t a = 0; a < c; ++a) {  // the lower triangle from the upper one
    float* row = slot_row(a);
    for (std::int64_t b = 0; b < a; ++b) row[b] = slot_row(b)[a];
  }
  for (std::int64_t a = 0; a < c; ++a) state_[static_cast<std::size_t>(a)].store(kReady, std::memory_order_release);
  return true;
}

}  // namespace concise::cpu
