#include "concise/core/error.hpp"
#include "concise/cuda/plugin.hpp"
#include "gpu_context.hpp"

#include <dlfcn.h>

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
  else
    cudaGetLastError();  // a failed call stays the thread's last error: the next launch check would report it again
  throw Error(message);
}

namespace {

// Whether `device` has its primary context already, asked of the driver the runtime
// has loaded (the plugin links no driver library, so that it loads where none is).
// Unknown (no driver in the process) counts as yes.
bool has_primary_context(int device) {
  using GetDevice = int (*)(int*, int);
  using GetState = int (*)(int, unsigned*, int*);
  void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (driver == nullptr) return true;
  const auto get_device = reinterpret_cast<GetDevice>(dlsym(driver, "cuDeviceGet"));
  const auto get_state = reinterpret_cast<GetState>(dlsym(driver, "cuDevicePrimaryCtxGetState"));
  int handle = 0, active = 1;
  unsigned flags = 0;
  if (get_device == nullptr || get_state == nullptr || get_device(&handle, device) != 0 ||
      get_state(handle, &flags, &active) != 0)
    active = 1;
  dlclose(driver);
  return active != 0;
}

}  // namespace

DeviceScope::DeviceScope(int device) {
  CONCISE_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) CONCISE_CUDA_CHECK(cudaSetDevice(device));
  changed_ = previous_ != device;
}
DeviceScope::~DeviceScope() {
  if (!changed_) return;
  // cudaSetDevice makes the device's context: the previous device is restored only
  // when it has one already (a thread that never used a GPU reads device 0, and
  // restoring it would take GPU 0's memory for a context nobody uses).
  if (has_primary_context(previous_)) cudaSetDevice(previous_);
}

Stream::Stream() { CONCISE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
Stream::~Stream() { cudaStreamDestroy(stream_); }
void Stream::synchronize() const { CONCISE_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

Event::Event() { CONCISE_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming)); }
Event::~Event() { cudaEventDestroy(event_); }
void Event::record(cudaStream_t stream) { CONCISE_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void Event::wait_on(cudaStream_t stream) const { CONCISE_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }

// A constructor that throws runs no destructor: a handle made before a failing call
// of `configure` is destroyed here.
namespace {
template <class Handle, class Destroy, class Configure>
void configure_or_destroy(Handle handle, Destroy destroy, Configure configure) {
  try {
    configure();
  } catch (...) {
    destroy(handle);
    throw;
  }
}
}  // namespace

BlasHandle::BlasHandle(cudaStream_t stream) {
  CONCISE_CUDA_CHECK(cublasCreate(&handle_));
  configure_or_destroy(handle_, cublasDestroy, [&] {
    CONCISE_CUDA_CHECK(cublasSetStream(handle_, stream));
    // FP32 GEMMs stay FP32 (no TF32): the gap and the stopping test see FP32 rounding only.
    CONCISE_CUDA_CHECK(cublasSetMathMode(handle_, CUBLAS_DEFAULT_MATH));
  });
}
BlasHandle::~BlasHandle() { cublasDestroy(handle_); }

SparseHandle::SparseHandle(cudaStream_t stream) {
  CONCISE_CUDA_CHECK(cusparseCreate(&handle_));
  configure_or_destroy(handle_, cusparseDestroy, [&] { CONCISE_CUDA_CHECK(cusparseSetStream(handle_, stream)); });
}
SparseHandle::~SparseHandle() { cusparseDestroy(handle_); }

SolverHandle::SolverHandle(cudaStream_t stream) {
  CONCISE_CUDA_CHECK(cusolverDnCreate(&handle_));
  configure_or_destroy(handle_, cusolverDnDestroy, [&] { CONCISE_CUDA_CHECK(cusolverDnSetStream(handle_, stream)); });
}
SolverHandle::~SolverHandle() { cusolverDnDestroy(handle_); }

GpuContext::Selected::Selected(int device_index) : device(device_index) { CONCISE_CUDA_CHECK(cudaSetDevice(device_index)); }

GpuContext::GpuContext(int device_index)
    : selected(device_index), blas(compute.get()), sparse(compute.get()), solver(compute.get()) {}

}  // namespace concise::cuda
