#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <algorithm>
#include <cfloat>

#include "concise/core/preprocess.hpp"
#include "concise/solvers/rules.hpp"
#include "cuda_check.hpp"
#include "kernels.cuh"
#include "row_max.cuh"

namespace concise::cuda::kernels {

namespace {

constexpr int kThreads = 256;
using DoubleReduce = cub::BlockReduce<double, kThreads>;
using IntScan = cub::BlockScan<int, kThreads>;

unsigned blocks_for(std::int64_t rows) { return static_cast<unsigned>(rows); }

__global__ void fista_step_kernel(const float* __restrict__ g, const float* __restrict__ w, float* __restrict__ w_next,
                                  float* __restrict__ y, const std::uint8_t* __restrict__ screened, double* t,
                                  std::int64_t c, float gain, float shrink) {
  __shared__ typename DoubleReduce::TempStorage storage;
  __shared__ double beta_shared;
  const std::int64_t row = blockIdx.x;
  const float* g_row = g + row * c;
  const float* w_row = w + row * c;
  float* next_row = w_next + row * c;
  float* y_row = y + row * c;
  const std::uint8_t* screened_row = screened + row * c;
  double restart = 0;
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) {
    const float next = screened_row[k] ? 0.0f : fmaxf(0.0f, y_row[k] + gain * g_row[k] - shrink);
    restart += static_cast<double>(y_row[k] - next) * static_cast<double>(next - w_row[k]);
    next_row[k] = next;
  }
  restart = DoubleReduce(storage).Sum(restart);
  if (threadIdx.x == 0) {
    double& tr = t[row];
    if (restart > 0) {
      tr = 1.0;
      beta_shared = 0.0;
    } else {
      const double t_next = 0.5 * (1.0 + sqrt(1.0 + 4.0 * tr * tr));
      beta_shared = (tr - 1.0) / t_next;
      tr = t_next;
    }
  }
  __syncthreads();
  const auto beta = static_cast<float>(beta_shared);
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) y_row[k] = next_row[k] + beta * (next_row[k] - w_row[k]);
}

// The certificate's residual is rebuilt in float64 from the row's nonzero weights,
// r = z - sum_k w_k C_k, in shared memory (d doubles): the FP32 GEMM's residual is off
// by about d 2^-24 sum_k w_k ||C_k||, more than the gap a tight tolerance asks for.
__global__ void gap_terms_kernel(const float* __restrict__ z, const float* __restrict__ w,
                                 const float* __restrict__ g, const float* __restrict__ atoms, std::int64_t c,
                                 std::int64_t d, double* terms) {
  extern __shared__ double r64[];
  __shared__ typename DoubleReduce::TempStorage double_storage;
  __shared__ typename IntScan::TempStorage scan_storage;
  __shared__ RowMaxStorage<kThreads> max_storage;
  __shared__ int chunk_atoms[kThreads];
  __shared__ float chunk_weights[kThreads];
  const std::int64_t row = blockIdx.x;
  const float* z_row = z + row * d;
  const float* w_row = w + row * c;
  const float* g_row = g + row * c;
  for (std::int64_t i = threadIdx.x; i < d; i += kThreads) r64[i] = z_row[i];
  double sum_w = 0;
  for (std::int64_t base = 0; base < c; base += kThreads) {
    const std::int64_t k = base + threadIdx.x;
    const float wk = k < c ? w_row[k] : 0.0f;
    sum_w += wk;
    int at = 0, count = 0;
    IntScan(scan_storage).ExclusiveSum(wk != 0.0f ? 1 : 0, at, count);
    if (wk != 0.0f) {
      chunk_atoms[at] = static_cast<int>(k);
      chunk_weights[at] = wk;
    }
    __syncthreads();
    for (std::int64_t i = threadIdx.x; i < d; i += kThreads) {
      double s = r64[i];
      for (int j = 0; j < count; ++j)
        s -= static_cast<double>(chunk_weights[j]) * atoms[static_cast<std::int64_t>(chunk_atoms[j]) * d + i];
      r64[i] = s;
    }
    __syncthreads();
  }
  double rr = 0, rz = 0;
  for (std::int64_t i = threadIdx.x; i < d; i += kThreads) {
    rr += r64[i] * r64[i];
    rz += r64[i] * z_row[i];
  }
  rr = DoubleReduce(double_storage).Sum(rr);
  __syncthreads();
  rz = DoubleReduce(double_storage).Sum(rz);
  __syncthreads();
  sum_w = DoubleReduce(double_storage).Sum(sum_w);
  __syncthreads();
  const double best = certified_row_max<kThreads>(g_row, r64, atoms, c, d, max_storage);
  if (threadIdx.x == 0) {
    double* out = terms + row * kGapTerms;
    out[0] = rr;
    out[1] = rz;
    out[2] = sum_w;
    out[3] = best;
  }
}

