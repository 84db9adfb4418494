#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include <cfloat>

#include "concise/cuda/ws_rules.hpp"
#include "cuda_check.hpp"
#include "row_max.cuh"
#include "ws_kernels.cuh"

namespace concise::cuda::ws {

namespace {

constexpr int kThreads = 128;
constexpr int kGramWarps = 8;   // grow_gram: warps per row
constexpr int kSolveWarps = 4;  // solve_sets: rows per block, one warp each
using IntReduce = cub::BlockReduce<int, kThreads>;
using FloatReduce = cub::BlockReduce<float, kThreads>;
using DoubleReduce = cub::BlockReduce<double, kThreads>;
using IntScan = cub::BlockScan<int, kThreads>;

__device__ std::int64_t gram_offset(std::int64_t row, int capacity) {
  return row * static_cast<std::int64_t>(capacity) * capacity;
}

__global__ void set_residuals_kernel(const float* __restrict__ z, const float* __restrict__ atoms, Sets sets,
                                     std::int64_t d, float* __restrict__ r, double* __restrict__ terms) {
  __shared__ typename DoubleReduce::TempStorage storage;
  const std::int64_t row = blockIdx.x;
  const int k = sets.capacity, s = sets.size[row];
  const int* members = sets.atoms + row * k;
  const float* weights = sets.weights + row * k;
  const float* z_row = z + row * d;
  float* r_row = r + row * d;
  double rr = 0, rz = 0, sum_w = 0, support = 0;
  for (std::int64_t y = threadIdx.x; y < d; y += kThreads) {
    double residual = z_row[y];
    for (int j = 0; j < s; ++j) {
      const float w = weights[j];
      if (w != 0.0f) residual -= static_cast<double>(w) * atoms[static_cast<std::int64_t>(members[j]) * d + y];
    }
    r_row[y] = static_cast<float>(residual);
    rr += residual * residual;
    rz += residual * z_row[y];
  }
  for (int j = threadIdx.x; j < s; j += kThreads) {
    sum_w += weights[j];
    support += weights[j] > 0.0f ? 1.0 : 0.0;
  }
  rr = DoubleReduce(storage).Sum(rr);
  __syncthreads();
  rz = DoubleReduce(storage).Sum(rz);
  __syncthreads();
  sum_w = DoubleReduce(storage).Sum(sum_w);
  __syncthreads();
  support = DoubleReduce(storage).Sum(support);
  if (threadIdx.x == 0) {
    double* t = terms + kTermsPerRow * row;
    t[0] = rr;
    t[1] = rz;
    t[2] = sum_w;
    t[3] = support;
  }
}

__global__ void refine_correlations_kernel(float* __restrict__ g, const float* __restrict__ r,
                                           const float* __restrict__ atoms, const double* __restrict__ terms,
                                           std::int64_t c, std::int64_t d, const double* __restrict__ l1, int l0,
                                           bool first_pass, double max_atom_norm) {
  __shared__ typename FloatReduce::TempStorage storage;
  __shared__ float max_shared;
  const std::int64_t row = blockIdx.x;
  float* g_row = g + row * c;
  const float* r_row = r + row * d;
  float top = -FLT_MAX;
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) top = fmaxf(top, g_row[k]);
  top = FloatReduce(storage).Reduce(top, MaxOf());
  if (threadIdx.x == 0) max_shared = top;
  __syncthreads();
  const double floor = refine_floor(candidates_above(l1[row], l0, first_pass), max_shared,
                                    tf32_pass_bound(d, max_atom_norm, terms[kTermsPerRow * row]));
  // Each warp owns chunks of 32 atoms: it reads their flags before it rewrites any.
  constexpr int kWarps = kThreads / 32;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (std::int64_t base = static_cast<std::int64_t>(warp) * 32; base < c; base += kWarps * 32) {
    const std::int64_t k = base + lane;
    unsigned flagged = __ballot_sync(0xffffffffu, k < c && static_cast<double>(g_row[k]) >= floor);
    while (flagged != 0u) {
      const int bit = __ffs(static_cast<int>(flagged)) - 1;
      flagged &= flagged - 1u;
      const float* atom = atoms + (base + bit) * d;
      double s = 0;
      for (std::int64_t i = lane; i < d; i += 32) s += static_cast<double>(atom[i]) * r_row[i];
      for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
      if (lane == 0) g_row[base + bit] = static_cast<float>(s);
    }
  }
}

__global__ void certify_rows_kernel(const float* __restrict__ g, const float* __restrict__ r,
                                    const float* __restrict__ atoms, const double* __restrict__ terms, std::int64_t c,
                                    std::int64_t d, const double* __restrict__ l1, double tol,
                                    double max_atom_norm, double* certificates, std::uint8_t* converged) {
  __shared__ RowMaxStorage<kThreads> storage;
  const std::int64_t row = blockIdx.x;
  const double max_g = certified_row_max<kThreads>(g + row * c, r + row * d, atoms, c, d, storage);
  if (threadIdx.x == 0) {
    const double* row_terms = terms + kTermsPerRow * row;
    const GapTerms t{row_terms[0], row_terms[1], row_terms[2],
                     max_g + float_residual_slack(max_atom_norm, row_terms[0])};
    const Certificate cert = rules::certify(t, l1[row]);
    double* out = certificates + kTermsPerRow * row;
    out[0] = cert.objective;
    out[1] = cert.gap;
    out[2] = max_g;
    out[3] = row_terms[3];
    converged[row] = cert.converged(tol) ? 1 : 0;
  }
}

// Atoms of the row whose key exceeds t (the same count on every thread).
__device__ int count_keys_above(const float* g_row, std::int64_t c, std::uint32_t t, IntReduce::TempStorage& storage,
                                int* shared) {
  int n = 0;
  for (std::int64_t k = threadIdx.x; k < c; k += kThreads) n += order_key(g_row[k]) > t;
  n = IntReduce(storage).Sum(n);
  if (threadIdx.x == 0) *shared = n;
  __syncthreads();
  const int total = *shared;
  __syncthreads();
  return total;
}

// Drops the set's atoms of weight 0: entries and Gram rows/columns move down in order.
// Every kept entry moves to a position at or before its own, so reading a whole row
// into shared memory before writing it keeps the unread ones intact.
__device__ int prune_set(Sets sets, std::int64_t row, int* keep, int* int_buffer, float* float_buffer,
                         float* other_buffer, int* shared) {
  const int k = sets.capacity;
  int* members = sets.atoms + row * k;
  float* weights = sets.weights + row * k;
  float* b = sets.b + row * k;
  float* gram = sets.gram + gram_offset(row, k);
  const int s = sets.size[row];
  if (threadIdx.x == 0) {
    int kept = 0;
    for (int j = 0; j < s; ++j)
      if (weights[j] > 0.0f) keep[kept++] = j;
    *shared = kept;
  }
  __syncthreads();
  const int kept = *shared;
  __syncthreads();
  if (kept == s) return s;
  for (int i = threadIdx.x; i < kept; i += kThreads) {
    int_buffer[i] = members[keep[i]];
    float_buffer[i] = weights[keep[i]];
    other_buffer[i] = b[keep[i]];
  }
  __syncthreads();
  for (int i = threadIdx.x; i < kept; i += kThreads) {
    members[i] = int_buffer[i];
    weights[i] = float_buffer[i];
    b[i] = other_buffer[i];
  }
  __syncthreads();
  for (int i = 0; i < kept; ++i) {
    const std::int64_t from = static_cast<std::int64_t>(keep[i]) * k;
    for (int j = threadIdx.x; j < kept; j += kThreads) float_buffer[j] = gram[from + keep[j]];
    __syncthreads();
    for (int j = threadIdx.x; j < kept; j += kThreads) gram[static_cast<std::int64_t>(i) * k + j] = float_buffer[j];
    __syncthreads();
  }
  if (threadIdx.x == 0) sets.size[row] = kept;
  return kept;
}

__global__ void select_atoms_kernel(float* g, Sets sets, const int* __restrict__ row_capacity, std::int64_t c,
                                    const double* __restrict__ l1, int l0, bool first_pass, const std::uint8_t* act,
                                    int* status) {
  __shared__ typename IntReduce::TempStorage int_storage;
  __shared__ typename FloatReduce::TempStorage float_storage;
  __shared__ typename IntScan::TempStorage scan_storage;
  __shared__ int keep[kMaxCapacity], int_buffer[kMaxCapacity];
  __shared__ float float_buffer[kMaxCapacity], other_buffer[kMaxCapacity];
  __shared__ int int_shared;
  __shared__ float max_shared;
  const std::int64_t row = blockIdx.x;
  if (act != nullptr && act[row] == 0) return;
  const int k = sets.capacity, room = row_capacity[row];
  int* members = sets.atoms + row * k;
  float* weights = sets.weights + row * k;
  float* b = sets.b + row * k;
  float* g_row = g + row * c;

  const int size = prune_set(sets, row, keep, int_buffer, float_buffer, other_buffer, &int_shared);
  for (int j = threadIdx.x; j < size; j += kThreads) g_row[members[j]] = -FLT_MAX;  // members are no candidates
  __syncthreads();

  const auto threshold = static_cast<float>(rules::violation_threshold(l1[row]));
  const auto lowest = static_cast<float>(candidates_above(l1[row], l0, first_pass));
  float top = -FLT_MAX;
  for (std::int64_t j = threadIdx.x; j < c; j += kThreads) top = fmaxf(top, g_row[j]);
  top = FloatReduce(float_storage).Reduce(top, MaxOf());
  if (threadIdx.x == 0) max_shared = top;
  __syncthreads();
  top = max_shared;
  const bool violated = top > threshold;
  int near = 0;  // target sparsity's growth: the atoms above the near-violation threshold
  if (l0 > 0 && violated && !first_pass)
    near = count_keys_above(g_row, c, order_key(static_cast<float>(rules::near_violation_threshold(l1[row]))),
                            int_storage, &int_shared);
  const int wanted = l0 > 0 ? (top > 0.0f ? target_atoms_to_add(size, room, first_pass, violated, l0, near) : 0)
                           : (violated ? atoms_to_add(size, room, first_pass) : 0);
  int added = 0;
  if (wanted > 0) {
    const std::uint32_t lowest_key = order_key(lowest);
    const int candidates = count_keys_above(g_row, c, lowest_key, int_storage, &int_shared);
    // The smallest key t with at most `wanted` atoms above it; atoms at t are ties.
    std::uint32_t t = lowest_key;
    if (candidates > wanted) {
      std::uint32_t lo = lowest_key, hi = order_key(top);
      while (hi - lo > 1) {
        const std::uint32_t mid = lo + (hi - lo) / 2;
        if (count_keys_above(g_row, c, mid, int_storage, &int_shared) <= wanted) hi = mid;
        else lo = mid;
      }
      t = hi;
    }
    const int sure = count_keys_above(g_row, c, t, int_storage, &int_shared);
    const int ties_wanted = candidates > wanted ? wanted - sure : 0;
    // In index order (block scans), so the set never depends on thread timing.
    int sure_before = 0, ties_before = 0;
    for (std::int64_t base = 0; base < c; base += kThreads) {
      const std::int64_t j = base + threadIdx.x;
      const std::uint32_t key = j < c ? order_key(g_row[j]) : 0u;
      const int is_sure = j < c && key > t ? 1 : 0;
      const int is_tie = j < c && ties_wanted > 0 && key == t ? 1 : 0;
      int sure_at = 0, sure_total = 0, tie_at = 0, tie_total = 0;
      IntScan(scan_storage).ExclusiveSum(is_sure, sure_at, sure_total);
      __syncthreads();
      IntScan(scan_storage).ExclusiveSum(is_tie, tie_at, tie_total);
      __syncthreads();
      int slot = -1;
      if (is_sure) slot = size + sure_before + sure_at;
      if (is_tie && ties_before + tie_at < ties_wanted) slot = size + sure + ties_before + tie_at;
      if (slot >= 0) {
        members[slot] = static_cast<int>(j);
        weights[slot] = 0.0f;
        b[slot] = 0.0f;  // grow_gram sets it
      }
      sure_before += sure_total;
      ties_before += tie_total;
    }
    added = sure + min(ties_wanted, ties_before);
  }
  if (threadIdx.x == 0) {
    sets.size[row] = size + added;
    status[2 * row] = added;
    status[2 * row + 1] = violated ? 1 : 0;
  }
}

__device__ float warp_dot(const float* a, const float* b, std::int64_t d) {
  const int lane = threadIdx.x % 32;
  float s = 0.0f;
  for (std::int64_t i = lane; i < d; i += 32) s += a[i] * b[i];
  for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
  return s;  // in lane 0
}

__global__ void grow_gram_kernel(const float* __restrict__ atoms, const float* __restrict__ z, Sets sets,
                                 const int* __restrict__ status, std::int64_t d) {
  const std::int64_t row = blockIdx.x;
  const int added = status[2 * row];
  if (added == 0) return;
  const int k = sets.capacity, s = sets.size[row], old = s - added;
  const int* members = sets.atoms + row * k;
  float* gram = sets.gram + gram_offset(row, k);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int p = old; p < s; ++p) {
    const float* atom_p = atoms + static_cast<std::int64_t>(members[p]) * d;
    if (warp == p % kGramWarps) {
      const float b = warp_dot(atom_p, z + row * d, d);
      if (lane == 0) sets.b[row * k + p] = b;
    }
    for (int q = warp; q <= p; q += kGramWarps) {
      const float v = warp_dot(atom_p, atoms + static_cast<std::int64_t>(members[q]) * d, d);
      if (lane == 0) {
        gram[static_cast<std::int64_t>(p) * k + q] = v;
        gram[static_cast<std::int64_t>(q) * k + p] = v;
      }
    }
  }
}

