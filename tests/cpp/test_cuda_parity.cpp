// GPU against CPU on random and real data, by what the float64 certificates imply:
// every GPU objective and gap is the float64 one of its own codes and within the
// tolerance, the objectives differ by at most the larger gap, and a weight of either
// side is at most what the other side's dual point allows (expect_certified_parity).
// Skips where no GPU is usable.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "concise/cuda/cuda_backend.hpp"
#include "concise/cuda/ws_rules.hpp"
#include "concise/solvers/duality_gap.hpp"
#include "problems.hpp"

namespace concise {
namespace {

namespace fs = std::filesystem;

class CudaParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() > 0) return;
    // The GPU bundle sets CONCISE_REQUIRE_GPU: there, a skip would hide that nothing ran.
    if (std::getenv("CONCISE_REQUIRE_GPU") != nullptr) FAIL() << "CONCISE_REQUIRE_GPU is set but no GPU is usable";
    GTEST_SKIP() << "no GPU here: the CUDA backend is built but needs a GPU to run";
  }
};

SolveResult poisoned(std::int64_t n) {
  SolveResult r;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  r.gap.assign(static_cast<std::size_t>(n), nan);
  r.objective.assign(static_cast<std::size_t>(n), nan);
  r.iterations.assign(static_cast<std::size_t>(n), -1);
  r.codes.indptr.assign(3, 7);
  r.codes.indices.assign(5, -3);
  r.codes.data.assign(5, nan);
  return r;
}

Matrix<float> dense(const SparseRows& codes) {
  Matrix<float> w(codes.rows(), codes.cols, 0.0f);
  for (std::int64_t r = 0; r < codes.rows(); ++r)
    for (auto p = codes.indptr[static_cast<std::size_t>(r)]; p < codes.indptr[static_cast<std::size_t>(r) + 1]; ++p)
      w.row(r)[codes.indices[static_cast<std::size_t>(p)]] = codes.data[static_cast<std::size_t>(p)];
  return w;
}

// The mismatches of one check over one row, reported as one failure: how many, and
// the first five (a row of 10k atoms must not log 10k lines).
class Mismatches {
 public:
  template <class Describe>
  void add(Describe&& describe) {
    if (count_++ < kShown) {
      std::ostringstream line;
      describe(line);
      first_ += (first_.empty() ? "" : "; ") + line.str();
    }
  }
  std::int64_t count() const { return count_; }
  std::string first() const { return count_ > kShown ? first_ + "; ..." : first_; }

 private:
  static constexpr std::int64_t kShown = 5;
  std::int64_t count_ = 0;
  std::string first_;
};

// (C r)_k for every atom, in float64, for the dense row w.
std::vector<double> correlations64(const Dictionary& dict, const float* z, const float* w) {
  const std::int64_t c = dict.size(), d = dict.dim();
  std::vector<double> r(z, z + d);
  for (std::int64_t k = 0; k < c; ++k)
    if (w[k] != 0)
      for (std::int64_t i = 0; i < d; ++i) r[static_cast<std::size_t>(i)] -= static_cast<double>(w[k]) * dict.atoms.row(k)[i];
  std::vector<double> g(static_cast<std::size_t>(c));
  for (std::int64_t k = 0; k < c; ++k) {
    double s = 0;
    for (std::int64_t i = 0; i < d; ++i) s += static_cast<double>(dict.atoms.row(k)[i]) * r[static_cast<std::size_t>(i)];
    g[static_cast<std::size_t>(k)] = s;
  }
  return g;
}

