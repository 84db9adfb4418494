// The GPU twin of learn's CPU atom updater (see concise/cuda/dictionary_update.hpp):
// statistics by cuBLAS GEMMs over densified codes; each block-coordinate sweep is
// one GEMM for R = B - A D, then per block of atoms one small kernel (the atoms one
// after another, one thread per dimension) and one GEMM for the later atoms' R.
// Row-major matrices are handed to column-major cuBLAS as their transposes.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "concise/core/error.hpp"
#include "concise/cuda/dictionary_update.hpp"
#include "device_memory.hpp"
#include "gpu_context.hpp"
#include "kernels.cuh"

namespace concise::cuda {
namespace {

constexpr int kMaxDim = 1024;  // one thread per dimension

// Atoms [first, first + count) of the learned ones (row j of A/B, row fixed + j of atoms).
// max_change holds the largest |change| as float bits (nonnegative floats order as ints).
__global__ void update_atom_block(float* atoms, const float* a, const float* r, float* delta, unsigned int* max_change,
                                  long long fixed, long long total, long long first, int count, int dim) {
  __shared__ double partial[kMaxDim / 32];
  __shared__ float scale_shared;
  const int i = threadIdx.x;
  const bool active = i < dim;
  float rb[kAtomBlock];
  for (int kk = 0; kk < count; ++kk) rb[kk] = active ? r[(first + kk) * dim + i] : 0.0f;
  float largest = 0.0f;
  for (int jj = 0; jj < count; ++jj) {
    const long long j = first + jj;
    float* atom = atoms + (fixed + j) * dim;
    const float a_jj = a[j * total + fixed + j];
    const bool used = atom_is_used(a_jj);
    const double u = active && used ? static_cast<double>(a_jj) * atom[i] + rb[jj] : 0.0;
    double s = u * u;
    for (int offset = 16; offset > 0; offset /= 2) s += __shfl_down_sync(0xffffffffu, s, offset);
    if ((i & 31) == 0) partial[i / 32] = s;
    __syncthreads();
    if (i == 0) {
      double total_s = 0;
      for (int w = 0; w < (blockDim.x + 31) / 32; ++w) total_s += partial[w];
      scale_shared = used ? unit_scale(total_s) : 0.0f;
    }
    __syncthreads();
    const float scale = scale_shared;
    float step = 0.0f;
    if (active && scale != 0.0f) {
      const float next = static_cast<float>(u) * scale;
      step = next - atom[i];
      atom[i] = next;
      largest = fmaxf(largest, fabsf(step));
    }
    if (active) delta[jj * dim + i] = step;
    for (int kk = jj + 1; kk < count; ++kk) rb[kk] -= a[(first + kk) * total + fixed + j] * step;
    __syncthreads();
  }
  if (active) atomicMax(max_change, __float_as_uint(largest));
}

class CudaDictionaryUpdater final : public DictionaryUpdater {
 public:
  CudaDictionaryUpdater(std::int64_t fixed, std::int64_t learned, std::int64_t dim, int device)
      : scope_(device), blas_(stream_.get()), fixed_(fixed), learned_(learned), dim_(dim) {
    if (dim > kMaxDim)
      throw InputError("the GPU dictionary update handles dimensions up to " + std::to_string(kMaxDim) + ", got " +
                       std::to_string(dim) + "; use device cpu");
    const std::int64_t total = fixed + learned;
    a_.resize(static_cast<std::size_t>(learned * total));
    b_.resize(static_cast<std::size_t>(learned * dim));
    r_.resize(static_cast<std::size_t>(learned * dim));
    atoms_.resize(static_cast<std::size_t>(total * dim));
    delta_.resize(static_cast<std::size_t>(kAtomBlock * dim));
    max_change_.resize(1);
    CONCISE_CUDA_CHECK(cudaMemsetAsync(a_.data(), 0, a_.bytes(), stream_.get()));
    CONCISE_CUDA_CHECK(cudaMemsetAsync(b_.data(), 0, b_.bytes(), stream_.get()));
    stream_.synchronize();
  }

  void accumulate(const SparseRows& codes, MatrixView<const float> z, float beta) override {
    DeviceScope scope(scope_device());
    const std::int64_t n = codes.rows(), total = fixed_ + learned_;
    if (n == 0) {  // no rows: the statistics still decay by beta, as on the CPU
      if (beta != 1.0f) {
        kernels::scale(a_.data(), static_cast<std::int64_t>(a_.size()), beta, stream_.get());
        kernels::scale(b_.data(), static_cast<std::int64_t>(b_.size()), beta, stream_.get());
        stream_.synchronize();
      }
      return;
    }
    std::vector<float> dense(static_cast<std::size_t>(n * total), 0.0f);
    for (std::int64_t r = 0; r < n; ++r)
      for (auto p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p)
        dense[static_cast<std::size_t>(r * total + codes.indices[static_cast<std::size_t>(p)])] =
            codes.data[static_cast<std::size_t>(p)];
    w_.resize(dense.size());
    z_.resize(z.size());
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(w_.data(), dense.data(), w_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(z_.data(), z.data, z_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
    const float one = 1.0f;
    const int in = static_cast<int>(n), it = static_cast<int>(total), ik = static_cast<int>(learned_),
              id = static_cast<int>(dim_);
    // A (row-major K x T) = beta A + W_L^T W: column-major A^T (T x K) = W^T (T x n) W_L (n x K).
    CONCISE_CUDA_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, it, ik, in, &one, w_.data(), it,
                                   w_.data() + fixed_, it, &beta, a_.data(), it));
    // B (row-major K x d) = beta B + W_L^T Z: column-major B^T (d x K) = Z^T (d x n) W_L (n x K).
    CONCISE_CUDA_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_T, id, ik, in, &one, z_.data(), id,
                                   w_.data() + fixed_, it, &beta, b_.data(), id));
    stream_.synchronize();  // the host buffers go out of scope
  }

