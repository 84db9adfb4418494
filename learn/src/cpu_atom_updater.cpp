// The CPU reference of the dictionary step: sparse accumulation of the statistics
// (deterministic: each learned atom's row is summed by one thread in row order) and
// block-coordinate descent on the unit sphere with R = B - A D kept within a sweep (by GEMMs,
// or by A's nonzeros alone while A is sparse) and from batch to batch (a batch moves R by
// sum w_L (z - D^T w)^T; recomputed each epoch).
#include <cblas.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "concise/learn/atom_updater.hpp"
#include "concise/learn/learner.hpp"

namespace concise::learn {
namespace {

// C (m x n) = alpha A (m x k, leading dimension lda) B (k x n) + beta C, row-major.
void gemm(const float* a, std::int64_t lda, const float* b, float* c, std::int64_t m, std::int64_t n, std::int64_t k,
          float alpha, float beta) {
  if (m == 0 || n == 0 || k == 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
              alpha, a, static_cast<int>(lda), b, static_cast<int>(n), beta, c, static_cast<int>(n));
}

void add(Matrix<float>& total, const Matrix<float>& piece) {
  float* t = total.data();
  const float* p = piece.data();
  const auto n = static_cast<std::int64_t>(total.values().size());
  for (std::int64_t i = 0; i < n; ++i) t[i] += p[i];
}

void scale(Matrix<float>& m, float beta) {
  if (beta == 0.0f) std::fill(m.values().begin(), m.values().end(), 0.0f);
  else
    for (float& v : m.values()) v *= beta;
}

// The nonzeros of one row of A's learned block: their atoms (ascending) and values.
struct NonzeroRow {
  std::vector<std::int32_t> cols;
  std::vector<float> vals;
};

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CONCISE_LEARN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CONCISE_LEARN_VECTOR_CLONES
#endif

// r -= sum vals[e] steps[cols[e]] over the entries e in [0, count) whose atom moved (steps: rows of
// d floats), in the entries' order (one row's sum, one thread: the same bits with any number of threads).
CONCISE_LEARN_VECTOR_CLONES void pull_moves(float* __restrict r, const std::int32_t* cols, const float* vals,
                                            std::size_t count, const std::uint8_t* moved, const float* __restrict steps,
                                            std::int64_t d) {
  constexpr std::int64_t kChunk = 128;  // floats of r held in registers while every entry adds to them
  std::int64_t c0 = 0;
  for (; c0 + kChunk <= d; c0 += kChunk) {
    float acc[kChunk];
    for (std::int64_t i = 0; i < kChunk; ++i) acc[i] = r[c0 + i];
    for (std::size_t e = 0; e < count; ++e) {
      if (!moved[cols[e]]) continue;
      const float* __restrict step = steps + static_cast<std::int64_t>(cols[e]) * d + c0;
      const float a = vals[e];
      for (std::int64_t i = 0; i < kChunk; ++i) acc[i] -= a * step[i];
    }
    for (std::int64_t i = 0; i < kChunk; ++i) r[c0 + i] = acc[i];
  }
  if (c0 == d) return;
  for (std::size_t e = 0; e < count; ++e) {
    if (!moved[cols[e]]) continue;
    const float* __restrict step = steps + static_cast<std::int64_t>(cols[e]) * d;
    const float a = vals[e];
    for (std::int64_t i = c0; i < d; ++i) r[i] -= a * step[i];
  }
}

// Atoms per group of blocks: R of the later groups moves by GEMMs of this rank (dense_sweep), or
// by this many atoms' moves at a time, which stay in cache (sparse_sweep).
constexpr std::int64_t kGroup = 16 * cuda::kAtomBlock;

class CpuAtomUpdater final : public AtomUpdater {
 public:
  CpuAtomUpdater(std::int64_t fixed, std::int64_t learned, std::int64_t dim, double sparse_density)
      : fixed_(fixed),
        learned_(learned),
        dim_(dim),
        sparse_density_(sparse_density),
        a_(learned, fixed + learned),
        b_(learned, dim),
        r_(learned, dim) {}

