// cuBLAS, cuSPARSE and cuSOLVER calls of the CPU emulator, on OpenBLAS and LAPACK,
// with the argument checks the libraries make and a check that every matrix lies in
// device memory (a host pointer handed to cuBLAS is a fault on a GPU).
#include <cblas.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

#include "cublas_v2.h"
#include "cusolverDn.h"
#include "cusparse.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  int device = 0;  // current when it was created: calls must run there, on its memory
};
struct cusparseContext {
  cudaStream_t stream = nullptr;
};
struct cusolverDnContext {
  cudaStream_t stream = nullptr;
};
struct cusparseSpMatDescr {
  std::int64_t rows, cols, nnz;
  const int* offsets;
  const int* columns;
  const float* values;
};
struct cusparseDnMatDescr {
  std::int64_t rows, cols, ld;
  float* values;
};

extern "C" {
void spotrf_(const char* uplo, const int* n, float* a, const int* lda, int* info);
void spotrs_(const char* uplo, const int* n, const int* nrhs, const float* a, const int* lda, float* b,
             const int* ldb, int* info);
}

namespace {

std::mutex handle_mutex;
std::set<const void*>& handles() {
  static std::set<const void*> live;
  return live;
}
template <class T>
T* make_handle() {
  T* h = new T{};
  const std::lock_guard<std::mutex> lock(handle_mutex);
  handles().insert(h);
  return h;
}
template <class T>
bool drop_handle(T* h) {
  const std::lock_guard<std::mutex> lock(handle_mutex);
  if (handles().erase(h) == 0) return false;
  delete h;
  return true;
}
bool live(const void* h) {
  const std::lock_guard<std::mutex> lock(handle_mutex);
  return handles().count(h) > 0;
}
bool stream_ok(cudaStream_t s) { return s == nullptr || concise_emu::is_live_stream(s); }

// A column-major matrix of `rows` x `cols` with leading dimension ld, whole in device memory.
bool device_matrix(const void* p, std::int64_t rows, std::int64_t cols, std::int64_t ld, std::size_t element) {
  if (rows == 0 || cols == 0) return true;
  return concise_emu::is_device_range(p, static_cast<std::size_t>(ld * (cols - 1) + rows) * element);
}

// TF32 keeps 10 of FP32's 23 mantissa bits; the dropped ones are cut, the worse of
// the two conversions a tensor core may make.
std::vector<float> to_tf32(const float* a, std::int64_t ld, std::int64_t rows, std::int64_t cols) {
  std::vector<float> out(static_cast<std::size_t>(ld * cols));
  for (std::int64_t j = 0; j < cols; ++j)
    for (std::int64_t i = 0; i < rows; ++i) {
      std::uint32_t bits;
      std::memcpy(&bits, &a[j * ld + i], sizeof bits);
      bits &= 0xffffe000u;
      std::memcpy(&out[j * ld + i], &bits, sizeof bits);
    }
  return out;
}

cublasStatus_t gemm(cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const float* alpha, const float* a, int lda, const float* b, int ldb, const float* beta,
                    float* c, int ldc, bool tf32) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!stream_ok(handle->stream)) return CUBLAS_STATUS_EXECUTION_FAILED;
  const int device = handle->device;
  if (concise_emu::current_device() != device ||
      (handle->stream != nullptr && concise_emu::stream_device(handle->stream) != device) ||
      (m > 0 && n > 0 && k > 0 && (concise_emu::device_of(a) != device || concise_emu::device_of(b) != device)) ||
      (m > 0 && n > 0 && concise_emu::device_of(c) != device))
    return CUBLAS_STATUS_EXECUTION_FAILED;  // another GPU's memory, or called on another GPU
  const int a_rows = ta == CUBLAS_OP_N ? m : k, a_cols = ta == CUBLAS_OP_N ? k : m;
  const int b_rows = tb == CUBLAS_OP_N ? k : n, b_cols = tb == CUBLAS_OP_N ? n : k;
  if (m < 0 || n < 0 || k < 0 || lda < std::max(1, a_rows) || ldb < std::max(1, b_rows) || ldc < std::max(1, m))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (concise_emu::is_device_range(alpha, sizeof(float)) || concise_emu::is_device_range(beta, sizeof(float)))
    return CUBLAS_STATUS_INVALID_VALUE;  // host pointer mode
  if (!device_matrix(a, a_rows, a_cols, lda, sizeof(float)) || !device_matrix(b, b_rows, b_cols, ldb, sizeof(float)) ||
      !device_matrix(c, m, n, ldc, sizeof(float)))
    return CUBLAS_STATUS_EXECUTION_FAILED;
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  std::vector<float> a_tf32, b_tf32;
  if (tf32) {
    a_tf32 = to_tf32(a, lda, a_rows, a_cols);
    b_tf32 = to_tf32(b, ldb, b_rows, b_cols);
    a = a_tf32.data();
    b = b_tf32.data();
  }
  if (*beta == 0.0f)  // cuBLAS reads no C when beta is 0 (it may hold NaN)
    for (int j = 0; j < n; ++j) std::fill(c + static_cast<std::int64_t>(j) * ldc, c + static_cast<std::int64_t>(j) * ldc + m, 0.0f);
  cblas_sgemm(CblasColMajor, ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
              m, n, k, *alpha, a, lda, b, ldb, *beta, c, ldc);
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = make_handle<cublasContext>();
  (*handle)->device = concise_emu::current_device();
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  return drop_handle(handle) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  if (!live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t) {
  return live(handle) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const float* alpha, const float* a, int lda, const float* b, int ldb,
                           const float* beta, float* c, int ldc) {
  return gemm(handle, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, false);
}
cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* a, cudaDataType_t a_type, int lda, const void* b,
                            cudaDataType_t b_type, int ldb, const void* beta, void* c, cudaDataType_t c_type, int ldc,
                            cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (a_type != CUDA_R_32F || b_type != CUDA_R_32F || c_type != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  return gemm(handle, transa, transb, m, n, k, static_cast<const float*>(alpha), static_cast<const float*>(a), lda,
              static_cast<const float*>(b), ldb, static_cast<const float*>(beta), static_cast<float*>(c), ldc,
              compute == CUBLAS_COMPUTE_32F_FAST_TF32);
}

