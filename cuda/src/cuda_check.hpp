#pragma once
// Every CUDA, cuBLAS, cuSPARSE and cuSOLVER call goes through CONCISE_CUDA_CHECK,
// which throws concise::Error naming the call, the library's message and the place.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>
#include <cusparse.h>

#include <string>

namespace concise::cuda {

// Whether status leaves the context unusable (every later call fails too).
bool is_sticky(cudaError_t status);
// Throws concise::Error; after a sticky fault the message carries kContextLost (concise/cuda/plugin.hpp).
[[noreturn]] void throw_cuda_error(const char* call, const std::string& detail, const char* file, int line);

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(call, cudaGetErrorString(status), file, line);
}
inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cuda_error(call, cublasGetStatusString(status), file, line);
}
inline void check(cusparseStatus_t status, const char* call, const char* file, int line) {
  if (status != CUSPARSE_STATUS_SUCCESS) throw_cuda_error(call, cusparseGetErrorString(status), file, line);
}
inline void check(cusolverStatus_t status, const char* call, const char* file, int line) {
  if (status != CUSOLVER_STATUS_SUCCESS)
    throw_cuda_error(call, "cuSOLVER status " + std::to_string(static_cast<int>(status)), file, line);
}

}  // namespace concise::cuda

#define CONCISE_CUDA_CHECK(call) ::concise::cuda::check((call), #call, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface here, not later.
#define CONCISE_CUDA_CHECK_LAUNCH() CONCISE_CUDA_CHECK(cudaGetLastError())
