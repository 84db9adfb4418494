#pragma once
// Rows of the dictionary's Gram matrix G = C C^T, one row (c floats) per atom,
// computed when first asked for and kept for the life of the solver, up to a
// budget of rows (never the whole c x c matrix of a large dictionary). Supports of
// hundreds of atoms share most of their atoms across rows, so their Gram blocks
// are gathered from here instead of being computed again for every row and round.
// Safe to use from several threads at once. A dictionary whose whole Gram matrix fits
// can instead have every row computed at once (fetch_all), which GEMMs do far faster.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "concise/core/matrix.hpp"

namespace concise::cpu {

// <a, b> in float with a fixed order of summation, whatever computes it: a set's
// Gram block is then the same bit for bit whether its rows came from the cache or
// not, so a row's code does not depend on the rows solved before it (a resumed run
// writes the same file as an uninterrupted one). Symmetric: gram_dot(a, b) == gram_dot(b, a).
float gram_dot(const float* a, const float* b, std::int64_t d);

class GramRows {
 public:
  // Rows are kept up to budget_floats floats in all (none when the budget is under one row).
  GramRows(MatrixView<const float> atoms, std::int64_t budget_floats);

  std::int64_t capacity() const { return capacity_; }
  bool has(std::int32_t atom) const {
    return state_[static_cast<std::size_t>(atom)].load(std::memory_order_acquire) == kReady;
  }
  // Computes the missing rows of these atoms (one GEMM) and waits for those that
  // another thread is computing. False, with nothing computed, when the rows would
  // not fit in the budget.
  bool fetch(const std::int32_t* ids, std::size_t count);
  // Every row at once, by GEMMs, when the whole matrix fits the budget and no row was
  // computed yet; G is then symmetric bit for bit, and every entry comes from these
  // GEMMs (so a row's code still does not depend on the rows solved before it).
  // False, with nothing computed, otherwise.
  bool fetch_all();
  // G's row of a fetched atom: row(a)[b] = <C_a, C_b>.
  const float* row(std::int32_t atom) const { return slot_row(slot_[static_cast<std::size_t>(atom)]); }

 private:
  static constexpr std::int64_t kBlockRows = 64;  // rows are allocated in blocks, as they are needed
  static constexpr std::uint8_t kAbsent = 0, kPending = 1, kReady = 2;
  float* slot_row(std::int64_t slot) const {
    return blocks_[static_cast<std::size_t>(slot / kBlockRows)].get() + (slot % kBlockRows) * atoms_.rows;
  }

  MatrixView<const float> atoms_;
  std::int64_t capacity_;
  std::mutex mutex_;                   // guards used_, blocks_ (growth) and slot assignment
  std::int64_t used_ = 0;
  std::vector<std::unique_ptr<float[]>> blocks_;  // sized for the capacity; allocated when first used
  std::vector<std::int64_t> slot_;                // per atom
  std::unique_ptr<std::atomic<std::uint8_t>[]> state_;  // per atom: absent, pending, ready
};

}  // namespace concise::cpu