// Coordinate descent on the warp's set at l1 from w (shared memory), in place, until
// ws::sweep_settled at `stop` or ws::max_sweeps(stop).
__device__ void descend(float* w, float* grad, const float* b, const float* gram, int k, int s, float l1, float stop) {
  const int lane = threadIdx.x % 32;
  const int sweeps = max_sweeps(stop);
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    // G w afresh each sweep, so float rounding cannot pile up.
    for (int i = lane; i < s; i += 32) grad[i] = 0.0f;
    __syncwarp();
    for (int j = 0; j < s; ++j) {
      const float wj = w[j];
      if (wj != 0.0f)
        for (int i = lane; i < s; i += 32) grad[i] += gram[static_cast<std::int64_t>(j) * k + i] * wj;
    }
    __syncwarp();
    float largest_step = 0.0f, largest_weight = 0.0f;
    for (int j = 0; j < s; ++j) {
      const float wj = w[j];
      const float next = coordinate_step(wj, grad[j], b[j], gram[static_cast<std::int64_t>(j) * k + j], l1);
      const float delta = next - wj;
      __syncwarp();  // every lane has read grad[j] and w[j]
      if (delta != 0.0f)
        for (int i = lane; i < s; i += 32) grad[i] += gram[static_cast<std::int64_t>(j) * k + i] * delta;
      if (lane == 0) w[j] = next;
      largest_step = fmaxf(largest_step, fabsf(delta));
      largest_weight = fmaxf(largest_weight, next);
      __syncwarp();
    }
    if (sweep_settled(largest_step, largest_weight, stop)) break;
  }
}

