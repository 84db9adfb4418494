#pragma once
// The CUDA runtime as the CPU emulator provides it (concise_emu/emulator.hpp): the
// part of the API concise uses, with the checks a GPU would make.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "concise_emu/emulator.hpp"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define threadIdx (::concise_emu::thread_index())
#define blockIdx (::concise_emu::block_index())
#define blockDim (::concise_emu::block_dim())
#define gridDim (::concise_emu::grid_dim())
constexpr int warpSize = 32;

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorLaunchFailure = 719,
  cudaErrorLaunchTimeout = 702,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorIllegalAddress = 700,
  cudaErrorAssert = 710,
  cudaErrorHardwareStackError = 714,
  cudaErrorIllegalInstruction = 715,
  cudaErrorMisalignedAddress = 716,
  cudaErrorInvalidAddressSpace = 717,
  cudaErrorInvalidPc = 718,
  cudaErrorECCUncorrectable = 214,
  cudaErrorContextIsDestroyed = 709,
  cudaErrorInvalidResourceHandle = 400,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaMemoryType { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1, cudaMemoryTypeDevice = 2, cudaMemoryTypeManaged = 3 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

struct cudaPointerAttributes {
  cudaMemoryType type = cudaMemoryTypeUnregistered;
  int device = 0;
  void* devicePointer = nullptr;
  void* hostPointer = nullptr;
};
struct cudaDeviceProp {
  char name[256] = {};
  std::size_t totalGlobalMem = 0;
  std::size_t sharedMemPerBlock = 0;
  std::size_t sharedMemPerBlockOptin = 0;
  int warpSize = 32;
  int maxThreadsPerBlock = 0;
  int maxGridSize[3] = {};
  int multiProcessorCount = 0;
  int major = 0, minor = 0;
  std::size_t l2CacheSize = 0;
};

using cudaEvent_t = struct CUevent_st*;
constexpr unsigned cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDisableTiming = 2;

const char* cudaGetErrorString(cudaError_t status);
const char* cudaGetErrorName(cudaError_t status);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaRuntimeGetVersion(int* version);  // 0: the emulator
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* props, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMalloc(void** p, std::size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** p, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, std::size_t bytes);
template <class T>
cudaError_t cudaMallocHost(T** p, std::size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(p), bytes);
}
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* p, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaMemset2DAsync(void* p, std::size_t pitch, int value, std::size_t width, std::size_t height,
                              cudaStream_t stream = nullptr);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* p);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags = 0);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaFuncSetAttribute(const char* kernel, cudaFuncAttribute attribute, int value);

namespace concise_emu {
// Whether [p, p + bytes) lies inside one cudaMalloc allocation.
bool is_device_range(const void* p, std::size_t bytes);
bool is_live_stream(cudaStream_t stream);
// The device a live stream belongs to (the current one for the legacy stream), or -1.
int stream_device(cudaStream_t stream);
// The device whose memory holds p (cudaMalloc), or -1.
int device_of(const void* p);
int current_device();
// Whether a kernel on the current device may dereference p: its device memory, or pinned host memory.
bool kernel_may_read(const void* p);
void record_error(cudaError_t status);
}  // namespace concise_emu

// --- device functions -----------------------------------------------------------
inline void __syncthreads() {
  ::concise_emu::Arrival a;
  a.op = ::concise_emu::Op::SyncThreads;
  a.what = "__syncthreads";
  ::concise_emu::arrive(a);
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  ::concise_emu::Arrival a;
  a.op = ::concise_emu::Op::SyncWarp;
  a.mask = mask;
  a.what = "__syncwarp";
  ::concise_emu::arrive(a);
}
namespace concise_emu {
template <class T>
T warp_exchange(Op op, const char* what, unsigned mask, T value, int param, int width) {
  Arrival a;
  a.op = op;
  a.mask = mask;
  a.value = to_bits(value);
  a.param = param;
  a.width = width;
  a.what = what;
  return from_bits<T>(arrive(a).value);
}
}  // namespace concise_emu
template <class T>
T __shfl_sync(unsigned mask, T value, int src_lane, int width = 32) {
  return ::concise_emu::warp_exchange(::concise_emu::Op::ShflIdx, "__shfl_sync", mask, value, src_lane, width);
}
template <class T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  return ::concise_emu::warp_exchange(::concise_emu::Op::ShflDown, "__shfl_down_sync", mask, value,
                                      static_cast<int>(delta), width);
}
template <class T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  return ::concise_emu::warp_exchange(::concise_emu::Op::ShflUp, "__shfl_up_sync", mask, value,
                                      static_cast<int>(delta), width);
}
template <class T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  return ::concise_emu::warp_exchange(::concise_emu::Op::ShflXor, "__shfl_xor_sync", mask, value, lane_mask, width);
}
inline unsigned __ballot_sync(unsigned mask, int predicate) {
  return static_cast<unsigned>(
      ::concise_emu::warp_exchange(::concise_emu::Op::Ballot, "__ballot_sync", mask, predicate != 0 ? 1 : 0, 0, 32));
}
inline int __any_sync(unsigned mask, int predicate) {
  return ::concise_emu::warp_exchange(::concise_emu::Op::Any, "__any_sync", mask, predicate != 0 ? 1 : 0, 0, 32);
}
inline int __all_sync(unsigned mask, int predicate) {
  return ::concise_emu::warp_exchange(::concise_emu::Op::All, "__all_sync", mask, predicate != 0 ? 1 : 0, 0, 32);
}

inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline unsigned __float_as_uint(float x) {
  unsigned bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}
inline float __uint_as_float(unsigned bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
inline int __float_as_int(float x) {
  int bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}
inline float __int_as_float(int bits) {
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __fdividef(float a, float b) { return a / b; }
template <class T>
T __ldg(const T* p) {
  return *p;
}
// Threads of a block take turns only at synchronisation points, so these are atomic.
template <class T>
T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicMax(T* p, T v) {
  const T old = *p;
  *p = old < v ? v : old;
  return old;
}
template <class T>
T atomicMin(T* p, T v) {
  const T old = *p;
  *p = v < old ? v : old;
  return old;
}
template <class T>
T atomicExch(T* p, T v) {
  const T old = *p;
  *p = v;
  return old;
}
// CUDA's device math, found unqualified.
using std::isfinite;
using std::isinf;
using std::isnan;
// CUDA's device min and max, found unqualified in device code.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