  float update(MatrixView<float> atoms, int sweeps) override {
    DeviceScope scope(scope_device());
    const std::int64_t total = fixed_ + learned_, d = dim_;
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(atoms_.data(), atoms.data, atoms_.bytes(), cudaMemcpyHostToDevice, stream_.get()));
    const float one = 1.0f, minus_one = -1.0f;
    const int it = static_cast<int>(total), id = static_cast<int>(d);
    const int threads = static_cast<int>((d + 31) / 32 * 32);
    unsigned int largest_bits = 0;
    CONCISE_CUDA_CHECK(cudaMemsetAsync(max_change_.data(), 0, sizeof(unsigned int), stream_.get()));  // sweeps = 0
    for (int sweep = 0; sweep < sweeps; ++sweep) {
      CONCISE_CUDA_CHECK(cudaMemsetAsync(max_change_.data(), 0, sizeof(unsigned int), stream_.get()));
      // R = B - A D: column-major R^T (d x K) = B^T - D^T (d x T) A^T (T x K).
      CONCISE_CUDA_CHECK(cudaMemcpyAsync(r_.data(), b_.data(), b_.bytes(), cudaMemcpyDeviceToDevice, stream_.get()));
      CONCISE_CUDA_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, id, static_cast<int>(learned_), it,
                                     &minus_one, atoms_.data(), id, a_.data(), it, &one, r_.data(), id));
      for (std::int64_t j0 = 0; j0 < learned_; j0 += kAtomBlock) {
        const int count = static_cast<int>(std::min(kAtomBlock, learned_ - j0));
        update_atom_block<<<1, threads, 0, stream_.get()>>>(atoms_.data(), a_.data(), r_.data(), delta_.data(),
                                                            max_change_.data(), fixed_, total, j0, count, id);
        CONCISE_CUDA_CHECK_LAUNCH();
        const std::int64_t after = j0 + count;
        if (after >= learned_) continue;
        // R of the later atoms -= A[after:, block] Delta: column-major R^T[:, after:] -= Delta^T (d x nb) A[after:, block]^T.
        CONCISE_CUDA_CHECK(cublasSgemm(blas_.get(), CUBLAS_OP_N, CUBLAS_OP_N, id, static_cast<int>(learned_ - after),
                                       count, &minus_one, delta_.data(), id, a_.data() + after * total + fixed_ + j0, it,
                                       &one, r_.data() + after * d, id));
      }
    }
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(atoms.row(fixed_), atoms_.data() + fixed_ * d,
                                       static_cast<std::size_t>(learned_ * d) * sizeof(float), cudaMemcpyDeviceToHost,
                                       stream_.get()));
    CONCISE_CUDA_CHECK(cudaMemcpyAsync(&largest_bits, max_change_.data(), sizeof(unsigned int), cudaMemcpyDeviceToHost,
                                       stream_.get()));
    stream_.synchronize();
    float largest = 0;
    std::memcpy(&largest, &largest_bits, sizeof(float));
    return largest;
  }

  void reset_atom(std::int64_t j) override {
    DeviceScope scope(scope_device());
    const std::int64_t total = fixed_ + learned_;
    CONCISE_CUDA_CHECK(cudaMemsetAsync(a_.data() + j * total, 0, static_cast<std::size_t>(total) * sizeof(float), stream_.get()));
    CONCISE_CUDA_CHECK(cudaMemset2DAsync(a_.data() + fixed_ + j, static_cast<std::size_t>(total) * sizeof(float), 0,
                                         sizeof(float), static_cast<std::size_t>(learned_), stream_.get()));
    CONCISE_CUDA_CHECK(cudaMemsetAsync(b_.data() + j * dim_, 0, static_cast<std::size_t>(dim_) * sizeof(float), stream_.get()));
    stream_.synchronize();
  }

  void read_statistics(Matrix<float>& a, Matrix<float>& b) const override {
    DeviceScope scope(scope_device());
    a = Matrix<float>(learned_, fixed_ + learned_);
    b = Matrix<float>(learned_, dim_);
    download_now(a.data(), a_.data(), a_.size(), stream_);
    download_now(b.data(), b_.data(), b_.size(), stream_);
  }

  void write_statistics(const Matrix<float>& a, const Matrix<float>& b) override {
    DeviceScope scope(scope_device());
    if (a.values().size() != a_.size() || b.values().size() != b_.size())
      throw Error("statistics of another shape cannot be loaded into the GPU dictionary update");
    upload_now(a_.data(), a.data(), a_.size(), stream_);
    upload_now(b_.data(), b.data(), b_.size(), stream_);
  }

 private:
  struct Selected {
    explicit Selected(int d) : device(d) { CONCISE_CUDA_CHECK(cudaSetDevice(d)); }
    int device;
  };
  int scope_device() const { return scope_.device; }

  Selected scope_;  // first: the device is current before the stream and handle exist
  Stream stream_;
  BlasHandle blas_;
  std::int64_t fixed_, learned_, dim_;
  DeviceBuffer<float> a_, b_, r_, atoms_, delta_, w_, z_;
  DeviceBuffer<unsigned int> max_change_;
};

}  // namespace

std::unique_ptr<DictionaryUpdater> make_dictionary_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim,
                                                           int device) {
  const DeviceScope on(device);  // built there; the caller's current device comes back after
  return std::make_unique<CudaDictionaryUpdater>(fixed, learned, dim, device);
}

}  // namespace concise::cuda