// The atoms of positive weight, on every lane.
__device__ int warp_support(const float* w, int s) {
  const int lane = threadIdx.x % 32;
  int n = 0;
  for (int j = lane; j < s; j += 32) n += w[j] > 0.0f ? 1 : 0;
  for (int offset = 16; offset > 0; offset /= 2) n += __shfl_down_sync(0xffffffffu, n, offset);
  return __shfl_sync(0xffffffffu, n, 0);
}

__global__ void solve_sets_kernel(Sets sets, std::int64_t rows, const double* __restrict__ l1,
                                  const float* __restrict__ tol, GridWalk walk) {
  extern __shared__ float shared[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * kSolveWarps + warp;
  if (row >= rows) return;  // no block-wide barrier below: whole warps leave
  const int k = sets.capacity, s = sets.size[row];
  const int arrays = walk.l0 > 0 ? 4 : 3;
  float* w = shared + static_cast<std::int64_t>(warp) * arrays * k;
  float* grad = w + k;
  float* b = grad + k;
  const float* gram = sets.gram + gram_offset(row, k);
  for (int j = lane; j < s; j += 32) {
    w[j] = sets.weights[row * k + j];
    b[j] = sets.b[row * k + j];
  }
  __syncwarp();
  const float stop = tol[row];
  descend(w, grad, b, gram, k, s, static_cast<float>(l1[row]), stop);
  if (walk.l0 > 0) {
    float* next = b + k;
    const double m = walk.max_correlation[row];
    int grid = walk.grid[row];
    const double start = l1[row];
    if (warp_support(w, s) <= walk.l0) {
      while (rules::walk_goes_on(m, walk.ratio, grid, start, walk.beyond[row])) {
        for (int j = lane; j < s; j += 32) next[j] = w[j];
        __syncwarp();
        descend(next, grad, b, gram, k, s, static_cast<float>(rules::grid_lambda(m, walk.ratio, grid + 1)), stop);
        const int support = warp_support(next, s);
        // A set its solution fills is too small to tell how many atoms the row wants.
        if (support > walk.l0 || support >= s) break;
        for (int j = lane; j < s; j += 32) w[j] = next[j];
        __syncwarp();
        ++grid;
      }
    }
    if (lane == 0) walk.grid[row] = grid;
  }
  __syncwarp();
  for (int j = lane; j < s; j += 32) sets.weights[row * k + j] = w[j];
}

__global__ void restride_kernel(Sets from, Sets to) {
  const std::int64_t row = blockIdx.x;
  const int s = from.size[row], kf = from.capacity, kt = to.capacity;
  if (threadIdx.x == 0) to.size[row] = s;
  for (int j = threadIdx.x; j < s; j += kThreads) {
    to.atoms[row * kt + j] = from.atoms[row * kf + j];
    to.weights[row * kt + j] = from.weights[row * kf + j];
    to.b[row * kt + j] = from.b[row * kf + j];
  }
  const float* g_from = from.gram + gram_offset(row, kf);
  float* g_to = to.gram + gram_offset(row, kt);
  for (int e = threadIdx.x; e < s * s; e += kThreads)
    g_to[static_cast<std::int64_t>(e / s) * kt + e % s] = g_from[static_cast<std::int64_t>(e / s) * kf + e % s];
}

unsigned blocks(std::int64_t rows) { return static_cast<unsigned>(rows); }

}  // namespace

