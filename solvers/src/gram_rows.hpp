#pragma once
// Rows of the dictionary's Gram matrix G = C C^T, one row (c floats) per atom,
// computed when first asked for and kept for the life of the solver, up to a
// budget of rows (never the whole c x c matrix of a large dictionary). Supports of
// hundreds of atoms share most of their atoms across rows, so their Gram blocks
// are gathered from here instead of being computed again for every row and round.
// Safe to use from several threads at once.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "concise/core/matrix.hpp"

namespace concise::cpu {

class GramRows {
 public:
  // Rows are kept up to budget_floats floats in all (at least one row).
  GramRows(MatrixView<const float> atoms, std::int64_t budget_floats);

  std::int64_t capacity() const { return capacity_; }
  bool has(std::int32_t atom) const {
    return state_[static_cast<std::size_t>(atom)].load(std::memory_order_acquire) == kReady;
  }
  // Computes the missing rows of these atoms (one GEMM) and waits for those that
  // another thread is computing. False, with nothing computed, when the rows would
  // not fit in the budget.
  bool fetch(const std::int32_t* ids, std::size_t count);
  // G's row of a fetched atom: row(a)[b] = <C_a, C_b>.
  const float* row(std::int32_t atom) const {
    const auto slot = slot_[static_cast<std::size_t>(atom)];
    return blocks_[static_cast<std::size_t>(slot / kBlockRows)].get() + (slot % kBlockRows) * atoms_.rows;
  }

 private:
  static constexpr std::int64_t kBlockRows = 64;  // rows are allocated in blocks, as they are needed
  static constexpr std::uint8_t kAbsent = 0, kPending = 1, kReady = 2;

  MatrixView<const float> atoms_;
  std::int64_t capacity_;
  std::mutex mutex_;                   // guards used_, blocks_ (growth) and slot assignment
  std::int64_t used_ = 0;
  std::vector<std::unique_ptr<float[]>> blocks_;  // sized for the capacity; allocated when first used
  std::vector<std::int64_t> slot_;                // per atom
  std::unique_ptr<std::atomic<std::uint8_t>[]> state_;  // per atom: absent, pending, ready
};

}  // namespace concise::cpu
