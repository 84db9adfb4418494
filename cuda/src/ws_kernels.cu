#include <cub/block/block_reduce.cuh>

#include <cfloat>

#include "cuda_check.hpp"
#include "ws_kernels.cuh"

namespace concise::cuda::ws {

namespace {

constexpr int kThreads = 128;
using IntReduce = cub::BlockReduce<int, kThreads>;
using FloatReduce = cub::BlockReduce<float, kThreads>;

struct MaxOp {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};

__device__ int count_above(const float* g, std::int64_t c, float t, IntReduce::TempStorage& storage, int* shared) {
  int n = 0;
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) n += g[k] > t;
  n = IntReduce(storage).Sum(n);
  if (threadIdx.x == 0) *shared = n;
  __syncthreads();
  const int total = *shared;
  __syncthreads();
  return total;
}

__global__ void extend_sets_kernel(float* g, const float* __restrict__ gram, std::int64_t c, float half_l1, float near,
                                   int growth, int* set, float* set_b, float* set_w, int* set_size, int* added) {
  __shared__ typename IntReduce::TempStorage int_storage;
  __shared__ typename FloatReduce::TempStorage float_storage;
  __shared__ int members[kMaxSet];
  __shared__ float weights[kMaxSet];
  __shared__ float correlations[kMaxSet];
  __shared__ int size_shared, count_shared, slot_shared;
  __shared__ float max_shared;
  const std::int64_t row = blockIdx.x;
  float* g_row = g + row * c;
  int* set_row = set + row * kMaxSet;
  float* b_row = set_b + row * kMaxSet;
  float* w_row = set_w + row * kMaxSet;

  if (threadIdx.x == 0) {  // keep the atoms with weight; the set is small
    int kept = 0;
    for (int j = 0; j < set_size[row]; ++j) {
      if (w_row[j] > 0.0f) {
        members[kept] = set_row[j];
        weights[kept] = w_row[j];
        correlations[kept] = b_row[j];
        ++kept;
      }
    }
    size_shared = kept;
    slot_shared = 0;
  }
  __syncthreads();
  const int size = size_shared;
  for (int j = threadIdx.x; j < size; j += kThreads) g_row[members[j]] = -FLT_MAX;  // members are not candidates
  __syncthreads();

  float top = -FLT_MAX;
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) top = fmaxf(top, g_row[k]);
  top = FloatReduce(float_storage).Reduce(top, MaxOp());
  if (threadIdx.x == 0) max_shared = top;
  __syncthreads();
  top = max_shared;
  const int room = min(growth, kMaxSet - size);
  const float floor = near * half_l1;
  int take = 0;
  float threshold = floor;
  if (top > half_l1 && room > 0) {
    take = count_above(g_row, c, floor, int_storage, &count_shared);
    if (take > room) {  // bisect for the value above which at most `room` atoms lie
      float lo = floor, hi = top;
      for (int step = 0; step < 30 && hi - lo > 1e-7f * fmaxf(1.0f, hi); ++step) {
        const float mid = 0.5f * (lo + hi);
        if (count_above(g_row, c, mid, int_storage, &count_shared) > room) lo = mid;
        else hi = mid;
      }
      threshold = hi;
    }
  }
  if (take > 0) {
    for (std::int64_t k = threadIdx.x; k < c; k += kThreads) {
      if (g_row[k] > threshold) {
        const int slot = atomicAdd(&slot_shared, 1);
        if (slot < room) {
          // b_k = g_k + (G w_S)_k, the correlation with z, from g = C (z - C_S^T w_S).
          float b = g_row[k];
          for (int j = 0; j < size; ++j) b += gram[k * c + members[j]] * weights[j];
          members[size + slot] = static_cast<int>(k);
          weights[size + slot] = 0.0f;
          correlations[size + slot] = b;
        }
      }
    }
  }
  __syncthreads();
  const int new_atoms = take > 0 ? min(slot_shared, room) : 0;
  for (int j = threadIdx.x; j < size + new_atoms; j += kThreads) {
    set_row[j] = members[j];
    w_row[j] = weights[j];
    b_row[j] = correlations[j];
  }
  if (threadIdx.x == 0) {
    set_size[row] = size + new_atoms;
    added[row] = new_atoms;
  }
}

