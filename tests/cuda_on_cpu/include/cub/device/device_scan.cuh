#pragma once
#include <cstddef>

#include "cuda_runtime.h"

namespace cub {
struct DeviceScan {
  template <class In, class Out>
  static cudaError_t ExclusiveSum(void* temp, std::size_t& temp_bytes, In in, Out out, long long n,
                                  cudaStream_t = nullptr) {
    if (temp == nullptr) {
      temp_bytes = 256 + static_cast<std::size_t>(n) * 4;  // grows with n, as CUB's does
      return cudaSuccess;
    }
    // Storage sized for fewer items than this call's would be overrun on a GPU.
    const std::size_t needed = 256 + static_cast<std::size_t>(n) * 4;
    if (temp_bytes < needed || !concise_emu::is_device_range(temp, needed)) return cudaErrorInvalidValue;
    using T = std::remove_reference_t<decltype(*out)>;
    T running{};
    for (long long i = 0; i < n; ++i) {
      const T v = static_cast<T>(in[i]);
      out[i] = running;
      running = running + v;
    }
    return cudaSuccess;
  }
};
}  // namespace cub
