#pragma once
// cub::BlockReduce on the CPU emulator: the result is valid in thread 0 only, as in
// CUB, and the other threads get poison; reusing TempStorage without a __syncthreads
// between two collectives is reported.
#include <cstdint>

#include "cuda_runtime.h"

namespace cub {

struct Sum {
  template <class T>
  T operator()(const T& a, const T& b) const {
    return a + b;
  }
};
struct Max {
  template <class T>
  T operator()(const T& a, const T& b) const {
    return a < b ? b : a;
  }
};

template <class T, int Threads, int Algorithm = 0, int Y = 1, int Z = 1>
class BlockReduce {
 public:
  struct TempStorage {
    std::uint64_t epoch;  // the block's barrier count at its last collective
  };
  explicit BlockReduce(TempStorage& storage) : storage_(storage) {}

  template <class F>
  T Reduce(T value, F op) {
    return run(value, &resolve<F>, "cub::BlockReduce::Reduce", Threads);
  }
  template <class F>
  T Reduce(T value, F op, int valid) {
    (void)op;
    return run(value, &resolve<F>, "cub::BlockReduce::Reduce", valid);
  }
  T Sum(T value) { return run(value, &resolve<cub::Sum>, "cub::BlockReduce::Sum", Threads); }
  T Sum(T value, int valid) { return run(value, &resolve<cub::Sum>, "cub::BlockReduce::Sum", valid); }

 private:
  template <class F>
  static void resolve(const std::uint64_t* in, std::uint64_t* out, std::uint64_t* aggregate, int threads) {
    const int valid = static_cast<int>(*aggregate);
    // Pairwise, as a tree reduction would add.
    T values[1024];
    int n = valid < threads ? valid : threads;
    for (int t = 0; t < n; ++t) values[t] = concise_emu::from_bits<T>(in[t]);
    F op;
    for (int stride = 1; stride < n; stride *= 2)
      for (int t = 0; t + stride < n; t += 2 * stride) values[t] = op(values[t], values[t + stride]);
    for (int t = 0; t < threads; ++t) out[t] = concise_emu::to_bits(concise_emu::poison<T>());
    out[0] = concise_emu::to_bits(values[0]);
  }
  T run(T value, concise_emu::Resolver resolver, const char* what, int valid) {
    static_assert(Y == 1 && Z == 1, "one-dimensional blocks");
    return concise_emu::from_bits<T>(concise_emu::collective(value, valid, Threads, resolver, storage_, what).value);
  }
  TempStorage& storage_;
};

}  // namespace cub
