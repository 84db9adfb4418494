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
