#pragma once
// cub::BlockScan on the CPU emulator (the exclusive sums concise uses).
#include <cstdint>

#include "cuda_runtime.h"

namespace cub {

template <class T, int Threads, int Algorithm = 0, int Y = 1, int Z = 1>
class BlockScan {
 public:
  struct TempStorage {
    std::uint64_t epoch;
  };
  explicit BlockScan(TempStorage& storage) : storage_(storage) {}

  void ExclusiveSum(T input, T& output) {
    T total;
    ExclusiveSum(input, output, total);
  }
  void ExclusiveSum(T input, T& output, T& aggregate) {
    static_assert(Y == 1 && Z == 1, "one-dimensional blocks");
    const concise_emu::Outcome got =
        concise_emu::collective(input, Threads, Threads, &resolve, storage_, "cub::BlockScan::ExclusiveSum");
    output = concise_emu::from_bits<T>(got.value);
    aggregate = concise_emu::from_bits<T>(got.aggregate);
  }

 private:
  static void resolve(const std::uint64_t* in, std::uint64_t* out, std::uint64_t* aggregate, int threads) {
    T running{};
    for (int t = 0; t < threads; ++t) {
      out[t] = concise_emu::to_bits(running);
      running = running + concise_emu::from_bits<T>(in[t]);
    }
    *aggregate = concise_emu::to_bits(running);
  }
  TempStorage& storage_;
};

}  // namespace cub
