// The CUDA runtime of the CPU emulator: device memory is host memory the emulator
// keeps a table of (0xff bytes when allocated, as uninitialised memory may be),
// streams and events are handles it checks, and every copy runs at once.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "cuda_runtime.h"

struct CUstream_st {
  int device = 0;
};
struct CUevent_st {
  int device = 0;
};

namespace concise_emu {
namespace {

struct Allocation {
  std::size_t bytes = 0;
  int device = 0;
};

struct Runtime {
  std::mutex mutex;
  using Allocations = std::map<const char*, Allocation, std::less<>>;  // by start address
  Allocations device;  // cudaMalloc
  Allocations pinned;  // cudaMallocHost (device -1)
  std::set<const CUstream_st*> streams;
  std::set<const CUevent_st*> events;
  std::map<int, std::size_t> used;  // per device
};

Runtime& runtime() {
  static Runtime r;
  return r;
}

thread_local cudaError_t last_error = cudaSuccess;
thread_local int thread_device = 0;  // the calling thread's current device

std::size_t env_size(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}
// CONCISE_EMU_DEVICE_BYTES: the memory of each emulated GPU (1 GiB unless set).
std::size_t capacity() { return env_size("CONCISE_EMU_DEVICE_BYTES", std::size_t{1} << 30); }
// CONCISE_EMU_DEVICES: how many GPUs there are (1 unless set).
int device_count() { return static_cast<int>(env_size("CONCISE_EMU_DEVICES", 1)); }

cudaError_t fail(cudaError_t status) {
  last_error = status;
  return status;
}

// The allocation of `in` holding [p, p + bytes), or nullptr.
const Allocation* holding(const Runtime::Allocations& in, const void* p, std::size_t bytes) {
  const char* q = static_cast<const char*>(p);
  auto it = in.upper_bound(q);
  if (it == in.begin()) return nullptr;
  --it;
  if (q + bytes > it->first + it->second.bytes) return nullptr;
  return &it->second;
}
const Allocation* find(const Runtime& r, const void* p, std::size_t bytes) { return holding(r.device, p, bytes); }
bool is_pinned_locked(const Runtime& r, const void* p) { return holding(r.pinned, p, 1) != nullptr; }

bool on_device(const void* p, std::size_t bytes) {
  Runtime& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  return find(r, p, bytes) != nullptr;
}

cudaError_t check_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  const bool dst_device = on_device(dst, bytes), src_device = on_device(src, bytes);
  bool ok = true;
  switch (kind) {
    case cudaMemcpyHostToDevice: ok = dst_device && !on_device(src, 1); break;
    case cudaMemcpyDeviceToHost: ok = src_device && !on_device(dst, 1); break;
    case cudaMemcpyDeviceToDevice: ok = dst_device && src_device; break;
    case cudaMemcpyHostToHost: ok = !on_device(dst, 1) && !on_device(src, 1); break;
    case cudaMemcpyDefault: ok = (dst_device || !on_device(dst, 1)) && (src_device || !on_device(src, 1)); break;
  }
  return ok ? cudaSuccess : fail(cudaErrorInvalidValue);
}

// Streams and events: handles on the creating thread's current device, known until destroyed.
template <class Handle>
cudaError_t create_handle(Handle** handle, std::set<const Handle*>& live) {
  *handle = new Handle{thread_device};
  Runtime& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  live.insert(*handle);
  return cudaSuccess;
}
template <class Handle>
cudaError_t destroy_handle(Handle* handle, std::set<const Handle*>& live) {
  Runtime& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  if (live.erase(handle) == 0) return fail(cudaErrorInvalidResourceHandle);
  delete handle;
  return cudaSuccess;
}

}  // namespace

bool is_device_range(const void* p, std::size_t bytes) { return on_device(p, bytes); }
bool is_live_stream(cudaStream_t stream) {
  Runtime& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  return r.streams.count(stream) > 0;
}
void record_error(cudaError_t status) { last_error = status; }
int current_device() { return thread_device; }
int stream_device(cudaStream_t stream) {
  if (stream == nullptr) return thread_device;
  Runtime& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  return r.streams.count(stream) > 0 ? stream->device : -1;
}
bool kernel_may_read(const void* p) {
  Runtime& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  const Allocation* a = find(r, p, 1);
  return (a != nullptr && a->device == thread_device) || is_pinned_locked(r, p);
}
int device_of(const void* p) {
  Runtime& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  const Allocation* a = find(r, p, 1);
  return a != nullptr ? a->device : -1;
}

}  // namespace concise_emu

using concise_emu::fail;
using concise_emu::runtime;

const char* cudaGetErrorName(cudaError_t status) { return cudaGetErrorString(status); }
const char* cudaGetErrorString(cudaError_t status) {
  switch (status) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    default: return "unknown error";
  }
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = concise_emu::last_error;
  concise_emu::last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return concise_emu::last_error; }