__global__ void screen_kernel(const float* __restrict__ g, const float* __restrict__ atom_norms,
                              const double* __restrict__ scale_radius, double half_l1, std::uint8_t* screened,
                              float* w, float* y, std::int64_t c) {
  const std::int64_t row = blockIdx.x;
  const double scale = scale_radius[2 * row], radius = scale_radius[2 * row + 1];
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) {
    const std::int64_t at = row * c + k;
    if (!screened[at] && scale * g[at] + radius * atom_norms[k] < half_l1) {
      screened[at] = 1;
      w[at] = 0.0f;
      y[at] = 0.0f;
    }
  }
}

template <class T>
__global__ void gather_rows_kernel(const T* __restrict__ src, const int* __restrict__ index, T* __restrict__ dst,
                                   std::int64_t width) {
  const std::int64_t row = blockIdx.x;
  const T* from = src + static_cast<std::int64_t>(index[row]) * width;
  T* to = dst + row * width;
  for (std::int64_t k = threadIdx.x; k < width; k += kThreads) to[k] = from[k];
}

__global__ void scatter_rows_kernel(const float* __restrict__ src, const int* __restrict__ index,
                                    float* __restrict__ dst, std::int64_t width) {
  const std::int64_t row = blockIdx.x;
  const float* from = src + row * width;
  float* to = dst + static_cast<std::int64_t>(index[row]) * width;
  for (std::int64_t k = threadIdx.x; k < width; k += kThreads) to[k] = from[k];
}

__global__ void scale_kernel(float* x, std::int64_t n, float value) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] *= value;
}

template <class T>
__global__ void fill_kernel(T* x, std::int64_t n, T value) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    x[i] = value;
}

__global__ void count_positive_kernel(const float* __restrict__ w, std::int64_t c, std::int64_t* counts) {
  using CountReduce = cub::BlockReduce<std::int64_t, kThreads>;
  __shared__ typename CountReduce::TempStorage storage;
  const std::int64_t row = blockIdx.x;
  std::int64_t count = 0;
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) count += w[row * c + k] > 0.0f;
  count = CountReduce(storage).Sum(count);
  if (threadIdx.x == 0) counts[row] = count;
}

__global__ void fill_csr_kernel(const float* __restrict__ w, std::int64_t c, const std::int64_t* __restrict__ indptr,
                                std::int32_t* __restrict__ indices, float* __restrict__ data) {
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ typename Scan::TempStorage storage;
  const std::int64_t row = blockIdx.x;
  std::int64_t at = indptr[row];
  for (std::int64_t base = 0; base < c; base += kThreads) {
    const std::int64_t k = base + threadIdx.x;
    const float value = k < c ? w[row * c + k] : 0.0f;
    const int positive = value > 0.0f ? 1 : 0;
    int offset = 0, total = 0;
    Scan(storage).ExclusiveSum(positive, offset, total);
    if (positive) {
      indices[at + offset] = static_cast<std::int32_t>(k);
      data[at + offset] = value;
    }
    at += total;
    __syncthreads();  // the scan storage is reused by the next tile
  }
}

// out = normalize(normalize(in) + mu_sign * mu), one block per row; in may equal out.
// bad[row] = 1 when the row's norm is 0 or not finite (bad may be null).
__global__ void shift_between_normalizations_kernel(const float* in, float* out, const float* __restrict__ mu,
                                                    float mu_sign, std::int64_t d, int* bad) {
  __shared__ typename DoubleReduce::TempStorage storage;
  __shared__ double norm_shared;
  const std::int64_t row = blockIdx.x;
  const float* in_row = in + row * d;
  float* out_row = out + row * d;
  double s = 0;
  for (std::int64_t i = threadIdx.x; i < d; i += kThreads) s += static_cast<double>(in_row[i]) * in_row[i];
  s = DoubleReduce(storage).Sum(s);
  if (threadIdx.x == 0) {
    if (bad) bad[row] = !(s > 0) || !isfinite(s);
    norm_shared = fmax(sqrt(s), 1e-12);
  }
  __syncthreads();
  const auto first = static_cast<float>(norm_shared);
  double t = 0;
  for (std::int64_t i = threadIdx.x; i < d; i += kThreads) {
    out_row[i] = in_row[i] / first + (mu ? mu_sign * mu[i] : 0.0f);
    t += static_cast<double>(out_row[i]) * out_row[i];
  }
  __syncthreads();
  t = DoubleReduce(storage).Sum(t);
  if (threadIdx.x == 0) {
    if (bad && !(t >= kMeanRowNormSquared)) bad[row] = 1;  // the row was the mean, as the CPU judges it
    norm_shared = fmax(sqrt(t), 1e-12);
  }
  __syncthreads();
  const auto second = static_cast<float>(norm_shared);
  for (std::int64_t i = threadIdx.x; i < d; i += kThreads) out_row[i] /= second;
}