// What the certificates imply, and no more. The GPU's objective and gap must be the
// float64 ones of its own codes (certify_row), and that gap within tol (every row, with
// every_row_converges; else every row not marked at the iteration limit): these are the
// checks a wrong GPU answer fails. Against the CPU: the objectives differ by at most
// the larger gap, and each side's weights are bounded by the other side's dual point.
// With r = z - C^T w, g = C r and the certificate's dual point u = s r,
//   F(w) - D(u) = ||r - u||^2 + sum_k w_k (lambda - 2 s g_k),
// every term >= 0, and D(u) = F - gap of the side that made u; so for the CPU's codes
// and the GPU's dual point, w_k <= (F_cpu - F_gpu + gap_gpu) / (lambda - 2 s_gpu g_k)
// wherever that denominator is positive (gap-safe screening is the case of a zero
// optimum), and the other way round. Both follow from the float64 certificates, so
// they fail only on an error in that arithmetic (beyond rounding); a support match or
// an objective tolerance tighter than the gaps is implied by no certificate and is not
// asserted. Mismatched weights are counted per row and reported in one failure.
void expect_certified_parity(const Dictionary& dict, const Matrix<float>& z, double l1, double tol,
                             const SolveResult& cpu, const SolveResult& gpu, bool every_row_converges = false) {
  ASSERT_EQ(gpu.codes.rows(), z.rows());
  ASSERT_EQ(gpu.codes.cols, dict.size());
  ASSERT_EQ(gpu.objective.size(), static_cast<std::size_t>(z.rows()));
  ASSERT_EQ(gpu.gap.size(), static_cast<std::size_t>(z.rows()));
  const Matrix<float> wc = dense(cpu.codes), wg = dense(gpu.codes);
  const std::int64_t c = dict.size();
  for (std::int64_t r = 0; r < z.rows(); ++r) {
    SCOPED_TRACE("row " + std::to_string(r));
    const auto i = static_cast<std::size_t>(r);
    const Certificate g64 = certify_row(dict.atoms.view(), z.row(r), wg.row(r), l1);
    const Certificate c64 = certify_row(dict.atoms.view(), z.row(r), wc.row(r), l1);
    EXPECT_NEAR(gpu.objective[i], g64.objective, 1e-5 * g64.objective);
    EXPECT_NEAR(gpu.gap[i], g64.gap, 1e-4 * g64.objective) << "the GPU's gap must be the float64 gap of its codes";
    const bool at_limit = !gpu.at_limit.empty() && gpu.at_limit[i];
    if (every_row_converges) {
      EXPECT_FALSE(at_limit) << "stopped at the iteration limit";
    }
    if (!at_limit || every_row_converges) {
      EXPECT_LE(g64.gap, tol * g64.objective * (1 + 1e-3));
    }
    EXPECT_LE(std::abs(g64.objective - c64.objective), std::max(g64.gap, c64.gap) * (1 + 1e-3) + 1e-6 * c64.objective);
    const std::vector<double> gg = correlations64(dict, z.row(r), wg.row(r));
    const std::vector<double> gc = correlations64(dict, z.row(r), wc.row(r));
    const double cpu_over_gpu_dual = c64.objective - (g64.objective - g64.gap);  // F(w_cpu) - D(u_gpu)
    const double gpu_over_cpu_dual = g64.objective - (c64.objective - c64.gap);  // F(w_gpu) - D(u_cpu)
    Mismatches weights;
    for (std::int64_t k = 0; k < c; ++k) {
      const auto kk = static_cast<std::size_t>(k);
      const double slack_gpu = l1 - 2 * g64.dual_scale * gg[kk], slack_cpu = l1 - 2 * c64.dual_scale * gc[kk];
      const double a = wc.row(r)[k], b = wg.row(r)[k];
      const auto rounding = [](double bound) { return 1e-9 + 1e-6 * std::abs(bound); };
      if (slack_gpu > 0 && a > cpu_over_gpu_dual / slack_gpu + rounding(cpu_over_gpu_dual / slack_gpu)) {
        weights.add([&](std::ostream& out) {
          out << "atom " << k << ": cpu " << a << " > " << cpu_over_gpu_dual / slack_gpu << " (GPU's dual point)";
        });
      }
      if (slack_cpu > 0 && b > gpu_over_cpu_dual / slack_cpu + rounding(gpu_over_cpu_dual / slack_cpu)) {
        weights.add([&](std::ostream& out) {
          out << "atom " << k << ": gpu " << b << " > " << gpu_over_cpu_dual / slack_cpu << " (CPU's dual point)";
        });
      }
    }
    EXPECT_EQ(weights.count(), 0) << "weights above what the other side's certificate allows: " << weights.first();
  }
}

