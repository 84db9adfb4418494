// The CUDA CPU emulator's own tests: CUDA code, translated like the backend's, whose
// kernels must give a GPU's answers, and whose faults (what a GPU leaves undefined)
// must abort with the kernel named.
#include <cublas_v2.h>
#include <cub/block/block_reduce.cuh>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace {

constexpr int kThreads = 64;
using Reduce = cub::BlockReduce<float, kThreads>;

template <class T>
class Device {
 public:
  explicit Device(std::size_t n) : n_(n) { EXPECT_EQ(cudaMalloc(&p_, n * sizeof(T)), cudaSuccess); }
  ~Device() { cudaFree(p_); }
  T* get() { return p_; }
  std::vector<T> read() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaMemcpy(host.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }
  void write(const std::vector<T>& host) {
    EXPECT_EQ(cudaMemcpy(p_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }

 private:
  T* p_ = nullptr;
  std::size_t n_;
};

__global__ void warp_sums(const float* in, float* out) {
  const int lane = threadIdx.x % 32;
  float v = in[blockIdx.x * blockDim.x + threadIdx.x];
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const float total = __shfl_sync(0xffffffffu, v, 0);
  const unsigned odd = __ballot_sync(0xffffffffu, lane % 2);
  out[blockIdx.x * blockDim.x + threadIdx.x] = total + (odd == 0xaaaaaaaau ? 0.0f : 1000.0f);
}

__global__ void block_sum(const float* in, float* out) {
  __shared__ typename Reduce::TempStorage storage;
  __shared__ float total;
  const float v = Reduce(storage).Sum(in[threadIdx.x]);
  if (threadIdx.x == 0) total = v;
  __syncthreads();
  out[threadIdx.x] = total;
}

__global__ void reused_storage(const float* in, float* out) {
  __shared__ typename Reduce::TempStorage storage;
  const float a = Reduce(storage).Sum(in[threadIdx.x]);
  const float b = Reduce(storage).Sum(2 * in[threadIdx.x]);  // no __syncthreads between
  if (threadIdx.x == 0) out[0] = a + b;
}

// Exited lanes may stay in a mask (the vote counts them as 0), but not be read.
__global__ void shuffle_after_exit(float* out) {
  if (threadIdx.x >= 16) return;
  const unsigned live = __ballot_sync(0xffffffffu, 1);
  out[threadIdx.x] = __shfl_sync(0xffffffffu, static_cast<float>(live == 0xffffu), threadIdx.x + 16);
}

__global__ void vote_after_exit(float* out) {
  if (threadIdx.x >= 16) return;
  out[threadIdx.x] = static_cast<float>(__ballot_sync(0xffffffffu, 1) == 0xffffu);
}

// One lane shuffles with its warp while the rest of the block waits at a barrier.
__global__ void divergent_barrier(float* out) {
  float v = 1.0f;
  if (threadIdx.x == 32) v = __shfl_sync(0xffffffffu, v, 0);
  else __syncthreads();
  out[threadIdx.x] = v;
}

__global__ void read_shared(float* out) {
  __shared__ float never_written[kThreads];
  out[threadIdx.x] = never_written[threadIdx.x];
}

// Thread 0 publishes a value the others read with no barrier between: a race.
__global__ void racy(float* out) {
  __shared__ float value;
  if (threadIdx.x == 0) value = 7.0f;
  out[threadIdx.x] = value;
}

__global__ void nothing(float*) {}

__global__ void xor_in_halves(int* out) {
  out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, static_cast<int>(threadIdx.x), 16, 16);
}

TEST(CudaEmulator, ShufflesVotesAndBlockReductionsGiveTheGpusAnswers) {
  std::vector<float> in(2 * kThreads);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 7) + 0.5f;
  Device<float> d_in(in.size()), d_out(in.size());
  d_in.write(in);
  warp_sums<<<2, kThreads>>>(d_in.get(), d_out.get());
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> out = d_out.read();
  for (std::size_t i = 0; i < in.size(); ++i) {
    float expected = 0;
    for (std::size_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) expected += in[j];
    EXPECT_EQ(out[i], expected) << "thread " << i;
  }
  block_sum<<<1, kThreads>>>(d_in.get(), d_out.get());
  float total = 0;
  for (int i = 0; i < kThreads; ++i) total += in[static_cast<std::size_t>(i)];
  const std::vector<float> sums = d_out.read();
  for (int i = 0; i < kThreads; ++i) EXPECT_NEAR(sums[static_cast<std::size_t>(i)], total, 1e-4f) << "thread " << i;
}

