// Two GPUs, on the emulator (CONCISE_EMU_DEVICES=2): a decomposer or a session on the
// second GPU gives the first one's answers, leaves the caller's current device as it
// was, and never launches a kernel or a cuBLAS call on the other GPU or its memory
// (the emulator refuses a launch on another device's stream and a cuBLAS call with
// another device's handle or matrices, which the backend reports as an error).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "concise/core/preprocess.hpp"
#include "concise/cuda/cuda_backend.hpp"
#include "problems.hpp"

namespace concise {
namespace {

int current_device() {
  int device = -1;
  EXPECT_EQ(cudaGetDevice(&device), cudaSuccess);
  return device;
}

TEST(EmulatedMultiGpu, TheSecondGpuGivesTheFirstsAnswersAndTheCallersDeviceStays) {
  ASSERT_EQ(cuda::device_count(), 2) << "run with CONCISE_EMU_DEVICES=2";
  const auto p = testing::random_problem(400, 64, 32, 3);
  for (const SolverKind kind : {SolverKind::WorkingSet, SolverKind::Fista, SolverKind::Admm}) {
    SCOPED_TRACE(to_string(kind));
    SolveOptions options;
    options.solver = kind;
    options.gpu_batch_rows = 16;  // several batches: the stager thread sets its own device
    ASSERT_EQ(cudaSetDevice(1), cudaSuccess);  // the caller works on GPU 1 (torch's, say)
    auto first = cuda::make_decomposer(p.dict.atoms.view(), options, 0);
    EXPECT_EQ(current_device(), 1) << "the factory gives the caller its device back";
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
    auto second = cuda::make_decomposer(p.dict.atoms.view(), options, 1);
    EXPECT_EQ(current_device(), 0);
    SolveResult on_first, on_second;
    first->solve(p.z.view(), on_first);
    ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
    second->solve(p.z.view(), on_second);  // current device already its own
    EXPECT_EQ(current_device(), 1);
    ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
    second->solve(p.z.view(), on_second);
    EXPECT_EQ(current_device(), 0) << "solve gives the caller its device back";
    EXPECT_EQ(on_second.codes.indptr, on_first.codes.indptr);
    EXPECT_EQ(on_second.codes.indices, on_first.codes.indices);
    EXPECT_EQ(on_second.codes.data, on_first.codes.data);
    EXPECT_EQ(on_second.gap, on_first.gap);
  }
}

TEST(EmulatedMultiGpu, ASessionOnTheSecondGpuRecomposesAndDecomposesItsOwnRows) {
  ASSERT_EQ(cuda::device_count(), 2) << "run with CONCISE_EMU_DEVICES=2";
  const auto p = testing::random_problem(400, 32, 20, 5);
  SolveOptions options;
  options.solver = SolverKind::WorkingSet;
  auto decomposer = cuda::make_decomposer(p.dict.atoms.view(), options, 1);
  auto session = cuda::open_session(p.dict.atoms.view(), {}, 1);
  EXPECT_EQ(current_device(), 0);
  SolveResult host_result;
  decomposer->solve(p.z.view(), host_result);
  const Matrix<float> recomposed = session->recompose(host_result.codes, false);
  EXPECT_EQ(recomposed.rows(), p.z.rows());
  EXPECT_EQ(current_device(), 0);

  ASSERT_EQ(cudaSetDevice(1), cudaSuccess);
  float* rows = nullptr;
  ASSERT_EQ(cudaMalloc(&rows, p.z.values().size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(rows, p.z.data(), p.z.values().size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  SolveResult device_result;
  std::vector<float> cosine;
  session->decompose_device_rows(*decomposer, {rows, p.z.rows(), p.z.cols()}, false,
                                 [](std::int64_t r) { return "row " + std::to_string(r); }, device_result, cosine, 0);
  EXPECT_EQ(current_device(), 0);
  EXPECT_EQ(device_result.codes.indices, host_result.codes.indices);
  ASSERT_EQ(cosine.size(), static_cast<std::size_t>(p.z.rows()));
  for (const float c : cosine) EXPECT_GT(c, 0.5f);
  cudaFree(rows);
}

}  // namespace
}  // namespace concise