__global__ void add_to_diagonal_kernel(float* a, std::int64_t n, float value) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    a[i * n + i] += value;
}

// q = 2 b + rho (w - u), elementwise over rows x c.
__global__ void admm_rhs_kernel(const float* __restrict__ b, const float* __restrict__ w, const float* __restrict__ u,
                                float* __restrict__ q, std::int64_t n, float rho) {
  for (std::int64_t e = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<std::int64_t>(gridDim.x) * blockDim.x)
    q[e] = 2.0f * b[e] + rho * (w[e] - u[e]);
}

// One ADMM update per row (over-relaxed): relaxed = a x + (1 - a) w,
// w' = max(0, relaxed + u - shrink), u += relaxed - w'; residuals[2 row] = ||x - w'||^2,
// residuals[2 row + 1] = ||w' - w||^2.
__global__ void admm_step_kernel(const float* __restrict__ x, float* __restrict__ w, float* __restrict__ u,
                                 double* residuals, std::int64_t c, float relaxation, float shrink) {
  __shared__ typename DoubleReduce::TempStorage storage;
  __shared__ double primal_shared;
  const std::int64_t row = blockIdx.x;
  double primal = 0, dual = 0;
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) {
    const std::int64_t at = row * c + k;
    const float relaxed = relaxation * x[at] + (1.0f - relaxation) * w[at];
    const float next = fmaxf(0.0f, relaxed + u[at] - shrink);
    u[at] += relaxed - next;
    primal += static_cast<double>(x[at] - next) * (x[at] - next);
    dual += static_cast<double>(next - w[at]) * (next - w[at]);
    w[at] = next;
  }
  primal = DoubleReduce(storage).Sum(primal);
  if (threadIdx.x == 0) primal_shared = primal;
  __syncthreads();
  dual = DoubleReduce(storage).Sum(dual);
  if (threadIdx.x == 0) {
    residuals[2 * row] = primal_shared;
    residuals[2 * row + 1] = dual;
  }
}

// cosine[row] = <unit[row], x[row]> / ||x[row]||.
__global__ void row_cosines_kernel(const float* __restrict__ unit, const float* __restrict__ x, float* cosine,
                                   std::int64_t d) {
  __shared__ typename DoubleReduce::TempStorage storage;
  __shared__ double dot_shared;
  const std::int64_t row = blockIdx.x;
  double dot = 0, norm = 0;
  for (std::int64_t i = threadIdx.x; i < d; i += kThreads) {
    dot += static_cast<double>(unit[row * d + i]) * x[row * d + i];
    norm += static_cast<double>(x[row * d + i]) * x[row * d + i];
  }
  dot = DoubleReduce(storage).Sum(dot);
  if (threadIdx.x == 0) dot_shared = dot;
  __syncthreads();
  norm = DoubleReduce(storage).Sum(norm);
  if (threadIdx.x == 0) cosine[row] = static_cast<float>(dot_shared / fmax(sqrt(norm), 1e-12));
}

template <class T>
void launch_gather(const T* src, const int* index, T* dst, std::int64_t rows, std::int64_t width, cudaStream_t stream) {
  if (rows == 0) return;
  gather_rows_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(src, index, dst, width);
  CONCISE_CUDA_CHECK_LAUNCH();
}

