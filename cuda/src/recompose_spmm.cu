// Codes back to embeddings on the GPU: one cuSPARSE SpMM (CSR codes x dense atoms),
// then a kernel for SpLiCE's two normalizations around the image mean.
#include <limits>

#include "concise/core/error.hpp"
#include "cuda_solvers.hpp"
#include "kernels.cuh"
#include "session.hpp"

namespace concise::cuda {

namespace {

class SparseMatrix {
 public:
  SparseMatrix(std::int64_t rows, std::int64_t cols, std::int64_t nnz, int* offsets, int* columns, float* values) {
    CONCISE_CUDA_CHECK(cusparseCreateCsr(&descr_, rows, cols, nnz, offsets, columns, values, CUSPARSE_INDEX_32I,
                                         CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
  }
  ~SparseMatrix() { cusparseDestroySpMat(descr_); }
  SparseMatrix(const SparseMatrix&) = delete;
  SparseMatrix& operator=(const SparseMatrix&) = delete;
  cusparseSpMatDescr_t get() const { return descr_; }

 private:
  cusparseSpMatDescr_t descr_ = nullptr;
};

class DenseMatrix {
 public:
  DenseMatrix(std::int64_t rows, std::int64_t cols, float* values) {
    CONCISE_CUDA_CHECK(cusparseCreateDnMat(&descr_, rows, cols, cols, values, CUDA_R_32F, CUSPARSE_ORDER_ROW));
  }
  ~DenseMatrix() { cusparseDestroyDnMat(descr_); }
  DenseMatrix(const DenseMatrix&) = delete;
  DenseMatrix& operator=(const DenseMatrix&) = delete;
  cusparseDnMatDescr_t get() const { return descr_; }

 private:
  cusparseDnMatDescr_t descr_ = nullptr;
};

template <class T>
void upload(DeviceBuffer<T>& buffer, const T* values, std::size_t n, cudaStream_t stream) {
  buffer.resize(std::max<std::size_t>(n, 1));
  if (n > 0) CONCISE_CUDA_CHECK(cudaMemcpyAsync(buffer.data(), values, n * sizeof(T), cudaMemcpyHostToDevice, stream));
}

}  // namespace

Session::Session(MatrixView<const float> atoms, const std::vector<float>& image_mean, int device)
    : ctx_(device), concepts_(atoms.rows), dim_(atoms.cols) {
  cudaStream_t stream = ctx_.compute.get();
  upload(atoms_, atoms.data, atoms.size(), stream);
  if (!image_mean.empty()) upload(image_mean_, image_mean.data(), image_mean.size(), stream);
  ctx_.compute.synchronize();
}

void Session::recompose_on_device(const SparseRows& codes, bool add_image_mean, DeviceBuffer<float>& d_out) {
  const std::int64_t n = codes.rows(), c = concepts_, d = dim_;
  if (codes.cols != c)
    throw InputError("codes have " + std::to_string(codes.cols) + " concepts, expected " + std::to_string(c) +
                     " (the dictionary's)");
  if (codes.nnz() > std::numeric_limits<int>::max()) throw Error("recompose on the GPU takes at most 2^31 weights per call");
  DeviceScope on(ctx_.device());  // before the output's allocation, which must land on this GPU
  d_out.resize(static_cast<std::size_t>(std::max<std::int64_t>(n * d, 1)));
  if (n == 0) return;
  cudaStream_t stream = ctx_.compute.get();
  const std::vector<int> offsets(codes.indptr.begin(), codes.indptr.end());
  DeviceBuffer<int> d_offsets, d_columns;
  DeviceBuffer<float> d_values;
  upload(d_offsets, offsets.data(), offsets.size(), stream);
  upload(d_columns, codes.indices.data(), codes.indices.size(), stream);
  upload(d_values, codes.data.data(), codes.data.size(), stream);
  const SparseMatrix w(n, c, codes.nnz(), d_offsets.data(), d_columns.data(), d_values.data());
  const DenseMatrix dictionary(c, d, atoms_.data());
  const DenseMatrix result(n, d, d_out.data());
  const float one = 1.0f, zero = 0.0f;
  std::size_t bytes = 0;
  CONCISE_CUDA_CHECK(cusparseSpMM_bufferSize(ctx_.sparse.get(), CUSPARSE_OPERATION_NON_TRANSPOSE,
                                             CUSPARSE_OPERATION_NON_TRANSPOSE, &one, w.get(), dictionary.get(), &zero,
                                             result.get(), CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &bytes));
  CONCISE_CUDA_CHECK(cusparseSpMM(ctx_.sparse.get(), CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                  &one, w.get(), dictionary.get(), &zero, result.get(), CUDA_R_32F,
                                  CUSPARSE_SPMM_ALG_DEFAULT, ctx_.scratch_of(std::max<std::size_t>(bytes, 1))));
  const bool with_mean = add_image_mean && image_mean_.size() > 0;
  kernels::finish_recompose(d_out.data(), with_mean ? image_mean_.data() : nullptr, n, d, stream);
  ctx_.compute.synchronize();  // the uploads above live until here
}

Matrix<float> Session::recompose(const SparseRows& codes, bool add_image_mean) {
  Matrix<float> out(codes.rows(), dim_);
  if (codes.rows() == 0) return out;
  DeviceBuffer<float> d_out;
  recompose_on_device(codes, add_image_mean, d_out);
  DeviceScope on(ctx_.device());
  download_now(out.data(), d_out.data(), out.values().size(), ctx_.compute);
  return out;
}

}  // namespace concise::cuda