void set_residuals(const float* z, const float* atoms, Sets sets, std::int64_t rows, std::int64_t d, float* r,
                   double* terms, cudaStream_t stream) {
  if (rows == 0) return;
  set_residuals_kernel<<<blocks(rows), kThreads, 0, stream>>>(z, atoms, sets, d, r, terms);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void refine_correlations(float* g, const float* r, const float* atoms, const double* terms, std::int64_t rows,
                         std::int64_t c, std::int64_t d, const double* l1, int l0, bool first_pass,
                         double max_atom_norm, cudaStream_t stream) {
  if (rows == 0) return;
  refine_correlations_kernel<<<blocks(rows), kThreads, 0, stream>>>(g, r, atoms, terms, c, d, l1, l0, first_pass,
                                                                    max_atom_norm);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void certify_rows(const float* g, const float* r, const float* atoms, const double* terms, std::int64_t rows,
                  std::int64_t c, std::int64_t d, const double* l1, double tol, double max_atom_norm,
                  double* certificates, std::uint8_t* converged, cudaStream_t stream) {
  if (rows == 0) return;
  certify_rows_kernel<<<blocks(rows), kThreads, 0, stream>>>(g, r, atoms, terms, c, d, l1, tol, max_atom_norm,
                                                             certificates, converged);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void select_atoms(float* g, Sets sets, const int* row_capacity, std::int64_t rows, std::int64_t c, const double* l1,
                  int l0, bool first_pass, const std::uint8_t* act, int* status, cudaStream_t stream) {
  if (rows == 0) return;
  select_atoms_kernel<<<blocks(rows), kThreads, 0, stream>>>(g, sets, row_capacity, c, l1, l0, first_pass, act,
                                                             status);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void grow_gram(const float* atoms, const float* z, Sets sets, const int* status, std::int64_t rows, std::int64_t d,
               cudaStream_t stream) {
  if (rows == 0) return;
  grow_gram_kernel<<<blocks(rows), 32 * kGramWarps, 0, stream>>>(atoms, z, sets, status, d);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void solve_sets(Sets sets, std::int64_t rows, const double* l1, const float* tol, GridWalk walk, cudaStream_t stream) {
  if (rows == 0) return;
  const int arrays = walk.l0 > 0 ? 4 : 3;  // w, gradient, b, and the walk's next point
  const int shared_bytes = kSolveWarps * arrays * sets.capacity * static_cast<int>(sizeof(float));
  CONCISE_CUDA_CHECK(cudaFuncSetAttribute(solve_sets_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes));
  const auto grid = static_cast<unsigned>((rows + kSolveWarps - 1) / kSolveWarps);
  solve_sets_kernel<<<grid, 32 * kSolveWarps, shared_bytes, stream>>>(sets, rows, l1, tol, walk);
  CONCISE_CUDA_CHECK_LAUNCH();
}

void restride(Sets from, Sets to, std::int64_t rows, cudaStream_t stream) {
  if (rows == 0) return;
  restride_kernel<<<blocks(rows), kThreads, 0, stream>>>(from, to);
  CONCISE_CUDA_CHECK_LAUNCH();
}

}  // namespace concise::cuda::ws