// The TF32 pass's bound (rules::tf32_dot_error) on this GPU's tensor cores: the
// working set's correlation GEMM, called as it calls it, against float64, on random
// rows and on rows built so that every product loses about 2^-10 (entries that drop
// nearly 2^-11 when cut to TF32, truncated or rounded, products all positive): half
// the bound. The worst ratio to the bound is printed; above 1 the TF32 pass must stay
// off on this GPU.
TEST_F(CudaParity, Tf32CorrelationGemmStaysWithinItsBound) {
  const int c = 4096, d = 512, n = 256, built = 32;
  std::mt19937 random(8);
  std::normal_distribution<float> normal;
  std::vector<float> atoms(static_cast<std::size_t>(c) * d), rows(static_cast<std::size_t>(n) * d);
  for (float& x : atoms) x = normal(random);
  for (float& x : rows) x = normal(random);
  const float lossy = (1.0f + 0x1p-11f - 0x1p-23f) / 16.0f;  // 16 = sqrt(d): cut to TF32, it loses 2^-11
  for (int j = 0; j < built; ++j)
    for (int i = 0; i < d; ++i) {
      const float sign = normal(random) > 0 ? 1.0f : -1.0f;
      atoms[static_cast<std::size_t>(j) * d + i] = sign * lossy;
      rows[static_cast<std::size_t>(j) * d + i] = sign * lossy;
    }
  float *device_atoms = nullptr, *device_rows = nullptr, *device_g = nullptr;
  ASSERT_EQ(cudaMalloc(&device_atoms, atoms.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&device_rows, rows.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&device_g, static_cast<std::size_t>(c) * n * sizeof(float)), cudaSuccess);
  const auto free_all = [&] {
    cudaFree(device_atoms);
    cudaFree(device_rows);
    cudaFree(device_g);
  };
  cublasHandle_t handle = nullptr;
  ASSERT_EQ(cublasCreate(&handle), CUBLAS_STATUS_SUCCESS);
  const std::unique_ptr<cublasContext, cublasStatus_t (*)(cublasHandle_t)> owned(handle, cublasDestroy);
  ASSERT_EQ(cudaMemcpy(device_atoms, atoms.data(), atoms.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device_rows, rows.data(), rows.size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  const float one = 1.0f, zero = 0.0f;
  ASSERT_EQ(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, c, n, d, &one, device_atoms, CUDA_R_32F, d, device_rows,
                         CUDA_R_32F, d, &zero, device_g, CUDA_R_32F, c, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT),
            CUBLAS_STATUS_SUCCESS);
  std::vector<float> g(static_cast<std::size_t>(c) * n);
  ASSERT_EQ(cudaMemcpy(g.data(), device_g, g.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  free_all();
  double worst = 0, worst_built = 0;
  for (int j = 0; j < n; ++j) {
    const float* r = rows.data() + static_cast<std::size_t>(j) * d;
    const double r_norm = std::sqrt(dot(r, r, d));
    for (int k = 0; k < c; ++k) {
      const float* a = atoms.data() + static_cast<std::size_t>(k) * d;
      double exact = 0;
      for (int i = 0; i < d; ++i) exact += static_cast<double>(a[i]) * r[i];
      const double bound = rules::tf32_dot_error(d) * std::sqrt(dot(a, a, d)) * r_norm;
      const double ratio = std::abs(g[static_cast<std::size_t>(j) * c + k] - exact) / bound;
      worst = std::max(worst, ratio);
      if (j < built && k == j) worst_built = std::max(worst_built, ratio);
    }
  }
  std::printf("TF32 GEMM error / bound: worst %.3f, built rows %.3f (about 0.5 when the GEMM ran on TF32)\n", worst,
              worst_built);
  EXPECT_LE(worst, 1.0) << "the TF32 pass's bound does not hold on this GPU";
  EXPECT_GT(worst_built, 0.3) << "the GEMM did not run on TF32 (an FP32 GEMM is far inside the bound)";
}

// A GPU solver: FISTA, ADMM, or the working set with its FP32 or TF32 pass.
struct GpuSolver {
  SolverKind kind;
  bool tf32 = false;
  void apply(SolveOptions& options) const {
    options.solver = kind;
    options.gpu_tf32 = tf32;
  }
  std::string name() const { return to_string(kind) + (tf32 ? "_tf32" : ""); }
};
void PrintTo(const GpuSolver& solver, std::ostream* out) { *out << solver.name(); }

class GpuSolverParity : public CudaParity, public ::testing::WithParamInterface<GpuSolver> {};

TEST_P(GpuSolverParity, RandomProblemsMatchTheCpu) {
  for (unsigned seed : {1u, 2u}) {
    const auto p = testing::random_problem(2000, 128, 300, seed);
    SolveOptions options;
    options.l1 = 0.2;
    // FISTA and ADMM iterate on float32 GEMM gradients: their codes reach the optimal
    // objective to float precision, but their float64 gaps stall at 0.3e-5 to 3e-5 of
    // it on these rows (the dual point needs the residual more exactly), so 1e-5 is
    // asked of the working set only.
    options.tol = GetParam().kind == SolverKind::WorkingSet ? 1e-5 : 1e-4;
    SolveResult cpu;
    make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), cpu);
    GetParam().apply(options);
    SolveResult gpu = poisoned(p.z.rows());
    cuda::make_decomposer(p.dict.atoms.view(), options, 0)->solve(p.z.view(), gpu);
    expect_certified_parity(p.dict, p.z, options.l1, options.tol, cpu, gpu, true);
  }
}

TEST_F(CudaParity, DevicePointersGiveTheSameAnswer) {
  const auto p = testing::random_problem(1000, 64, 100, 3);
  SolveOptions options;
  auto decomposer = cuda::make_decomposer(p.dict.atoms.view(), options, 0);
  SolveResult from_host = poisoned(p.z.rows()), from_device = poisoned(p.z.rows());
  decomposer->solve(p.z.view(), from_host);
  float* on_device = nullptr;
  ASSERT_EQ(cudaMalloc(&on_device, p.z.values().size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(on_device, p.z.data(), p.z.values().size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // a pageable copy may return before it lands
  decomposer->solve(MatrixView<const float>{on_device, p.z.rows(), p.z.cols()}, from_device);
  cudaFree(on_device);
  EXPECT_EQ(from_device.codes.indptr, from_host.codes.indptr);
  EXPECT_EQ(from_device.codes.indices, from_host.codes.indices);
  EXPECT_EQ(from_device.codes.data, from_host.codes.data);
  EXPECT_EQ(from_device.gap, from_host.gap);
}

// The public CLIP data that ships: the LVIS dictionary and seven photos, centered.
fs::path real_data_dir() { return fs::path(CONCISE_DATA_DIR) / "clip-vit-b32"; }
struct RealPhotos {
  Dictionary dict;
  Matrix<float> z;
};
RealPhotos real_photos() {
  const fs::path dir = real_data_dir();
  std::vector<std::string> names;
  std::ifstream in(dir / "lvis_concepts.txt");
  for (std::string line; std::getline(in, line);) names.push_back(line);
  RealPhotos real{Dictionary::build(read_npy_matrix((dir / "lvis_concepts.npy").string()), names,
                                    read_npy_vector((dir / "image_mean.npy").string())),
                  read_npy_matrix((dir / "image_embeddings.npy").string())};
  center_embeddings(real.z.view(), real.dict.image_mean, [](std::int64_t r) { return std::to_string(r); });
  return real;
}

TEST_P(GpuSolverParity, RealLvisImagesMatchTheCpu) {
  if (!fs::exists(real_data_dir() / "lvis_concepts.npy")) GTEST_SKIP() << "public CLIP data not found at " << real_data_dir();
  const RealPhotos real = real_photos();
  const Dictionary& dict = real.dict;
  const Matrix<float>& z = real.z;
  SolveOptions options;
  SolveResult cpu;
  make_cpu_decomposer(dict.atoms.view(), options)->solve(z.view(), cpu);
  GetParam().apply(options);
  SolveResult gpu = poisoned(z.rows());
  cuda::make_decomposer(dict.atoms.view(), options, 0)->solve(z.view(), gpu);
  expect_certified_parity(dict, z, options.l1, options.tol, cpu, gpu, true);

  const Matrix<float> on_cpu = recompose(gpu.codes, dict.atoms.view(), dict.image_mean);
  const Matrix<float> on_gpu = cuda::open_session(dict.atoms.view(), dict.image_mean, 0)->recompose(gpu.codes, true);
  ASSERT_EQ(on_gpu.rows(), on_cpu.rows());
  ASSERT_EQ(on_gpu.cols(), on_cpu.cols());
  for (std::int64_t r = 0; r < on_cpu.rows(); ++r) {
    Mismatches entries;
    for (std::int64_t e = 0; e < on_cpu.cols(); ++e) {
      const float a = on_cpu.row(r)[e], b = on_gpu.row(r)[e];
      if (!(std::abs(a - b) <= 1e-5f)) entries.add([&](std::ostream& out) { out << "[" << e << "] cpu " << a << ", gpu " << b; });
    }
    EXPECT_EQ(entries.count(), 0) << "row " << r << ": recomposed entries more than 1e-5 apart: " << entries.first();
  }
}

// Many batches (staging, row dropping), c = 10k, and rows whose optimum holds more
// atoms than the first capacity of a set, so the capacity step runs.
TEST_F(CudaParity, WorkingSetOverManyBatchesLargeDictionaryAndLargeSets) {
  auto p = testing::random_problem(10000, 512, 96, 7);
  std::mt19937 random(5);
  std::uniform_int_distribution<std::int64_t> atom(0, p.dict.size() - 1);
  std::uniform_real_distribution<float> weight(0.2f, 1.0f);
  const int big_rows = 4, atoms_per_big_row = 3 * cuda::ws::kInitialCapacity / 2;
  for (int b = 0; b < big_rows; ++b) {
    float* row = p.z.row(b);
    std::fill(row, row + p.z.cols(), 0.0f);
    for (int j = 0; j < atoms_per_big_row; ++j) {
      const float* a = p.dict.atoms.row(atom(random));
      const float w = weight(random);
      for (std::int64_t i = 0; i < p.z.cols(); ++i) row[i] += w * a[i];
    }
    normalize(row, p.z.cols());
  }
  for (const auto& [l1, tf32] : {std::pair{0.2, false}, std::pair{0.01, false}, std::pair{0.2, true}, std::pair{0.01, true}}) {
    SCOPED_TRACE("l1 " + std::to_string(l1) + (tf32 ? ", TF32 pass" : ", FP32 pass"));
    SolveOptions options;
    options.l1 = l1;
    options.tol = 1e-4;
    SolveResult cpu;
    make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), cpu);
    options.solver = SolverKind::WorkingSet;
    options.gpu_tf32 = tf32;
    options.gpu_batch_rows = 16;
    SolveResult gpu = poisoned(p.z.rows()), again = poisoned(p.z.rows());
    auto decomposer = cuda::make_decomposer(p.dict.atoms.view(), options, 0);
    decomposer->solve(p.z.view(), gpu);
    expect_certified_parity(p.dict, p.z, l1, options.tol, cpu, gpu);
    decomposer->solve(p.z.view(), again);
    EXPECT_EQ(again.codes.indices, gpu.codes.indices) << "results must not depend on thread timing";
    EXPECT_EQ(again.codes.data, gpu.codes.data);
    EXPECT_EQ(again.gap, gpu.gap);
    if (l1 < 0.1) {
      std::int64_t largest = 0;
      for (int b = 0; b < big_rows; ++b) largest = std::max(largest, gpu.codes.indptr[b + 1] - gpu.codes.indptr[b]);
      EXPECT_GT(largest, cuda::ws::kInitialCapacity) << "no row needed a second capacity step";
    }
  }
}

// Duplicate atoms tie in every correlation: the set must still grow, and the answer
// must be certified.
TEST_F(CudaParity, WorkingSetGrowsThroughTiedCorrelations) {
  auto p = testing::random_problem(2000, 128, 64, 9);
  for (std::int64_t k = 1000; k < 2000; ++k)
    std::copy_n(p.dict.atoms.row(k - 1000), p.dict.dim(), p.dict.atoms.row(k));  // every atom twice
  SolveOptions options;
  options.l1 = 0.05;
  SolveResult cpu;
  make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), cpu);
  options.solver = SolverKind::WorkingSet;
  options.gpu_batch_rows = 32;
  SolveResult gpu = poisoned(p.z.rows());
  cuda::make_decomposer(p.dict.atoms.view(), options, 0)->solve(p.z.view(), gpu);
  expect_certified_parity(p.dict, p.z, options.l1, options.tol, cpu, gpu);
}

