#include "gram_rows.hpp"

#include <algorithm>
#include <thread>

#include "cpu_blas.hpp"

namespace concise::cpu {

GramRows::GramRows(MatrixView<const float> atoms, std::int64_t budget_floats)
    : atoms_(atoms),
      capacity_(std::min(atoms.rows, std::max<std::int64_t>(1, budget_floats / std::max<std::int64_t>(1, atoms.rows)))),
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
  // One GEMM per block the new rows fall in: rows = gathered atoms x C^T.
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  std::vector<float> gathered;
  for (std::size_t begin = 0; begin < mine.size();) {
    const std::int64_t slot = first + static_cast<std::int64_t>(begin);
    const auto end = std::min(mine.size(), begin + static_cast<std::size_t>(kBlockRows - slot % kBlockRows));
    const auto m = static_cast<std::int64_t>(end - begin);
    gathered.resize(static_cast<std::size_t>(m * d));
    for (std::int64_t i = 0; i < m; ++i)
      std::copy_n(atoms_.row(mine[begin + static_cast<std::size_t>(i)]), d, gathered.begin() + i * d);
    gemm_abt(gathered.data(), atoms_.data, blocks_[static_cast<std::size_t>(slot / kBlockRows)].get() + (slot % kBlockRows) * c,
             m, c, d, 1.0f, 0.0f);
    begin = end;
  }
  for (auto a : mine) state_[static_cast<std::size_t>(a)].store(kReady, std::memory_order_release);
  for (auto a : theirs)
    while (state_[static_cast<std::size_t>(a)].load(std::memory_order_acquire) != kReady) std::this_thread::yield();
  return true;
}

}  // namespace concise::cpu
