// The CPU reference of the dictionary step: sparse accumulation of the statistics
// (deterministic: each learned atom's row is summed by one thread in row order) and
// block-coordinate descent on the unit sphere with R = B - A D kept by GEMMs.
#include <cblas.h>

#include <algorithm>
#include <cmath>
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

class CpuAtomUpdater final : public AtomUpdater {
 public:
  CpuAtomUpdater(std::int64_t fixed, std::int64_t learned, std::int64_t dim)
      : fixed_(fixed), learned_(learned), dim_(dim), a_(learned, fixed + learned), b_(learned, dim) {}

  void accumulate(const SparseRows& codes, MatrixView<const float> z, float beta) override {
    if (beta == 1.0f) {  // a later piece of a batch: its own sum, added (as distributed learning adds it)
      piece_statistics(codes, z, fixed_, learned_, piece_a_, piece_b_);
      add(a_, piece_a_);
      add(b_, piece_b_);
      return;
    }
    // A batch's first piece: the decayed statistics (zeros in batch mode, so the same bits as
    // the piece's own sum) take the rows directly.
    scale(a_, beta);
    scale(b_, beta);
    add_piece_statistics(codes, z, fixed_, learned_, a_, b_);
  }

  float update(MatrixView<float> atoms, int sweeps) override {
    const std::int64_t total = fixed_ + learned_, d = dim_;
    Matrix<float> r(learned_, d), block(cuda::kAtomBlock, d), delta(cuda::kAtomBlock, d);
    std::vector<double> u(static_cast<std::size_t>(d));
    float largest = 0;
    for (int sweep = 0; sweep < sweeps; ++sweep) {
      largest = 0;
      std::copy(b_.values().begin(), b_.values().end(), r.values().begin());
      gemm(a_.data(), total, atoms.data, r.data(), learned_, d, total, -1.0f, 1.0f);  // R = B - A D
      for (std::int64_t j0 = 0; j0 < learned_; j0 += cuda::kAtomBlock) {
        const std::int64_t nb = std::min(cuda::kAtomBlock, learned_ - j0);
        std::copy_n(r.row(j0), nb * d, block.data());
        for (std::int64_t jj = 0; jj < nb; ++jj) {
          const std::int64_t j = j0 + jj;
          float* atom = atoms.row(fixed_ + j);
          float* step = delta.row(jj);
          const float a_jj = a_.row(j)[fixed_ + j];
          std::fill_n(step, d, 0.0f);
          if (!cuda::atom_is_used(a_jj)) continue;
          double norm2 = 0;
          for (std::int64_t i = 0; i < d; ++i) {
            u[static_cast<std::size_t>(i)] = static_cast<double>(a_jj) * atom[i] + block.row(jj)[i];
            norm2 += u[static_cast<std::size_t>(i)] * u[static_cast<std::size_t>(i)];
          }
          const float scale = cuda::unit_scale(norm2);
          if (scale == 0.0f) continue;
          for (std::int64_t i = 0; i < d; ++i) {
            const float next = static_cast<float>(u[static_cast<std::size_t>(i)]) * scale;
            step[i] = next - atom[i];
            atom[i] = next;
            largest = std::max(largest, std::abs(step[i]));
          }
          for (std::int64_t kk = jj + 1; kk < nb; ++kk) {  // the block's later atoms see this one's move
            const float a_kj = a_.row(j0 + kk)[fixed_ + j];
            if (a_kj == 0.0f) continue;
            float* rk = block.row(kk);
            for (std::int64_t i = 0; i < d; ++i) rk[i] -= a_kj * step[i];
          }
        }
        const std::int64_t after = j0 + nb;  // R of the atoms after the block: one GEMM
        if (after < learned_)
          gemm(a_.row(after) + fixed_ + j0, total, delta.data(), r.row(after), learned_ - after, d, nb, -1.0f, 1.0f);
      }
    }
    return largest;
  }

  void reset_atom(std::int64_t j) override {
    std::fill_n(a_.row(j), fixed_ + learned_, 0.0f);
    for (std::int64_t k = 0; k < learned_; ++k) a_.row(k)[fixed_ + j] = 0.0f;
    std::fill_n(b_.row(j), dim_, 0.0f);
  }

  void read_statistics(Matrix<float>& a, Matrix<float>& b) const override {
    a = a_;
    b = b_;
  }
  void write_statistics(const Matrix<float>& a, const Matrix<float>& b) override {
    a_ = a;
    b_ = b;
  }

 private:
  std::int64_t fixed_, learned_, dim_;
  Matrix<float> a_;  // learned x (fixed + learned)
  Matrix<float> b_;  // learned x dim
  Matrix<float> piece_a_, piece_b_;
};

}  // namespace

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

std::unique_ptr<AtomUpdater> make_cpu_atom_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim) {
  return std::make_unique<CpuAtomUpdater>(fixed, learned, dim);
}

std::unique_ptr<AtomUpdater> make_atom_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim,
                                               const Resources& resources) {
  if (resources.on_cuda()) return resources.make_dictionary_updater(fixed, learned, dim);
  return make_cpu_atom_updater(fixed, learned, dim);
}

}  // namespace concise::learn
