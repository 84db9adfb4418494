#include "concise/core/error.hpp"
#include "concise/cuda/plugin.hpp"
#include "gpu_context.hpp"

namespace concise::cuda {

bool is_sticky(cudaError_t status) {
  switch (status) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
      return true;
    default:
      return false;
  }
}

void throw_cuda_error(const char* call, const std::string& detail, const char* file, int line) {
  std::string message = std::string("CUDA error: ") + call + " failed: " + detail + " (" + file + ":" +
                        std::to_string(line) + ")";
  // A library call's failure can hide a sticky fault of an earlier kernel; the runtime still reports that one.
  if (is_sticky(cudaPeekAtLastError()))
    message += "; " + std::string(kContextLost) + " (restart the process to use the GPU again)";
  throw Error(message);
}

DeviceScope::DeviceScope(int device) {
  CONCISE_CUDA_CHECK(cudaGetDevice(&previous_));
  CONCISE_CUDA_CHECK(cudaSetDevice(device));
}
DeviceScope::~DeviceScope() { cudaSetDevice(previous_); }

Stream::Stream() { CONCISE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
Stream::~Stream() { cudaStreamDestroy(stream_); }
void Stream::synchronize() const { CONCISE_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

Event::Event() { CONCISE_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }
Event::~Event() { cudaEventDestroy(event_); }
void Event::record(cudaStream_t stream) { CONCISE_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void Event::wait_on(cudaStream_t stream) const { CONCISE_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }

BlasHandle::BlasHandle(cudaStream_t stream) {
  CONCISE_CUDA_CHECK(cublasCreate(&handle_));
  CONCISE_CUDA_CHECK(cublasSetStream(handle_, stream));
  // FP32 GEMMs stay FP32 (no TF32): the gap and the stopping test see FP32 rounding only.
  CONCISE_CUDA_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
}
BlasHandle::~BlasHandle() { cublasDestroy(handle_); }

SparseHandle::SparseHandle(cudaStream_t stream) {
  CONCISE_CUDA_CHECK(cusparseCreate(&handle_));
  CONCISE_CUDA_CHECK(cusparseSetStream(handle_, stream));
}
SparseHandle::~SparseHandle() { cusparseDestroy(handle_); }

SolverHandle::SolverHandle(cudaStream_t stream) {
  CONCISE_CUDA_CHECK(cusolverDnCreate(&handle_));
  CONCISE_CUDA_CHECK(cusolverDnSetStream(handle_, stream));
}
SolverHandle::~SolverHandle() { cusolverDnDestroy(handle_); }

GpuContext::Selected::Selected(int device_index) : device(device_index) { CONCISE_CUDA_CHECK(cudaSetDevice(device_index)); }

GpuContext::GpuContext(int device_index)
    : selected(device_index), blas(compute.get()), sparse(compute.get()), solver(compute.get()) {}

}  // namespace concise::cuda
