#pragma once
// RAII device and pinned host buffers. They grow and never shrink, so a decomposer
// that solves chunk after chunk allocates once.
#include <cstddef>
#include <utility>

#include "cuda_check.hpp"

namespace concise::cuda {

struct DeviceAllocator {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    CONCISE_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  static void release(void* p) noexcept { cudaFree(p); }
};

struct PinnedAllocator {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    CONCISE_CUDA_CHECK(cudaMallocHost(&p, bytes));
    return p;
  }
  static void release(void* p) noexcept { cudaFreeHost(p); }
};

template <class T, class Allocator>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) { resize(n); }
  ~Buffer() { release(); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      release();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }

  // Holds n elements afterwards; the contents are not kept when it grows.
  void resize(std::size_t n) {
    if (n > capacity_) {
      release();
      data_ = static_cast<T*>(Allocator::allocate(n * sizeof(T)));
      capacity_ = n;
    }
    size_ = n;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return size_ * sizeof(T); }
  void swap(Buffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

 private:
  void release() noexcept {
    if (data_) Allocator::release(data_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

template <class T>
using DeviceBuffer = Buffer<T, DeviceAllocator>;
template <class T>
using PinnedBuffer = Buffer<T, PinnedAllocator>;

}  // namespace concise::cuda
