#pragma once
// The certified maximum of one row's correlations, shared by the gap kernels: the
// FP32 GEMM finds the candidates, float64 dot products settle the maximum
// (rules::certified_max_margin). Called by every thread of a block of `Threads`.
#include <cub/block/block_reduce.cuh>

#include <cfloat>
#include <cstdint>

#include "concise/solvers/rules.hpp"

namespace concise::cuda {

template <int Threads>
struct RowMaxStorage {
  typename cub::BlockReduce<float, Threads>::TempStorage floats;
  typename cub::BlockReduce<double, Threads>::TempStorage doubles;
  float max_shared;
};

struct MaxOf {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
  __device__ double operator()(double a, double b) const { return a > b ? a : b; }
};

// max_k <C_k, r> in float64 over the atoms whose float g_k lies within the margin of
// the float maximum (r in float32 or float64); the result is valid in thread 0.
template <int Threads, class Residual>
__device__ double certified_row_max(const float* g_row, const Residual* r_row, const float* atoms, std::int64_t c,
                                    std::int64_t d, RowMaxStorage<Threads>& storage) {
  float largest = -FLT_MAX;
  for (std::int64_t k = threadIdx.x; k < c; k += Threads) largest = fmaxf(largest, g_row[k]);
  largest = cub::BlockReduce<float, Threads>(storage.floats).Reduce(largest, MaxOf());
  if (threadIdx.x == 0) storage.max_shared = largest;
  __syncthreads();
  const float m = storage.max_shared;
  const float margin = rules::certified_max_margin(m);
  double best = -DBL_MAX;
  for (std::int64_t k = threadIdx.x; k < c; k += Threads) {
    if (g_row[k] < m - margin) continue;
    const float* atom = atoms + k * d;
    double s = 0;
    for (std::int64_t i = 0; i < d; ++i) s += static_cast<double>(atom[i]) * r_row[i];
    best = s > best ? s : best;
  }
  best = cub::BlockReduce<double, Threads>(storage.doubles).Reduce(best, MaxOf());
  __syncthreads();
  return best;
}

}  // namespace concise::cuda