__global__ void solve_sets_kernel(const float* __restrict__ gram, std::int64_t c, float l1, const int* set,
                                  const float* set_b, float* set_w, const int* set_size, const float* tol,
                                  int max_sweeps) {
  __shared__ float block[kMaxSet * kMaxSet];
  __shared__ float w[kMaxSet], b[kMaxSet], grad[kMaxSet];
  __shared__ float delta_shared, moved_shared;
  const std::int64_t row = blockIdx.x;
  const int s = set_size[row];
  const int* members = set + row * kMaxSet;
  for (int e = threadIdx.x; e < s * s; e += kThreads)
    block[e] = gram[static_cast<std::int64_t>(members[e / s]) * c + members[e % s]];
  for (int j = threadIdx.x; j < s; j += kThreads) {
    w[j] = set_w[row * kMaxSet + j];
    b[j] = set_b[row * kMaxSet + j];
  }
  __syncthreads();
  const float stop = tol[row];
  for (int sweep = 0; sweep < max_sweeps; ++sweep) {
    // The gradient G w is recomputed each sweep, so float rounding cannot pile up.
    for (int i = threadIdx.x; i < s; i += kThreads) {
      float sum = 0.0f;
      for (int j = 0; j < s; ++j) sum += block[i * s + j] * w[j];
      grad[i] = sum;
    }
    if (threadIdx.x == 0) moved_shared = 0.0f;
    __syncthreads();
    for (int j = 0; j < s; ++j) {
      if (threadIdx.x == 0) {
        const float diagonal = fmaxf(block[j * s + j], 1e-12f);
        const float next = fmaxf(0.0f, w[j] - (2.0f * grad[j] - 2.0f * b[j] + l1) / (2.0f * diagonal));
        delta_shared = next - w[j];
        w[j] = next;
        moved_shared = fmaxf(moved_shared, fabsf(delta_shared));
      }
      __syncthreads();
      const float delta = delta_shared;
      if (delta != 0.0f)
        for (int i = threadIdx.x; i < s; i += kThreads) grad[i] += block[i * s + j] * delta;
      __syncthreads();
    }
    if (moved_shared <= stop) break;
    __syncthreads();
  }
  for (int j = threadIdx.x; j < s; j += kThreads) set_w[row * kMaxSet + j] = w[j];
}

__global__ void scatter_sets_kernel(const int* set, const float* set_w, const int* set_size, float* w, std::int64_t c) {
  const std::int64_t row = blockIdx.x;
  for (int j = threadIdx.x; j < set_size[row]; j += kThreads) w[row * c + set[row * kMaxSet + j]] = set_w[row * kMaxSet + j];
}

unsigned blocks(std::int64_t rows) { return static_cast<unsigned>(rows); }

}  // namespace

void extend_sets(float* g, const float* gram, std::int64_t rows, std::int64_t c, float half_l1, float near, int growth,
                 int* set, float* set_b, float* set_w, int* set_size, int* added, cudaStream_t stream) {
  if (rows == 0) return;
  extend_sets_kernel<<<blocks(rows), kThreads, 0, stream>>>(g, gram, c, half_l1, near, growth, set, set_b, set_w,
                                                            set_size, added);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void solve_sets(const float* gram, std::int64_t rows, std::int64_t c, float l1, const int* set, const float* set_b,
                float* set_w, const int* set_size, const float* tol, int max_sweeps, cudaStream_t stream) {
  if (rows == 0) return;
  solve_sets_kernel<<<blocks(rows), kThreads, 0, stream>>>(gram, c, l1, set, set_b, set_w, set_size, tol, max_sweeps);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void scatter_sets(const int* set, const float* set_w, const int* set_size, float* w, std::int64_t rows, std::int64_t c,
                  cudaStream_t stream) {
  if (rows == 0) return;
  scatter_sets_kernel<<<blocks(rows), kThreads, 0, stream>>>(set, set_w, set_size, w, c);
  CONCISE_CUDA_CHECK_LAUNCH();
}

}  // namespace concise::cuda::ws