cudaError_t cudaGetDeviceCount(int* count) {
  *count = concise_emu::device_count();
  return *count > 0 ? cudaSuccess : fail(cudaErrorNoDevice);
}
cudaError_t cudaRuntimeGetVersion(int* version) {
  *version = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = concise_emu::thread_device;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= concise_emu::device_count()) return fail(cudaErrorInvalidDevice);
  concise_emu::thread_device = device;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* props, int device) {
  if (device < 0 || device >= concise_emu::device_count()) return fail(cudaErrorInvalidDevice);
  *props = cudaDeviceProp{};
  std::snprintf(props->name, sizeof props->name, "CPU emulator of an sm_90 GPU");
  props->totalGlobalMem = concise_emu::capacity();
  props->sharedMemPerBlock = 48 * 1024;
  props->sharedMemPerBlockOptin = 232448;
  props->maxThreadsPerBlock = 1024;
  props->maxGridSize[0] = 2147483647;
  props->maxGridSize[1] = props->maxGridSize[2] = 65535;
  props->multiProcessorCount = 132;
  props->major = 9;
  props->minor = 0;
  props->l2CacheSize = 50u << 20;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMalloc(void** p, std::size_t bytes) {
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  if (r.used[concise_emu::thread_device] + bytes > concise_emu::capacity()) return fail(cudaErrorMemoryAllocation);
  void* q = std::malloc(bytes);
  if (q == nullptr) return fail(cudaErrorMemoryAllocation);
  std::memset(q, 0xff, bytes);
  r.device[static_cast<const char*>(q)] = {bytes, concise_emu::thread_device};
  r.used[concise_emu::thread_device] += bytes;
  *p = q;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (p == nullptr) return cudaSuccess;
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  const auto it = r.device.find(static_cast<const char*>(p));
  if (it == r.device.end()) return fail(cudaErrorInvalidValue);
  r.used[it->second.device] -= it->second.bytes;
  std::memset(p, 0xff, it->second.bytes);  // a kernel still reading it after the free reads NaN
  r.device.erase(it);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** p, std::size_t bytes) {
  *p = std::malloc(bytes == 0 ? 1 : bytes);
  if (*p == nullptr) return fail(cudaErrorMemoryAllocation);
  std::memset(*p, 0xff, bytes == 0 ? 1 : bytes);
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  r.pinned[static_cast<const char*>(*p)] = {bytes == 0 ? 1 : bytes, -1};
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* p) {
  if (p == nullptr) return cudaSuccess;
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  if (r.pinned.erase(static_cast<const char*>(p)) == 0) return fail(cudaErrorInvalidValue);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  *total_bytes = concise_emu::capacity();
  *free_bytes = *total_bytes - r.used[concise_emu::thread_device];
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind, nullptr);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  if (stream != nullptr && !concise_emu::is_live_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  const cudaError_t status = concise_emu::check_copy(dst, src, bytes, kind);
  if (status != cudaSuccess) return status;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* p, int value, std::size_t bytes) { return cudaMemsetAsync(p, value, bytes, nullptr); }
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t stream) {
  if (stream != nullptr && !concise_emu::is_live_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (bytes == 0) return cudaSuccess;
  if (!concise_emu::on_device(p, bytes)) return fail(cudaErrorInvalidValue);
  std::memset(p, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset2DAsync(void* p, std::size_t pitch, int value, std::size_t width, std::size_t height,
                              cudaStream_t stream) {
  if (stream != nullptr && !concise_emu::is_live_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  if (width > pitch) return fail(cudaErrorInvalidValue);
  if (height == 0 || width == 0) return cudaSuccess;
  if (!concise_emu::on_device(p, pitch * (height - 1) + width)) return fail(cudaErrorInvalidValue);
  for (std::size_t row = 0; row < height; ++row) std::memset(static_cast<char*>(p) + row * pitch, value, width);
  return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* p) {
  *attributes = cudaPointerAttributes{};
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  if (const concise_emu::Allocation* a = concise_emu::find(r, p, 1)) {
    attributes->type = cudaMemoryTypeDevice;
    attributes->device = a->device;
    attributes->devicePointer = const_cast<void*>(p);
  } else if (concise_emu::is_pinned_locked(r, p)) {
    attributes->type = cudaMemoryTypeHost;
    attributes->hostPointer = const_cast<void*>(p);
  }
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  return concise_emu::create_handle(stream, runtime().streams);
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }
cudaError_t cudaStreamDestroy(cudaStream_t stream) { return concise_emu::destroy_handle(stream, runtime().streams); }
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (stream != nullptr && !concise_emu::is_live_stream(stream)) return fail(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  if ((stream != nullptr && r.streams.count(stream) == 0) || r.events.count(event) == 0)
    return fail(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  return concise_emu::create_handle(event, runtime().events);
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }
cudaError_t cudaEventDestroy(cudaEvent_t event) { return concise_emu::destroy_handle(event, runtime().events); }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  if (r.events.count(event) == 0 || (stream != nullptr && r.streams.count(stream) == 0))
    return fail(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  auto& r = runtime();
  const std::lock_guard<std::mutex> lock(r.mutex);
  return r.events.count(event) > 0 ? cudaSuccess : fail(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaFuncSetAttribute(const char* kernel, cudaFuncAttribute attribute, int value) {
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > 232448)
    return fail(cudaErrorInvalidValue);
  concise_emu::set_max_dynamic_shared(kernel, value);
  return cudaSuccess;
}
