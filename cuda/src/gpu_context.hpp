#pragma once
// What one decomposer owns on its GPU: streams, library handles and scratch
// memory. No globals: two decomposers on two GPUs share nothing.
#include "cuda_check.hpp"
#include "device_memory.hpp"

namespace concise::cuda {

// Makes `device` current for the scope and restores the previous one.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(cudaStream_t stream);
  void wait_on(cudaStream_t stream) const;  // stream waits for this event
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Host to device (pageable memory too), ordered on `stream` and complete on return:
// a plain cudaMemcpy runs on the legacy stream, which the non-blocking streams do not wait for.
template <class T>
void upload_now(T* device, const T* host, std::size_t count, const Stream& stream) {
  if (count == 0) return;
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(device, host, count * sizeof(T), cudaMemcpyHostToDevice, stream.get()));
  stream.synchronize();
}
// Device to host after everything queued on `stream`, complete on return.
template <class T>
void download_now(T* host, const T* device, std::size_t count, const Stream& stream) {
  if (count == 0) return;
  CONCISE_CUDA_CHECK(cudaMemcpyAsync(host, device, count * sizeof(T), cudaMemcpyDeviceToHost, stream.get()));
  stream.synchronize();
}

class BlasHandle {
 public:
  explicit BlasHandle(cudaStream_t stream);
  ~BlasHandle();
  BlasHandle(const BlasHandle&) = delete;
  BlasHandle& operator=(const BlasHandle&) = delete;
  cublasHandle_t get() const { return handle_; }

 private:
  cublasHandle_t handle_ = nullptr;
};

class SparseHandle {
 public:
  explicit SparseHandle(cudaStream_t stream);
  ~SparseHandle();
  SparseHandle(const SparseHandle&) = delete;
  SparseHandle& operator=(const SparseHandle&) = delete;
  cusparseHandle_t get() const { return handle_; }

 private:
  cusparseHandle_t handle_ = nullptr;
};

class SolverHandle {
 public:
  explicit SolverHandle(cudaStream_t stream);
  ~SolverHandle();
  SolverHandle(const SolverHandle&) = delete;
  SolverHandle& operator=(const SolverHandle&) = delete;
  cusolverDnHandle_t get() const { return handle_; }

 private:
  cusolverDnHandle_t handle_ = nullptr;
};

// Members are built in order, so the device is current before any handle exists.
struct GpuContext {
  explicit GpuContext(int device_index);

  struct Selected {
    explicit Selected(int device);
    int device;
  } selected;
  Stream compute;   // kernels and library calls
  Stream copy;      // host-to-device copies of the next batch
  BlasHandle blas;
  SparseHandle sparse;
  SolverHandle solver;
  DeviceBuffer<unsigned char> scratch;  // CUB temporary storage

  int device() const { return selected.device; }
  unsigned char* scratch_of(std::size_t bytes) {
    scratch.resize(bytes);
    return scratch.data();
  }
};

}  // namespace concise::cuda