  void accumulate(const SparseRows& codes, MatrixView<const float> z, float beta) override {
    nonzeros_valid_ = false;
    if (beta == 1.0f) {  // a later piece of a batch: its own sum, added (as distributed learning adds it)
      piece_statistics(codes, z, fixed_, learned_, piece_a_, piece_b_);
      add(a_, piece_a_);
      add(b_, piece_b_);
      keep_piece(codes, z);
      return;
    }
    // A batch's first piece: the decayed statistics (zeros in batch mode, so the same bits as
    // the piece's own sum) take the rows directly.
    scale(a_, beta);
    scale(b_, beta);
    add_piece_statistics(codes, z, fixed_, learned_, a_, b_);
    // R follows the decay only from a batch that ended in an update; in batch mode it is
    // recomputed from the statistics, as distributed learning (which writes them) recomputes it.
    if (!pieces_.empty() || beta == 0.0f) r_kept_ = false;
    pieces_.clear();
    r_beta_ = beta;
    keep_piece(codes, z);
  }

  // Gauss-Seidel over the atoms; R = B - A D holds again at the end of every sweep, for the
  // next sweep or batch. Two ways to keep R, by how many entries of A's learned block are zero
  // (the choice depends on A alone, so a run, its resumption and distributed learning take the same one):
  // dense A, GEMMs (dense_sweep); sparse A (few mini-batches per atom), its nonzeros alone (sparse_sweep).
  float update(MatrixView<float> atoms, int sweeps) override {
    bring_residual_up_to_date(atoms);
    if (delta_.rows() != learned_) delta_ = Matrix<float>(learned_, dim_);
    const bool sparse = sparse_enough();
    float largest = 0;
    for (int sweep = 0; sweep < sweeps; ++sweep) largest = sparse ? sparse_sweep(atoms) : dense_sweep(atoms);
    r_kept_ = true;
    return largest;
  }

  void reset_atom(std::int64_t j) override {
    std::fill_n(a_.row(j), fixed_ + learned_, 0.0f);
    for (std::int64_t k = 0; k < learned_; ++k) a_.row(k)[fixed_ + j] = 0.0f;
    std::fill_n(b_.row(j), dim_, 0.0f);
    nonzeros_valid_ = false;
    forget_residual();
  }

  void read_statistics(Matrix<float>& a, Matrix<float>& b) const override {
    a = a_;
    b = b_;
  }
  void write_statistics(const Matrix<float>& a, const Matrix<float>& b) override {
    a_ = a;
    b_ = b;
    nonzeros_valid_ = false;
    forget_residual();
  }

  void forget_residual() {
    r_kept_ = false;
    pieces_.clear();
  }

 private:
  struct Piece {
    SparseRows codes;
    Matrix<float> z;
  };

  // Sets atom j to normalize(A_jj d_j + r), its exact minimizer with the others fixed (r = R_j),
  // and step to its move (zeros when it stays); returns whether it moved.
  bool move_atom(std::int64_t j, const float* r, float* atom, float* step, std::vector<double>& u, float& largest) const {
    const std::int64_t d = dim_;
    const float a_jj = a_.row(j)[fixed_ + j];
    std::fill_n(step, d, 0.0f);
    if (!cuda::atom_is_used(a_jj)) return false;
    double norm2 = 0;
    for (std::int64_t i = 0; i < d; ++i) {
      u[static_cast<std::size_t>(i)] = static_cast<double>(a_jj) * atom[i] + r[i];
      norm2 += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(i)];
    }
    const float scale = cuda::unit_scale(norm2);
    if (scale == 0.0f) return false;
    for (std::int64_t i = 0; i < d; ++i) {
      const float next = static_cast<float>(u[static_cast<std::size_t>(i)]) * scale;
      step[i] = next - atom[i];
      atom[i] = next;
      largest = std::max(largest, std::abs(step[i]));
    }
    return true;
  }

