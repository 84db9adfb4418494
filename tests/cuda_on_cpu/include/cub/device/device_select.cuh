#pragma once
#include <cstddef>

#include "cuda_runtime.h"

namespace cub {
struct DeviceSelect {
  template <class In, class Flags, class Out, class Count>
  static cudaError_t Flagged(void* temp, std::size_t& temp_bytes, In in, Flags flags, Out out, Count* selected,
                             long long n, cudaStream_t = nullptr) {
    if (temp == nullptr) {
      temp_bytes = 256 + static_cast<std::size_t>(n) * 4;  // grows with n, as CUB's does
      return cudaSuccess;
    }
    // Storage sized for fewer items than this call's would be overrun on a GPU.
    const std::size_t needed = 256 + static_cast<std::size_t>(n) * 4;
    if (temp_bytes < needed || !concise_emu::is_device_range(temp, needed)) return cudaErrorInvalidValue;
    if (!concise_emu::is_device_range(selected, sizeof(Count))) return cudaErrorIllegalAddress;
    long long kept = 0;
    for (long long i = 0; i < n; ++i)
      if (flags[i]) out[kept++] = in[i];
    *selected = static_cast<Count>(kept);
    return cudaSuccess;
  }
};
}  // namespace cub