TEST_P(GpuSolverParity, SmallBatchesAndEveryGapCertifiedInFloat64) {
  const auto p = testing::random_problem(3000, 128, 200, 4);
  SolveOptions options;
  options.l1 = 0.1;
  SolveResult cpu;
  make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), cpu);
  GetParam().apply(options);
  options.gpu_batch_rows = 24;
  SolveResult gpu = poisoned(p.z.rows());
  cuda::make_decomposer(p.dict.atoms.view(), options, 0)->solve(p.z.view(), gpu);
  expect_certified_parity(p.dict, p.z, options.l1, options.tol, cpu, gpu);
}

// As on the CPU: a row is marked at limit exactly when it stopped short of the
// tolerance, and the results' per-row lambdas are the call's own (a result reused
// from an earlier call keeps nothing of it).
TEST_P(GpuSolverParity, RowsStoppedOnTheIterationLimitAreMarked) {
  const auto p = testing::random_problem(200, 48, 40, 11);
  SolveResult result = poisoned(p.z.rows());
  result.l1.assign(3, 9.0f);
  result.at_limit.assign(3, 7);
  for (const bool short_limit : {true, false}) {
    SCOPED_TRACE(short_limit ? "one iteration or round" : "enough iterations");
    SolveOptions options;
    GetParam().apply(options);
    options.l1 = 0.15;
    options.max_iterations = short_limit ? 1 : 20000;
    options.max_rounds = short_limit ? 1 : 40;
    options.gpu_batch_rows = 16;
    cuda::make_decomposer(p.dict.atoms.view(), options, 0)->solve(p.z.view(), result);
    ASSERT_EQ(result.at_limit.size(), static_cast<std::size_t>(p.z.rows()));
    ASSERT_EQ(result.l1.size(), static_cast<std::size_t>(p.z.rows()));
    const std::int64_t marked = testing::count_marked_at_limit(result, options.tol);
    for (std::size_t i = 0; i < result.l1.size(); ++i) EXPECT_EQ(result.l1[i], static_cast<float>(options.l1)) << "row " << i;
    if (short_limit) EXPECT_GT(marked, 0) << "one iteration should leave rows short of the tolerance";
    else EXPECT_EQ(marked, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(EverySolver, GpuSolverParity,
                         ::testing::Values(GpuSolver{SolverKind::Fista}, GpuSolver{SolverKind::Admm},
                                           GpuSolver{SolverKind::WorkingSet}, GpuSolver{SolverKind::WorkingSet, true}),
                         [](const ::testing::TestParamInfo<GpuSolver>& param) { return param.param.name(); });

// Target sparsity on the GPU walks the same lambda grid as the CPU: every row keeps at
// most K atoms, its objective and gap are those of its own code in float64 at its own
// lambda, most rows end on the CPU's grid point, and the next grid point, solved with
// a fixed lambda, holds more than K atoms; runs are identical. The TF32 pass refuses
// target sparsity.
void expect_target_sparsity_parity(const Dictionary& dict, const Matrix<float>& z) {
  for (const int k : {5, 20}) {
    {
      SCOPED_TRACE("l0 " + std::to_string(k));
      SolveOptions options;
      options.l0 = k;
      SolveResult cpu;
      make_cpu_decomposer(dict.atoms.view(), options)->solve(z.view(), cpu);
      options.gpu_batch_rows = 24;  // several batches: rows leave and are compacted mid-walk
      SolveResult gpu = poisoned(z.rows());
      auto decomposer = cuda::make_decomposer(dict.atoms.view(), options, 0);
      decomposer->solve(z.view(), gpu);
      ASSERT_EQ(gpu.codes.rows(), z.rows());
      ASSERT_EQ(gpu.l1.size(), static_cast<std::size_t>(z.rows()));
      const Matrix<float> wg = dense(gpu.codes);
      std::int64_t same_point = 0;
      for (std::int64_t r = 0; r < z.rows(); ++r) {
        SCOPED_TRACE("row " + std::to_string(r));
        const auto i = static_cast<std::size_t>(r);
        const std::int64_t atoms = gpu.codes.indptr[i + 1] - gpu.codes.indptr[i];
        EXPECT_LE(atoms, k);
        // w = 0 (at lambda_max) when the grid's first point already holds more than K
        // atoms: the CPU's answer too.
        if (atoms == 0) {
          EXPECT_EQ(cpu.codes.indptr[i + 1] - cpu.codes.indptr[i], 0) << "the CPU found a code";
        }
        const double l1 = gpu.l1[i];
        const Certificate at_lambda = certify_row(dict.atoms.view(), z.row(r), wg.row(r), l1);
        EXPECT_NEAR(gpu.objective[i], at_lambda.objective, 1e-5 * at_lambda.objective) << "the code is not the one certified";
        EXPECT_NEAR(gpu.gap[i], at_lambda.gap, 1e-4 * at_lambda.objective);
        if (!gpu.at_limit[i]) {
          EXPECT_LE(at_lambda.gap, options.tol * at_lambda.objective * (1 + 1e-3));
        }
        const double steps = std::log(l1 / cpu.l1[i]) / std::log(options.l0_ratio);
        same_point += std::abs(steps) < 0.01 ? 1 : 0;
        // Another crossing of K than the CPU's (supports need not grow monotonically),
        // or a sample of the rest: the next grid point holds more than K atoms.
        if (std::abs(steps) >= 0.01 || r % 8 == 0 || atoms == 0) {
          SolveOptions next;
          next.solver = SolverKind::WorkingSet;
          next.l1 = l1 * options.l0_ratio;
          SolveResult denser;
          make_cpu_decomposer(dict.atoms.view(), next)->solve({z.row(r), 1, z.cols()}, denser);
          EXPECT_GT(denser.codes.indptr[1], k) << "lambda " << l1 << " * " << options.l0_ratio;
        }
      }
      EXPECT_GE(same_point, z.rows() * 9 / 10) << "rows on the CPU's grid point";
      SolveResult again = poisoned(z.rows());
      decomposer->solve(z.view(), again);
      EXPECT_EQ(again.codes.indices, gpu.codes.indices) << "results must not depend on thread timing";
      EXPECT_EQ(again.l1, gpu.l1);
    }
  }
  SolveOptions tf32;
  tf32.l0 = 5;
  tf32.gpu_tf32 = true;
  try {
    cuda::make_decomposer(dict.atoms.view(), tf32, 0);
    ADD_FAILURE() << "the TF32 pass took target sparsity";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("target sparsity"), std::string::npos) << e.what();
  }
  SolveOptions too_many;
  too_many.l0 = cuda::ws::kMaxTargetAtoms + 1;
  try {
    cuda::make_decomposer(dict.atoms.view(), too_many, 0);
    ADD_FAILURE() << "l0 above the GPU's largest set was taken";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("at most " + std::to_string(cuda::ws::kMaxTargetAtoms)), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("--device cpu"), std::string::npos) << e.what();
  }
}

TEST_F(CudaParity, TargetSparsityWalksTheCpusLambdaGridOnRandomRows) {
  const auto p = testing::random_problem(3000, 128, 150, 12);
  expect_target_sparsity_parity(p.dict, p.z);
}

TEST_F(CudaParity, TargetSparsityWalksTheCpusLambdaGridOnRealPhotos) {
  if (!fs::exists(real_data_dir() / "lvis_concepts.npy")) GTEST_SKIP() << "public CLIP data not found at " << real_data_dir();
  const RealPhotos real = real_photos();
  const Dictionary& dict = real.dict;
  const Matrix<float>& z = real.z;
  expect_target_sparsity_parity(dict, z);
}

TEST_F(CudaParity, DeviceRowsArePreprocessedAndScoredOnTheGpuLikeOnTheHost) {
  const auto p = testing::random_problem(800, 64, 50, 5);
  std::vector<float> mu(64);
  for (std::size_t i = 0; i < mu.size(); ++i) mu[i] = 0.01f * static_cast<float>(i % 7);
  Dictionary dict = p.dict;
  dict.image_mean = mu;
  Matrix<float> raw = p.z;
  for (std::size_t e = 0; e < raw.values().size(); ++e) raw.values()[e] = 3.0f * raw.values()[e] + 0.5f;
  SolveOptions options;
  options.solver = SolverKind::Fista;
  auto decomposer = cuda::make_decomposer(dict.atoms.view(), options, 0);
  SolveResult host = poisoned(raw.rows());
  const RowNamer name = [](std::int64_t r) { return "row " + std::to_string(r); };
  Matrix<float> centered = raw;
  center_embeddings(centered.view(), mu, name);
  decomposer->solve(centered.view(), host);
  const Matrix<float> recomposed = recompose(host.codes, dict.atoms.view(), mu);

  float* on_device = nullptr;
  ASSERT_EQ(cudaMalloc(&on_device, raw.values().size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(on_device, raw.data(), raw.values().size() * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // a pageable copy may return before it lands
  SolveResult device = poisoned(raw.rows());
  std::vector<float> cosine(raw.values().size(), std::numeric_limits<float>::quiet_NaN());
  auto session = cuda::open_session(dict.atoms.view(), mu, 0);
  session->decompose_device_rows(*decomposer, {on_device, raw.rows(), raw.cols()}, true, name, device, cosine, 0);
  std::vector<float> after(raw.values().size());
  ASSERT_EQ(cudaMemcpy(after.data(), on_device, after.size() * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(after, raw.values()) << "the input rows must be left as they were";
  expect_certified_parity(dict, centered, options.l1, options.tol, host, device, true);
  ASSERT_EQ(cosine.size(), static_cast<std::size_t>(raw.rows()));
  for (std::int64_t r = 0; r < raw.rows(); ++r) {
    std::vector<float> x(raw.row(r), raw.row(r) + raw.cols());
    normalize(x.data(), raw.cols());
    EXPECT_NEAR(cosine[static_cast<std::size_t>(r)], dot(recomposed.row(r), x.data(), raw.cols()), 1e-4) << "row " << r;
  }

  ASSERT_EQ(cudaMemset(on_device + 7 * raw.cols(), 0, raw.cols() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);  // cudaMemset may return before the zeros land
  try {
    session->decompose_device_rows(*decomposer, {on_device, raw.rows(), raw.cols()}, true, name, device, cosine, 0);
    ADD_FAILURE() << "a zero row must be an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("row 7"), std::string::npos) << e.what();
  }
  cudaFree(on_device);
}

}  // namespace
}  // namespace concise