cusparseStatus_t cusparseCreate(cusparseHandle_t* handle) {
  *handle = make_handle<cusparseContext>();
  return CUSPARSE_STATUS_SUCCESS;
}
cusparseStatus_t cusparseDestroy(cusparseHandle_t handle) {
  return drop_handle(handle) ? CUSPARSE_STATUS_SUCCESS : CUSPARSE_STATUS_INVALID_VALUE;
}
cusparseStatus_t cusparseSetStream(cusparseHandle_t handle, cudaStream_t stream) {
  if (!live(handle)) return CUSPARSE_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUSPARSE_STATUS_SUCCESS;
}
const char* cusparseGetErrorString(cusparseStatus_t status) {
  return status == CUSPARSE_STATUS_SUCCESS ? "CUSPARSE_STATUS_SUCCESS" : "CUSPARSE_STATUS_INVALID_VALUE";
}
cusparseStatus_t cusparseCreateCsr(cusparseSpMatDescr_t* descr, std::int64_t rows, std::int64_t cols,
                                   std::int64_t nnz, void* offsets, void* columns, void* values,
                                   cusparseIndexType_t offset_type, cusparseIndexType_t column_type,
                                   cusparseIndexBase_t base, cudaDataType_t value_type) {
  if (offset_type != CUSPARSE_INDEX_32I || column_type != CUSPARSE_INDEX_32I || base != CUSPARSE_INDEX_BASE_ZERO ||
      value_type != CUDA_R_32F || rows < 0 || cols < 0 || nnz < 0)
    return CUSPARSE_STATUS_NOT_SUPPORTED;
  if (!concise_emu::is_device_range(offsets, static_cast<std::size_t>(rows + 1) * sizeof(int)) ||
      (nnz > 0 && (!concise_emu::is_device_range(columns, static_cast<std::size_t>(nnz) * sizeof(int)) ||
                   !concise_emu::is_device_range(values, static_cast<std::size_t>(nnz) * sizeof(float)))))
    return CUSPARSE_STATUS_INVALID_VALUE;
  *descr = new cusparseSpMatDescr{rows, cols, nnz, static_cast<const int*>(offsets), static_cast<const int*>(columns),
                                  static_cast<const float*>(values)};
  return CUSPARSE_STATUS_SUCCESS;
}
cusparseStatus_t cusparseDestroySpMat(cusparseSpMatDescr_t descr) {
  delete descr;
  return CUSPARSE_STATUS_SUCCESS;
}
cusparseStatus_t cusparseCreateDnMat(cusparseDnMatDescr_t* descr, std::int64_t rows, std::int64_t cols,
                                     std::int64_t ld, void* values, cudaDataType_t value_type, cusparseOrder_t order) {
  if (value_type != CUDA_R_32F || order != CUSPARSE_ORDER_ROW || ld < cols) return CUSPARSE_STATUS_NOT_SUPPORTED;
  if (rows > 0 && cols > 0 &&
      !concise_emu::is_device_range(values, static_cast<std::size_t>((rows - 1) * ld + cols) * sizeof(float)))
    return CUSPARSE_STATUS_INVALID_VALUE;
  *descr = new cusparseDnMatDescr{rows, cols, ld, static_cast<float*>(values)};
  return CUSPARSE_STATUS_SUCCESS;
}
cusparseStatus_t cusparseDestroyDnMat(cusparseDnMatDescr_t descr) {
  delete descr;
  return CUSPARSE_STATUS_SUCCESS;
}
cusparseStatus_t cusparseSpMM_bufferSize(cusparseHandle_t handle, cusparseOperation_t, cusparseOperation_t,
                                         const void*, cusparseSpMatDescr_t, cusparseDnMatDescr_t, const void*,
                                         cusparseDnMatDescr_t, cudaDataType_t, cusparseSpMMAlg_t, std::size_t* bytes) {
  if (!live(handle)) return CUSPARSE_STATUS_INVALID_VALUE;
  *bytes = 64;
  return CUSPARSE_STATUS_SUCCESS;
}
cusparseStatus_t cusparseSpMM(cusparseHandle_t handle, cusparseOperation_t op_a, cusparseOperation_t op_b,
                              const void* alpha, cusparseSpMatDescr_t a, cusparseDnMatDescr_t b, const void* beta,
                              cusparseDnMatDescr_t c, cudaDataType_t compute, cusparseSpMMAlg_t, void* buffer) {
  if (!live(handle) || !stream_ok(handle->stream)) return CUSPARSE_STATUS_INVALID_VALUE;
  if (op_a != CUSPARSE_OPERATION_NON_TRANSPOSE || op_b != CUSPARSE_OPERATION_NON_TRANSPOSE || compute != CUDA_R_32F)
    return CUSPARSE_STATUS_NOT_SUPPORTED;
  if (a->cols != b->rows || a->rows != c->rows || b->cols != c->cols) return CUSPARSE_STATUS_INVALID_VALUE;
  if (!concise_emu::is_device_range(buffer, 64)) return CUSPARSE_STATUS_INVALID_VALUE;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (std::int64_t i = 0; i < a->rows; ++i) {
    float* out = c->values + i * c->ld;
    for (std::int64_t j = 0; j < c->cols; ++j) out[j] = be == 0.0f ? 0.0f : be * out[j];
    for (int e = a->offsets[i]; e < a->offsets[i + 1]; ++e) {
      const int col = a->columns[e];
      if (col < 0 || col >= a->cols) return CUSPARSE_STATUS_INVALID_VALUE;
      const float v = al * a->values[e];
      const float* row = b->values + static_cast<std::int64_t>(col) * b->ld;
      for (std::int64_t j = 0; j < c->cols; ++j) out[j] += v * row[j];
    }
  }
  return CUSPARSE_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t* handle) {
  *handle = make_handle<cusolverDnContext>();
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t handle) {
  return drop_handle(handle) ? CUSOLVER_STATUS_SUCCESS : CUSOLVER_STATUS_INVALID_VALUE;
}
cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t handle, cudaStream_t stream) {
  if (!live(handle)) return CUSOLVER_STATUS_INVALID_VALUE;
  handle->stream = stream;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnSpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t, int n, float*, int lda,
                                             int* lwork) {
  if (!live(handle) || lda < std::max(1, n)) return CUSOLVER_STATUS_INVALID_VALUE;
  *lwork = n;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnSpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, float* a, int lda,
                                  float* work, int lwork, int* info) {
  if (!live(handle) || lda < std::max(1, n) || lwork < n || !device_matrix(a, n, n, lda, sizeof(float)) ||
      (n > 0 && !concise_emu::is_device_range(work, static_cast<std::size_t>(lwork) * sizeof(float))) ||
      !concise_emu::is_device_range(info, sizeof(int)))
    return CUSOLVER_STATUS_INVALID_VALUE;
  const char u = uplo == CUBLAS_FILL_MODE_LOWER ? 'L' : 'U';
  spotrf_(&u, &n, a, &lda, info);
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnSpotrs(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, int nrhs, const float* a,
                                  int lda, float* b, int ldb, int* info) {
  if (!live(handle) || lda < std::max(1, n) || ldb < std::max(1, n) || !device_matrix(a, n, n, lda, sizeof(float)) ||
      !device_matrix(b, n, nrhs, ldb, sizeof(float)) || !concise_emu::is_device_range(info, sizeof(int)))
    return CUSOLVER_STATUS_INVALID_VALUE;
  const char u = uplo == CUBLAS_FILL_MODE_LOWER ? 'L' : 'U';
  spotrs_(&u, &n, &nrhs, a, &lda, b, &ldb, info);
  return CUSOLVER_STATUS_SUCCESS;
}