template <class T>
void launch_fill(T* x, std::int64_t n, T value, cudaStream_t stream) {
  if (n == 0) return;
  const auto blocks = static_cast<unsigned>(std::min<std::int64_t>(4096, (n + kThreads - 1) / kThreads));
  fill_kernel<<<blocks, kThreads, 0, stream>>>(x, n, value);
  CONCISE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void fista_step(const float* g, const float* w, float* w_next, float* y, const std::uint8_t* screened, double* t,
                std::int64_t rows, std::int64_t c, float gain, float shrink, cudaStream_t stream) {
  if (rows == 0) return;
  fista_step_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(g, w, w_next, y, screened, t, c, gain, shrink);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void gap_terms(const float* z, const float* w, const float* g, const float* atoms, std::int64_t rows, std::int64_t c,
               std::int64_t d, double* terms, cudaStream_t stream) {
  if (rows == 0) return;
  const auto shared_bytes = static_cast<int>(d * static_cast<std::int64_t>(sizeof(double)));
  CONCISE_CUDA_CHECK(cudaFuncSetAttribute(gap_terms_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes));
  gap_terms_kernel<<<blocks_for(rows), kThreads, shared_bytes, stream>>>(z, w, g, atoms, c, d, terms);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void screen(const float* g, const float* atom_norms, const double* scale_radius, double half_l1,
            std::uint8_t* screened, float* w, float* y, std::int64_t rows, std::int64_t c, cudaStream_t stream) {
  if (rows == 0) return;
  screen_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(g, atom_norms, scale_radius, half_l1, screened, w, y, c);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void gather_rows(const float* src, const int* index, float* dst, std::int64_t rows, std::int64_t width,
                 cudaStream_t stream) {
  launch_gather(src, index, dst, rows, width, stream);
}
void gather_rows(const std::uint8_t* src, const int* index, std::uint8_t* dst, std::int64_t rows, std::int64_t width,
                 cudaStream_t stream) {
  launch_gather(src, index, dst, rows, width, stream);
}
void gather_rows(const int* src, const int* index, int* dst, std::int64_t rows, std::int64_t width, cudaStream_t stream) {
  launch_gather(src, index, dst, rows, width, stream);
}
void gather_rows(const double* src, const int* index, double* dst, std::int64_t rows, std::int64_t width,
                 cudaStream_t stream) {
  launch_gather(src, index, dst, rows, width, stream);
}
void scatter_rows(const float* src, const int* index, float* dst, std::int64_t rows, std::int64_t width,
                  cudaStream_t stream) {
  if (rows == 0) return;
  scatter_rows_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(src, index, dst, width);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void fill(float* x, std::int64_t n, float value, cudaStream_t stream) { launch_fill(x, n, value, stream); }
void fill(double* x, std::int64_t n, double value, cudaStream_t stream) { launch_fill(x, n, value, stream); }

void scale(float* x, std::int64_t n, float value, cudaStream_t stream) {
  if (n == 0) return;
  const auto blocks = static_cast<unsigned>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65535));
  scale_kernel<<<blocks, kThreads, 0, stream>>>(x, n, value);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void count_positive(const float* w, std::int64_t rows, std::int64_t c, std::int64_t* counts, cudaStream_t stream) {
  if (rows == 0) return;
  count_positive_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(w, c, counts);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void fill_csr(const float* w, std::int64_t rows, std::int64_t c, const std::int64_t* indptr, std::int32_t* indices,
              float* data, cudaStream_t stream) {
  if (rows == 0) return;
  fill_csr_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(w, c, indptr, indices, data);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void finish_recompose(float* x, const float* mu, std::int64_t rows, std::int64_t d, cudaStream_t stream) {
  if (rows == 0) return;
  shift_between_normalizations_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(x, x, mu, 1.0f, d, nullptr);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void add_to_diagonal(float* a, std::int64_t n, float value, cudaStream_t stream) {
  if (n == 0) return;
  add_to_diagonal_kernel<<<static_cast<unsigned>((n + kThreads - 1) / kThreads), kThreads, 0, stream>>>(a, n, value);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void admm_rhs(const float* b, const float* w, const float* u, float* q, std::int64_t rows, std::int64_t c, float rho,
              cudaStream_t stream) {
  const std::int64_t n = rows * c;
  if (n == 0) return;
  const auto blocks = static_cast<unsigned>(std::min<std::int64_t>((n + kThreads - 1) / kThreads, 65535));
  admm_rhs_kernel<<<blocks, kThreads, 0, stream>>>(b, w, u, q, n, rho);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void admm_step(const float* x, float* w, float* u, double* residuals, std::int64_t rows, std::int64_t c,
               float relaxation, float shrink, cudaStream_t stream) {
  if (rows == 0) return;
  admm_step_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(x, w, u, residuals, c, relaxation, shrink);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void preprocess_rows(const float* x, float* out, const float* mu, std::int64_t rows, std::int64_t d, int* bad,
                     cudaStream_t stream) {
  if (rows == 0) return;
  shift_between_normalizations_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(x, out, mu, -1.0f, d, bad);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void row_cosines(const float* unit, const float* x, float* cosine, std::int64_t rows, std::int64_t d,
                 cudaStream_t stream) {
  if (rows == 0) return;
  row_cosines_kernel<<<blocks_for(rows), kThreads, 0, stream>>>(unit, x, cosine, d);
  CONCISE_CUDA_CHECK_LAUNCH();
}

}  // namespace concise::cuda::kernels