  // Blocks of kAtomBlock inside groups of kGroup: R of the group's later atoms follows each block
  // by a small GEMM, R of the later groups follows each group by one GEMM of rank kGroup, and at
  // the end of the sweep the rows the sweep had passed get the later atoms' moves.
  float dense_sweep(MatrixView<float> atoms) {
    const std::int64_t total = fixed_ + learned_, d = dim_;
    Matrix<float> block(cuda::kAtomBlock, d);
    std::vector<double> u(static_cast<std::size_t>(d));
    const float* a = a_.data() + fixed_;  // A's learned columns
    float largest = 0;
    for (std::int64_t g0 = 0; g0 < learned_; g0 += kGroup) {
      const std::int64_t g1 = std::min(learned_, g0 + kGroup);
      for (std::int64_t j0 = g0; j0 < g1; j0 += cuda::kAtomBlock) {
        const std::int64_t nb = std::min(cuda::kAtomBlock, g1 - j0);
        std::copy_n(r_.row(j0), nb * d, block.data());
        bool moved = false;
        for (std::int64_t jj = 0; jj < nb; ++jj) {
          const std::int64_t j = j0 + jj;
          float* step = delta_.row(j);
          if (!move_atom(j, block.row(jj), atoms.row(fixed_ + j), step, u, largest)) continue;
          moved = true;
          for (std::int64_t kk = jj + 1; kk < nb; ++kk) {  // the block's later atoms see this one's move
            const float a_kj = a_.row(j0 + kk)[fixed_ + j];
            if (a_kj == 0.0f) continue;
            float* rk = block.row(kk);
            for (std::int64_t i = 0; i < d; ++i) rk[i] -= a_kj * step[i];
          }
        }
        const std::int64_t after = j0 + nb;
        if (moved && after < g1)
          gemm(a_.row(after) + fixed_ + j0, total, delta_.row(j0), r_.row(after), g1 - after, d, nb, -1.0f, 1.0f);
      }
      if (g1 < learned_)
        gemm(a_.row(g1) + fixed_ + g0, total, delta_.row(g0), r_.row(g1), learned_ - g1, d, g1 - g0, -1.0f, 1.0f);
    }
    // The moves each row had not seen: its own block's and the later ones of its group, the later groups'.
    for (std::int64_t g0 = 0; g0 < learned_; g0 += kGroup) {
      const std::int64_t g1 = std::min(learned_, g0 + kGroup);
      if (g1 < learned_) gemm(a + g0 * total + g1, total, delta_.row(g1), r_.row(g0), g1 - g0, d, learned_ - g1, -1.0f, 1.0f);
      for (std::int64_t j0 = g0; j0 < g1; j0 += cuda::kAtomBlock) {
        const std::int64_t nb = std::min(cuda::kAtomBlock, g1 - j0);
        gemm(a + j0 * total + j0, total, delta_.row(j0), r_.row(j0), nb, d, g1 - j0, -1.0f, 1.0f);
      }
    }
    return largest;
  }

  // R_k -= sum A_kj step_j over the nonzeros of A's row k whose atom j lies in [from, to) and moved.
  void pull(std::int64_t k, std::int64_t from, std::int64_t to) {
    const NonzeroRow& row = nonzeros_[static_cast<std::size_t>(k)];
    const std::int32_t* begin = row.cols.data();
    const std::int32_t* end = begin + row.cols.size();
    const std::int32_t* first = std::lower_bound(begin, end, static_cast<std::int32_t>(from));
    const std::int32_t* last = std::lower_bound(first, end, static_cast<std::int32_t>(to));
    pull_moves(r_.row(k), first, row.vals.data() + (first - begin), static_cast<std::size_t>(last - first), moved_.data(),
               delta_.data(), dim_);
  }