TEST(CudaEmulator, ExitedLanesVoteZeroAndXorShufflesMayReadEarlierSegments) {
  Device<float> d_out(32);
  cudaMemset(d_out.get(), 0, 32 * sizeof(float));
  vote_after_exit<<<1, 32>>>(d_out.get());
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const std::vector<float> votes = d_out.read();
  for (int i = 0; i < 16; ++i) EXPECT_EQ(votes[static_cast<std::size_t>(i)], 1.0f) << "lane " << i;
  Device<int> lanes(32);
  xor_in_halves<<<1, 32>>>(lanes.get());
  const std::vector<int> got = lanes.read();
  // PTX's butterfly reads lane ^ 16 when it is not beyond the lane's segment of 16.
  EXPECT_EQ(got[16], 0) << "lane 16 reads lane 0, below its segment";
  EXPECT_EQ(got[0], 0) << "lane 0 keeps its own value: lane 16 is beyond its segment";
  EXPECT_EQ(got[20], 4);
  EXPECT_EQ(got[4], 4);
}

TEST(CudaEmulator, SharedAndDeviceMemoryStartAsNaN) {
  Device<float> d_out(kThreads);
  for (const float v : d_out.read()) EXPECT_TRUE(std::isnan(v));
  cudaMemset(d_out.get(), 0, kThreads * sizeof(float));
  read_shared<<<1, kThreads>>>(d_out.get());
  for (const float v : d_out.read()) EXPECT_TRUE(std::isnan(v));
}

TEST(CudaEmulator, TheReverseScheduleShowsARace) {
  Device<float> d_out(kThreads);
  racy<<<1, kThreads>>>(d_out.get());
  EXPECT_EQ(d_out.read()[kThreads - 1], 7.0f);  // thread 0 ran first
  setenv("CONCISE_EMU_SCHEDULE", "reverse", 1);
  racy<<<1, kThreads>>>(d_out.get());
  unsetenv("CONCISE_EMU_SCHEDULE");
  EXPECT_TRUE(std::isnan(d_out.read()[kThreads - 1])) << "the last thread read before thread 0 wrote";
}

TEST(CudaEmulatorDeathTest, WhatAGpuLeavesUndefinedAbortsNamingTheKernel) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Device<float> d_in(kThreads), d_out(kThreads);
  d_in.write(std::vector<float>(kThreads, 1.0f));
  EXPECT_DEATH(reused_storage<<<1, kThreads>>>(d_in.get(), d_out.get()),
               "kernel reused_storage, block \\(0,0,0\\): cub::BlockReduce::Sum reuses its TempStorage");
  EXPECT_DEATH(shuffle_after_exit<<<1, 32>>>(d_out.get()), "lane 0 reads lane 16, which has exited");
  EXPECT_DEATH(divergent_barrier<<<1, kThreads>>>(d_out.get()), "kernel divergent_barrier.*wait forever");
  std::vector<float> host(kThreads);
  EXPECT_DEATH(nothing<<<1, 32>>>(host.data()), "kernel nothing: argument 0 .* is not memory of the current GPU");
}

TEST(CudaEmulator, LaunchesAGpuRefusesReportAnError) {
  Device<float> d_out(1);
  nothing<<<0, 32>>>(d_out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  nothing<<<1, 2048>>>(d_out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  nothing<<<1, 32, 64 * 1024>>>(d_out.get());  // beyond 48 KiB without cudaFuncSetAttribute
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  ASSERT_EQ(cudaFuncSetAttribute(nothing, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024), cudaSuccess);
  nothing<<<1, 32, 64 * 1024>>>(d_out.get());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "reading the error clears it";
}

TEST(CudaEmulator, CublasChecksItsPointersAndCutsTf32Inputs) {
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const float x = 1.0f + 0x1p-12f;  // beyond TF32's 10 mantissa bits
  Device<float> a(1), b(1), c(1);
  a.write({x});
  b.write({1.0f});
  const float one = 1.0f, zero = 0.0f;
  ASSERT_EQ(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, a.get(), 1, b.get(), 1, &zero, c.get(), 1),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.read()[0], x);
  ASSERT_EQ(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, a.get(), CUDA_R_32F, 1, b.get(), CUDA_R_32F,
                         1, &zero, c.get(), CUDA_R_32F, 1, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(c.read()[0], 1.0f);
  float host = 0;
  EXPECT_NE(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, &one, &host, 1, b.get(), 1, &zero, c.get(), 1),
            CUBLAS_STATUS_SUCCESS)
      << "a host matrix is a fault on a GPU";
  EXPECT_EQ(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 1, &one, a.get(), 1, b.get(), 1, &zero, c.get(), 2),
            CUBLAS_STATUS_INVALID_VALUE)
      << "lda below m";
  cublasDestroy(handle);
}

TEST(CudaEmulator, CopiesCheckTheirKindAndRange) {
  Device<float> d(4);
  std::vector<float> host(8, 1.0f);
  EXPECT_EQ(cudaMemcpy(d.get(), host.data(), 8 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue)
      << "beyond the allocation";
  EXPECT_EQ(cudaMemcpy(host.data(), d.get(), 4 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue)
      << "the wrong direction";
  cudaGetLastError();
  void* huge = nullptr;
  EXPECT_EQ(cudaMalloc(&huge, std::size_t{1} << 40), cudaErrorMemoryAllocation);
  EXPECT_EQ(cudaGetLastError(), cudaErrorMemoryAllocation);
}

}  // namespace
