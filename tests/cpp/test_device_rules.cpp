// The GPU working set's per-row decisions (concise/cuda/ws_rules.hpp) run here on the
// CPU: the kernels call these same functions, so CI checks what the GPU decides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "concise/cuda/ws_rules.hpp"
#include "concise/solvers/decomposer.hpp"
#include "concise/solvers/duality_gap.hpp"
#include "problems.hpp"

namespace concise::cuda::ws {
namespace {

TEST(DeviceRules, OrderKeysSortLikeTheFloats) {
  std::vector<float> values{-FLT_MAX, -3.5f, -1e-30f, -0.0f, 0.0f, 1e-30f, 0.125f, 0.5f, 1.0f, 7.0f, FLT_MAX};
  std::mt19937 random(3);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (int i = 0; i < 200; ++i) values.push_back(normal(random));
  for (float a : values)
    for (float b : values) {
      if (a < b) {
        EXPECT_LT(order_key(a), order_key(b)) << a << " < " << b;
      }
      if (a > b) {
        EXPECT_GT(order_key(a), order_key(b)) << a << " > " << b;
      }
    }
}

TEST(DeviceRules, TiesRankByTheLowerIndex) {
  EXPECT_TRUE(ranks_before(0.3f, 9, 0.2f, 1));
  EXPECT_TRUE(ranks_before(0.3f, 1, 0.3f, 9));
  EXPECT_FALSE(ranks_before(0.3f, 9, 0.3f, 1));
  EXPECT_FALSE(ranks_before(0.3f, 4, 0.3f, 4));
}

TEST(DeviceRules, SetsGrowLikeTheCpuFastPathWithinTheirCapacity) {
  EXPECT_EQ(atoms_to_add(0, kInitialCapacity, true), kInitialAtoms);
  EXPECT_EQ(atoms_to_add(10, kInitialCapacity, false), kGrowth);
  EXPECT_EQ(atoms_to_add(100, 512, false), 100);  // the set doubles while violators remain
  EXPECT_EQ(atoms_to_add(100, kInitialCapacity, false), kInitialCapacity - 100);
  EXPECT_EQ(atoms_to_add(kInitialCapacity, kInitialCapacity, false), 0);
  EXPECT_EQ(next_capacity(kInitialCapacity), 2 * kInitialCapacity);
  EXPECT_EQ(next_capacity(kMaxCapacity), kMaxCapacity);
  EXPECT_EQ(candidate_threshold(0.25, true), rules::violation_threshold(0.25));
  EXPECT_EQ(candidate_threshold(0.25, false), rules::near_violation_threshold(0.25));
}

// Every row either progresses or stops: a row with violators and a full set asks for
// capacity until the largest, then stops; a row without violators tightens its
// tolerance a bounded number of times, then stops.
TEST(DeviceRules, EveryRowProgressesOrStops) {
  EXPECT_EQ(next_step(true, 5, kInitialCapacity, kFirstSweepTol), RowStep::Grow);
  EXPECT_EQ(next_step(true, 0, kInitialCapacity, kFirstSweepTol), RowStep::NeedCapacity);
  EXPECT_EQ(next_step(true, 0, kMaxCapacity, kFirstSweepTol), RowStep::StopFull);
  int capacity = kInitialCapacity, steps = 0;
  while (next_step(true, 0, capacity, kFirstSweepTol) == RowStep::NeedCapacity && steps < 64) {
    capacity = next_capacity(capacity);
    ++steps;
  }
  EXPECT_EQ(capacity, kMaxCapacity);
  EXPECT_LT(steps, 10);
  float tol = kFirstSweepTol;
  steps = 0;
  while (next_step(false, 0, kInitialCapacity, tol) == RowStep::Tighten && steps < 64) {
    tol = tighter_sweep_tol(tol);
    ++steps;
  }
  EXPECT_EQ(next_step(false, 0, kInitialCapacity, tol), RowStep::StopStalled);
  EXPECT_LE(steps, 3);
  EXPECT_TRUE(stops(RowStep::StopFull));
  EXPECT_TRUE(stops(RowStep::StopStalled));
  EXPECT_FALSE(stops(RowStep::Tighten));
}

TEST(DeviceRules, TheFinestSweepToleranceIsAboveFloatResolution) {
  EXPECT_GT(kFinestSweepTol, 8 * FLT_EPSILON);
  EXPECT_TRUE(sweep_settled(0.0f, 0.0f, kFinestSweepTol));  // all weights zero and still
  EXPECT_FALSE(sweep_settled(1e-3f, 1.0f, kFirstSweepTol));
  EXPECT_TRUE(sweep_settled(1e-5f, 1.0f, kFirstSweepTol));
}

// The warp's coordinate descent, run sequentially: it reaches the exact optimum of a
// small problem whose solution is known (one atom positive, one at zero).
TEST(DeviceRules, CoordinateStepsReachTheKnownOptimum) {
  // G = [[1, 0.5], [0.5, 1]], b = [0.8, 0.2], l1 = 0.2: w = (0.7, 0) since
  // (G w)_1 - b_1 + l1/2 = 0.7 - 0.8 + 0.1 = 0 and (G w)_2 - b_2 + l1/2 = 0.35 - 0.2 + 0.1 > 0.
  const float gram[2][2] = {{1.0f, 0.5f}, {0.5f, 1.0f}};
  const float b[2] = {0.8f, 0.2f};
  float w[2] = {0.0f, 0.5f};
  for (int sweep = 0; sweep < 100; ++sweep) {
    float largest_step = 0, largest_weight = 0;
    for (int j = 0; j < 2; ++j) {
      const float gw = gram[j][0] * w[0] + gram[j][1] * w[1];
      const float next = coordinate_step(w[j], gw, b[j], gram[j][j], 0.2f);
      largest_step = std::max(largest_step, std::abs(next - w[j]));
      w[j] = next;
      largest_weight = std::max(largest_weight, next);
    }
    if (sweep_settled(largest_step, largest_weight, kFinestSweepTol)) break;
  }
  EXPECT_NEAR(w[0], 0.7f, 1e-6f);
  EXPECT_EQ(w[1], 0.0f);
  EXPECT_EQ(coordinate_step(0.3f, 0.0f, 0.0f, 0.0f, 1.0f), 0.0f);  // a zero diagonal does not divide by zero
}

// The selection of select_atoms_kernel, run sequentially: the smallest key with at most
// `wanted` candidates above it, then the ties at that key in index order. It must
// equal a sort by ranks_before, duplicates (tied correlations) included.
std::vector<int> select_like_the_kernel(const std::vector<float>& g, float lowest, int wanted) {
  const auto count_above = [&](std::uint32_t t) {
    return static_cast<int>(std::count_if(g.begin(), g.end(), [&](float x) { return order_key(x) > t; }));
  };
  const std::uint32_t lowest_key = order_key(lowest);
  const int candidates = count_above(lowest_key);
  std::uint32_t t = lowest_key;
  if (candidates > wanted) {
    std::uint32_t lo = lowest_key, hi = order_key(*std::max_element(g.begin(), g.end()));
    while (hi - lo > 1) {
      const std::uint32_t mid = lo + (hi - lo) / 2;
      if (count_above(mid) <= wanted) hi = mid;
      else lo = mid;
    }
    t = hi;
  }
  const int sure = count_above(t);
  const int ties_wanted = candidates > wanted ? wanted - sure : 0;
  std::vector<int> chosen, ties;
  for (int k = 0; k < static_cast<int>(g.size()); ++k) {
    if (order_key(g[static_cast<std::size_t>(k)]) > t) chosen.push_back(k);
    else if (ties_wanted > 0 && order_key(g[static_cast<std::size_t>(k)]) == t &&
             static_cast<int>(ties.size()) < ties_wanted)
      ties.push_back(k);
  }
  chosen.insert(chosen.end(), ties.begin(), ties.end());
  return chosen;
}

std::vector<int> select_by_sorting(const std::vector<float>& g, float lowest, int wanted) {
  std::vector<int> candidates;
  for (int k = 0; k < static_cast<int>(g.size()); ++k)
    if (g[static_cast<std::size_t>(k)] > lowest) candidates.push_back(k);
  std::sort(candidates.begin(), candidates.end(), [&](int a, int b) {
    return ranks_before(g[static_cast<std::size_t>(a)], a, g[static_cast<std::size_t>(b)], b);
  });
  if (static_cast<int>(candidates.size()) > wanted) candidates.resize(static_cast<std::size_t>(wanted));
  return candidates;
}

TEST(DeviceRules, SelectionTakesTheBestRankedCandidatesTiesIncluded) {
  std::mt19937 random(11);
  std::uniform_real_distribution<float> uniform(-0.5f, 0.6f);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<float> g(3000);
    for (float& x : g) x = uniform(random);
    // Duplicate atoms: blocks of identical correlations, some right at the cut.
    for (int k = 0; k < 200; ++k) g[static_cast<std::size_t>(7 * k + trial)] = 0.55f;
    for (int k = 0; k < 5; ++k) g[static_cast<std::size_t>(100 + k)] = -FLT_MAX;  // members
    const float lowest = 0.125f * 0.95f;
    for (int wanted : {1, 7, 64, 150, 199, 201, 5000}) {
      std::vector<int> kernel = select_like_the_kernel(g, lowest, wanted);
      std::vector<int> sorted = select_by_sorting(g, lowest, wanted);
      std::sort(kernel.begin(), kernel.end());
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(kernel, sorted) << "trial " << trial << ", wanted " << wanted;
      EXPECT_EQ(static_cast<int>(kernel.size()), std::min<int>(wanted, static_cast<int>(sorted.size())));
    }
  }
}

// The GPU working set's pass loop for one row, sequentially, with the same rules and
// the same float32 arithmetic where the kernels use it: set_residuals (float64), the
// correlation pass, certify_rows, select_atoms (prune, then select_like_the_kernel),
// the capacity step, grow_gram and the warp's coordinate descent. A reference of the
// kernels' algorithm: if it did not certify, neither would the GPU.
struct EmulatedRow {
  std::vector<float> w;  // dense, c
  Certificate cert;
  bool at_limit = false;
  int passes = 0;
  int largest_set = 0;
};

float float_dot(const float* a, const float* b, std::int64_t d) {
  float s = 0.0f;
  for (std::int64_t i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

EmulatedRow emulate_gpu_row(MatrixView<const float> atoms, const float* z, double l1, double tol, int max_rounds) {
  const std::int64_t c = atoms.rows, d = atoms.cols;
  int capacity = kInitialCapacity;
  float sweep_tol = kFirstSweepTol;
  std::vector<int> set;
  std::vector<float> w, b, gram;  // gram: set.size() x set.size()
  EmulatedRow out;
  for (int pass = 0;; ++pass) {
    std::vector<double> r64(z, z + d);
    GapTerms t;
    for (std::size_t j = 0; j < set.size(); ++j)
      for (std::int64_t i = 0; i < d; ++i) r64[static_cast<std::size_t>(i)] -= static_cast<double>(w[j]) * atoms.row(set[j])[i];
    std::vector<float> r(static_cast<std::size_t>(d));
    for (std::int64_t i = 0; i < d; ++i) {
      const double ri = r64[static_cast<std::size_t>(i)];
      r[static_cast<std::size_t>(i)] = static_cast<float>(ri);
      t.rr += ri * ri;
      t.rz += ri * z[i];
    }
    for (float x : w) t.sum_w += x;
    std::vector<float> g(static_cast<std::size_t>(c));
    float largest = -FLT_MAX;
    for (std::int64_t k = 0; k < c; ++k) {
      g[static_cast<std::size_t>(k)] = float_dot(atoms.row(k), r.data(), d);
      largest = std::max(largest, g[static_cast<std::size_t>(k)]);
    }
    t.max_g = -DBL_MAX;
    for (std::int64_t k = 0; k < c; ++k) {
      if (g[static_cast<std::size_t>(k)] < largest - rules::certified_max_margin(largest)) continue;
      double s = 0;
      for (std::int64_t i = 0; i < d; ++i) s += static_cast<double>(atoms.row(k)[i]) * r[static_cast<std::size_t>(i)];
      t.max_g = std::max(t.max_g, s);
    }
    out.cert = rules::certify(t, l1);
    out.passes = pass;
    const auto finish = [&](bool at_limit) {
      out.w.assign(static_cast<std::size_t>(c), 0.0f);
      for (std::size_t j = 0; j < set.size(); ++j) out.w[static_cast<std::size_t>(set[j])] = w[j];
      out.at_limit = at_limit;
      return out;
    };
    if (out.cert.converged(tol)) return finish(false);
    if (pass >= max_rounds) return finish(true);
    // select_atoms: prune, then the candidates.
    std::vector<int> keep;
    for (std::size_t j = 0; j < set.size(); ++j)
      if (w[j] > 0.0f) keep.push_back(static_cast<int>(j));
    const std::size_t old_size = set.size();
    std::vector<float> pruned_gram(keep.size() * keep.size());
    for (std::size_t i = 0; i < keep.size(); ++i)
      for (std::size_t j = 0; j < keep.size(); ++j)
        pruned_gram[i * keep.size() + j] = gram[static_cast<std::size_t>(keep[i]) * old_size + static_cast<std::size_t>(keep[j])];
    std::vector<int> kept_set;
    std::vector<float> kept_w, kept_b;
    for (int j : keep) {
      kept_set.push_back(set[static_cast<std::size_t>(j)]);
      kept_w.push_back(w[static_cast<std::size_t>(j)]);
      kept_b.push_back(b[static_cast<std::size_t>(j)]);
    }
    set.swap(kept_set);
    w.swap(kept_w);
    b.swap(kept_b);
    gram.swap(pruned_gram);
    for (int a : set) g[static_cast<std::size_t>(a)] = -FLT_MAX;
    const float top = *std::max_element(g.begin(), g.end());
    const bool violated = top > static_cast<float>(rules::violation_threshold(l1));
    const auto lowest = static_cast<float>(candidate_threshold(l1, pass == 0));
    const auto size = static_cast<int>(set.size());
    int wanted = violated ? atoms_to_add(size, capacity, pass == 0) : 0;
    std::vector<int> chosen = wanted > 0 ? select_like_the_kernel(g, lowest, wanted) : std::vector<int>{};
    RowStep step = next_step(violated, static_cast<int>(chosen.size()), capacity, sweep_tol);
    if (step == RowStep::NeedCapacity) {
      capacity = next_capacity(capacity);
      wanted = atoms_to_add(size, capacity, false);
      chosen = select_like_the_kernel(g, lowest, wanted);
      step = RowStep::Grow;
    }
    if (step == RowStep::Tighten) sweep_tol = tighter_sweep_tol(sweep_tol);
    if (stops(step)) return finish(true);
    // grow_gram: the new atoms' correlations with z and their Gram rows.
    const std::size_t n = set.size() + chosen.size();
    std::vector<float> grown(n * n);
    for (std::size_t i = 0; i < set.size(); ++i)
      for (std::size_t j = 0; j < set.size(); ++j) grown[i * n + j] = gram[i * set.size() + j];
    for (int a : chosen) {
      set.push_back(a);
      w.push_back(0.0f);
      b.push_back(float_dot(atoms.row(a), z, d));
    }
    for (std::size_t p = old_size > 0 ? n - chosen.size() : 0; p < n; ++p)
      for (std::size_t q = 0; q <= p; ++q)
        grown[p * n + q] = grown[q * n + p] = float_dot(atoms.row(set[p]), atoms.row(set[q]), d);
    gram.swap(grown);
    out.largest_set = std::max(out.largest_set, static_cast<int>(n));
    // solve_sets: coordinate descent, G w afresh each sweep.
    for (int sweep = 0; sweep < max_sweeps(sweep_tol); ++sweep) {
      std::vector<float> grad(n, 0.0f);
      for (std::size_t j = 0; j < n; ++j)
        if (w[j] != 0.0f)
          for (std::size_t i = 0; i < n; ++i) grad[i] += gram[j * n + i] * w[j];
      float largest_step = 0.0f, largest_weight = 0.0f;
      for (std::size_t j = 0; j < n; ++j) {
        const float next = coordinate_step(w[j], grad[j], b[j], gram[j * n + j], static_cast<float>(l1));
        const float delta = next - w[j];
        if (delta != 0.0f)
          for (std::size_t i = 0; i < n; ++i) grad[i] += gram[j * n + i] * delta;
        w[j] = next;
        largest_step = std::max(largest_step, std::abs(delta));
        largest_weight = std::max(largest_weight, next);
      }
      if (sweep_settled(largest_step, largest_weight, sweep_tol)) break;
    }
  }
}

// The kernels' algorithm certifies the rows the CPU fast path certifies, at the same
// objective within the two gaps, and its gap is the float64 gap of its own weights.
TEST(DeviceRules, TheGpuPassLoopCertifiesLikeTheCpuFastPath) {
  const auto p = concise::testing::random_problem(1500, 96, 30, 21);
  for (double l1 : {0.2, 0.03}) {
    SCOPED_TRACE("l1 " + std::to_string(l1));
    SolveOptions options;  // tol 1e-4
    options.l1 = l1;
    SolveResult cpu;
    make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), cpu);
    for (std::int64_t row = 0; row < p.z.rows(); ++row) {
      SCOPED_TRACE("row " + std::to_string(row));
      const EmulatedRow gpu = emulate_gpu_row(p.dict.atoms.view(), p.z.row(row), l1, options.tol, options.max_rounds);
      EXPECT_FALSE(gpu.at_limit) << "gap " << gpu.cert.gap << " objective " << gpu.cert.objective << " after "
                                 << gpu.passes << " passes";
      const Certificate exact = certify_row(p.dict.atoms.view(), p.z.row(row), gpu.w.data(), l1);
      EXPECT_NEAR(gpu.cert.gap, exact.gap, 1e-5 * exact.objective);
      EXPECT_LE(exact.gap, options.tol * exact.objective * (1 + 1e-3));
      const auto i = static_cast<std::size_t>(row);
      EXPECT_LE(std::abs(exact.objective - static_cast<double>(cpu.objective[i])),
                std::max(exact.gap, static_cast<double>(cpu.gap[i])) * 1.01 + 1e-6 * exact.objective);
      EXPECT_LE(gpu.passes, 6);
    }
  }
}

// A row whose optimum holds more atoms than the first capacity takes a capacity step
// and still certifies. (At much smaller lambda, float32 coordinate descent on such a
// set stalls above tol 1e-4: the row then stops at limit with its honest gap.)
TEST(DeviceRules, ARowLargerThanOneCapacityStepCertifies) {
  auto p = concise::testing::random_problem(3000, 256, 1, 23);
  std::mt19937 random(2);
  std::uniform_int_distribution<std::int64_t> atom(0, p.dict.size() - 1);
  float* row = p.z.row(0);
  std::fill(row, row + p.z.cols(), 0.0f);
  for (int j = 0; j < 2 * kInitialCapacity; ++j) {
    const float* a = p.dict.atoms.row(atom(random));
    for (std::int64_t i = 0; i < p.z.cols(); ++i) row[i] += 0.5f * a[i];
  }
  float norm = 0;
  for (std::int64_t i = 0; i < p.z.cols(); ++i) norm += row[i] * row[i];
  for (std::int64_t i = 0; i < p.z.cols(); ++i) row[i] /= std::sqrt(norm);
  const double l1 = 0.01;
  const EmulatedRow gpu = emulate_gpu_row(p.dict.atoms.view(), row, l1, 1e-4, 40);
  EXPECT_GT(gpu.largest_set, kInitialCapacity);
  const Certificate exact = certify_row(p.dict.atoms.view(), row, gpu.w.data(), l1);
  EXPECT_NEAR(gpu.cert.gap, exact.gap, 1e-5 * exact.objective);
  EXPECT_FALSE(gpu.at_limit) << "gap " << exact.gap << " objective " << exact.objective << " after " << gpu.passes
                             << " passes";
}

// No c x c matrix: c = 200k at d = 768 leaves room for large batches on an 80 GB card.
TEST(DeviceRules, LargeDictionariesFitWithLargeBatches) {
  const double usable = 0.6 * 80e9;
  const double per_row = static_cast<double>(bytes_per_row(200000, 768, kInitialCapacity));
  EXPECT_GT(usable / per_row, 40000.0);
  const double per_row_small = static_cast<double>(bytes_per_row(10000, 512, kInitialCapacity));
  EXPECT_GT(usable / per_row_small, 65536.0);
}

}  // namespace
}  // namespace concise::cuda::ws