  // The order of dense_sweep, the GEMMs replaced by each row pulling the moves of its nonzeros:
  // atom k reads R_k with the moves of the atoms before it (the earlier groups' pulled by all later
  // rows, in parallel, after each group; its own group's just before it moves), and at the end of
  // the sweep every row pulls the moves it had not seen (its own and the later atoms'), group by
  // group, so that the moves pulled at once (one group, kGroup atoms) stay in cache.
  float sparse_sweep(MatrixView<float> atoms) {
    const std::int64_t d = dim_;
    std::vector<double> u(static_cast<std::size_t>(d));
    moved_.assign(static_cast<std::size_t>(learned_), 0);
    const bool worth_threads = nonzero_count_ * d > (1 << 22);
    float largest = 0;
    for (std::int64_t g0 = 0; g0 < learned_; g0 += kGroup) {
      const std::int64_t g1 = std::min(learned_, g0 + kGroup);
      for (std::int64_t k = g0; k < g1; ++k) {
        pull(k, g0, k);
        moved_[static_cast<std::size_t>(k)] = move_atom(k, r_.row(k), atoms.row(fixed_ + k), delta_.row(k), u, largest);
      }
#pragma omp parallel for schedule(dynamic, 32) if (worth_threads)
      for (std::int64_t k = g1; k < learned_; ++k) pull(k, g0, g1);
    }
    for (std::int64_t g0 = 0; g0 < learned_; g0 += kGroup) {
      const std::int64_t g1 = std::min(learned_, g0 + kGroup);
#pragma omp parallel for schedule(dynamic, 32) if (worth_threads)
      for (std::int64_t k = 0; k < g1; ++k) pull(k, std::max(k, g0), g1);
    }
    return largest;
  }

  // The nonzeros of A's learned block, row by row (kept until the statistics change); whether
  // they are few enough (at most sparse_density of the entries) for sparse_sweep to beat the GEMMs.
  bool sparse_enough() {
    if (!nonzeros_valid_) {
      nonzeros_.resize(static_cast<std::size_t>(learned_));
      std::int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (learned_ * learned_ > (1 << 20))
      for (std::int64_t k = 0; k < learned_; ++k) {
        thread_local std::vector<std::int32_t> cols;
        thread_local std::vector<float> vals;
        cols.resize(static_cast<std::size_t>(learned_));
        vals.resize(static_cast<std::size_t>(learned_));
        const std::size_t n = compact_nonzeros(a_.row(k) + fixed_, learned_, cols.data(), vals.data());
        NonzeroRow& row = nonzeros_[static_cast<std::size_t>(k)];
        row.cols.assign(cols.begin(), cols.begin() + static_cast<std::ptrdiff_t>(n));
        row.vals.assign(vals.begin(), vals.begin() + static_cast<std::ptrdiff_t>(n));
        count += static_cast<std::int64_t>(n);
      }
      nonzero_count_ = count;
      nonzeros_valid_ = true;
    }
    return static_cast<double>(nonzero_count_) <= sparse_density_ * static_cast<double>(learned_ * learned_);
  }

  void keep_piece(const SparseRows& codes, MatrixView<const float> z) {
    Piece piece{codes, Matrix<float>(z.rows, z.cols)};
    std::copy_n(z.data, z.size(), piece.z.data());
    pieces_.push_back(std::move(piece));
  }

  // R = B - A D for the statistics the updater holds: from the kept R, a batch adds
  // R <- beta R + sum_rows w_L (z - D^T w)^T (D the atoms that coded the batch, not moved since);
  // otherwise (first batch, batch mode, written or reset statistics) one GEMM recomputes it.
  void bring_residual_up_to_date(MatrixView<const float> atoms) {
    if (r_kept_) {
      scale(r_, r_beta_);
      for (const Piece& p : pieces_) add_residual_correlations(p.codes, p.z.view(), atoms, fixed_, learned_, r_);
    } else {
      std::copy(b_.values().begin(), b_.values().end(), r_.values().begin());
      gemm(a_.data(), fixed_ + learned_, atoms.data, r_.data(), learned_, dim_, fixed_ + learned_, -1.0f, 1.0f);
    }
    pieces_.clear();
    r_beta_ = 1.0f;
  }

  std::int64_t fixed_, learned_, dim_;
  double sparse_density_;  // A's learned block with at most this share of nonzeros: sparse_sweep
  Matrix<float> a_;  // learned x (fixed + learned)
  Matrix<float> b_;  // learned x dim
  Matrix<float> r_;  // learned x dim: B - A D, valid while r_kept_
  Matrix<float> delta_;  // learned x dim: each atom's move in the current sweep
  bool r_kept_ = false;
  float r_beta_ = 1.0f;         // the decay the pending batch applies to R
  std::vector<Piece> pieces_;   // the pending batch's rows and codes
  std::vector<NonzeroRow> nonzeros_;  // A's learned block by rows, while nonzeros_valid_
  std::int64_t nonzero_count_ = 0;
  bool nonzeros_valid_ = false;
  std::vector<std::uint8_t> moved_;  // per learned atom: whether it moved in the current sparse sweep
  Matrix<float> piece_a_, piece_b_;
};

}  // namespace

std::size_t compact_nonzeros_portable(const float* a, std::int64_t n, std::int32_t* cols, float* vals) {
  std::size_t m = 0;
  for (std::int64_t j = 0; j < n; ++j) {  // without a branch: whether an entry is zero is not predictable
    cols[m] = static_cast<std::int32_t>(j);
    vals[m] = a[j];
    m += a[j] != 0.0f;
  }
  return m;
}

#if defined(__x86_64__) && defined(__GNUC__)
namespace {
// compact_nonzeros_portable 16 entries at a time by AVX-512's compressing stores.
__attribute__((target("avx512f"))) std::size_t compact_nonzeros_avx512(const float* a, std::int64_t n,
                                                                       std::int32_t* cols, float* vals) {
  std::size_t m = 0;
  std::int64_t j = 0;
  __m512i index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i sixteen = _mm512_set1_epi32(16);
  for (; j + 16 <= n; j += 16) {
    const __m512 v = _mm512_loadu_ps(a + j);
    const __mmask16 nonzero = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
    if (nonzero != 0) {
      _mm512_mask_compressstoreu_ps(vals + m, nonzero, v);
      _mm512_mask_compressstoreu_epi32(cols + m, nonzero, index);
      m += static_cast<std::size_t>(__builtin_popcount(nonzero));
    }
    index = _mm512_add_epi32(index, sixteen);
  }
  for (; j < n; ++j) {
    cols[m] = static_cast<std::int32_t>(j);
    vals[m] = a[j];
    m += a[j] != 0.0f;
  }
  return m;
}
}  // namespace
#endif

std::size_t compact_nonzeros(const float* a, std::int64_t n, std::int32_t* cols, float* vals) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) return compact_nonzeros_avx512(a, n, cols, vals);
#endif
  return compact_nonzeros_portable(a, n, cols, vals);
}

void add_residual_correlations(const SparseRows& codes, MatrixView<const float> z, MatrixView<const float> atoms,
                               std::int64_t fixed, std::int64_t learned, Matrix<float>& r) {
  const std::int64_t dim = z.cols;
  Matrix<float> residual(codes.rows(), dim);
  std::vector<std::vector<std::pair<std::int64_t, float>>> uses(static_cast<std::size_t>(learned));
  for (std::int64_t row = 0; row < codes.rows(); ++row) {
    row_residual(codes, row, atoms, z.row(row), residual.row(row));
    for (auto p = codes.indptr[static_cast<std::size_t>(row)]; p < codes.indptr[static_cast<std::size_t>(row) + 1]; ++p) {
      const std::int64_t k = codes.indices[static_cast<std::size_t>(p)];
      if (k >= fixed) uses[static_cast<std::size_t>(k - fixed)].emplace_back(row, codes.data[static_cast<std::size_t>(p)]);
    }
  }
  const bool worth_threads = static_cast<std::int64_t>(codes.data.size()) * dim > (1 << 20);
#pragma omp parallel for schedule(dynamic, 8) if (worth_threads)
  for (std::int64_t j = 0; j < learned; ++j) {
    float* rj = r.row(j);
    for (const auto& [row, w] : uses[static_cast<std::size_t>(j)]) {
      const float* res = residual.row(row);
      for (std::int64_t i = 0; i < dim; ++i) rj[i] += w * res[i];
    }
  }
}

void forget_kept_residual(AtomUpdater& updater) {
  if (auto* cpu = dynamic_cast<CpuAtomUpdater*>(&updater)) cpu->forget_residual();
}

void piece_statistics(const SparseRows& codes, MatrixView<const float> z, std::int64_t fixed, std::int64_t learned,
                      Matrix<float>& a, Matrix<float>& b) {
  const std::int64_t total = fixed + learned, dim = z.cols;
  if (a.rows() != learned || a.cols() != total) a = Matrix<float>(learned, total);
  else std::fill(a.values().begin(), a.values().end(), 0.0f);
  if (b.rows() != learned || b.cols() != dim) b = Matrix<float>(learned, dim);
  else std::fill(b.values().begin(), b.values().end(), 0.0f);
  add_piece_statistics(codes, z, fixed, learned, a, b);
}

void add_piece_statistics(const SparseRows& codes, MatrixView<const float> z, std::int64_t fixed, std::int64_t learned,
                          Matrix<float>& a, Matrix<float>& b) {
  const std::int64_t dim = z.cols;
  // Column lists of the learned atoms: (row, position in the CSR) in row order.
  std::vector<std::vector<std::int64_t>> uses(static_cast<std::size_t>(learned));
  std::vector<std::int64_t> row_of(codes.data.size());
  for (std::int64_t r = 0; r < codes.rows(); ++r)
    for (auto p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p) {
      row_of[static_cast<std::size_t>(p)] = r;
      const std::int64_t k = codes.indices[static_cast<std::size_t>(p)];
      if (k >= fixed) uses[static_cast<std::size_t>(k - fixed)].push_back(p);
    }
  const bool worth_threads = static_cast<std::int64_t>(codes.data.size()) * dim > (1 << 20);
#pragma omp parallel for schedule(dynamic, 8) if (worth_threads)
  for (std::int64_t j = 0; j < learned; ++j) {
    float* aj = a.row(j);
    float* bj = b.row(j);
    for (const std::int64_t p : uses[static_cast<std::size_t>(j)]) {
      const std::int64_t r = row_of[static_cast<std::size_t>(p)];
      const float wj = codes.data[static_cast<std::size_t>(p)];
      for (auto q = codes.indptr[static_cast<std::size_t>(r)]; q < codes.indptr[static_cast<std::size_t>(r) + 1]; ++q)
        aj[codes.indices[static_cast<std::size_t>(q)]] += wj * codes.data[static_cast<std::size_t>(q)];
      const float* zr = z.row(r);
      for (std::int64_t i = 0; i < dim; ++i) bj[i] += wj * zr[i];
    }
  }
}

std::unique_ptr<AtomUpdater> make_cpu_atom_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim,
                                                   double sparse_density) {
  return std::make_unique<CpuAtomUpdater>(fixed, learned, dim, sparse_density);
}

std::unique_ptr<AtomUpdater> make_atom_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim,
                                               const Resources& resources) {
  if (resources.on_cuda()) return resources.make_dictionary_updater(fixed, learned, dim);
  return make_cpu_atom_updater(fixed, learned, dim);
}

}  // namespace concise::learn
