// The GPU working set's per-row decisions (concise/cuda/ws_rules.hpp) run here on the
// CPU: the kernels call these same functions, so CI checks what the GPU decides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "concise/core/preprocess.hpp"
#include "concise/cuda/keep_flagged.hpp"
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
  double l1 = 0;  // the lambda of the certificate (target sparsity: the row's grid point)
  bool at_limit = false;
  int passes = 0;
  int largest_set = 0;
};

float float_dot(const float* a, const float* b, std::int64_t d) {
  float s = 0.0f;
  for (std::int64_t i = 0; i < d; ++i) s += a[i] * b[i];
  return s;
}

// TF32 as the tensor cores read a float32: 10 of its 23 mantissa bits, truncated
// (what the bound must survive) or rounded to nearest.
float to_tf32(float x, bool round) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  if (round) bits += 0x1000u;
  bits &= 0xffffe000u;
  float y = 0;
  std::memcpy(&y, &bits, sizeof y);
  return y;
}

// A TF32 dot product: products of TF32 inputs (exact in float32) summed in float32,
// in order or by blocks of 8 (as a tensor core's k-steps).
float tf32_dot(const float* a, const float* b, std::int64_t d, bool round, bool blocked) {
  float total = 0.0f;
  for (std::int64_t start = 0; start < d; start += blocked ? 8 : d) {
    float part = 0.0f;
    for (std::int64_t i = start; i < std::min(d, start + (blocked ? 8 : d)); ++i)
      part += to_tf32(a[i], round) * to_tf32(b[i], round);
    total += part;
  }
  return total;
}

double largest_norm(MatrixView<const float> atoms) {
  double largest = 0;
  for (std::int64_t k = 0; k < atoms.rows; ++k) largest = std::max(largest, dot(atoms.row(k), atoms.row(k), atoms.cols));
  return std::sqrt(largest) * (1 + 1e-6);
}

// refine_correlations_kernel, sequentially: the TF32 pass, then every atom at or above
// refine_floor recomputed in float64. `refined` counts them.
std::vector<float> tf32_pass(MatrixView<const float> atoms, const float* r, double rr, double lowest,
                             std::int64_t* refined = nullptr) {
  const std::int64_t c = atoms.rows, d = atoms.cols;
  std::vector<float> g(static_cast<std::size_t>(c));
  for (std::int64_t k = 0; k < c; ++k) g[static_cast<std::size_t>(k)] = tf32_dot(atoms.row(k), r, d, false, true);
  const float top = *std::max_element(g.begin(), g.end());
  const double floor = refine_floor(lowest, top, tf32_pass_bound(d, largest_norm(atoms), rr));
  std::int64_t count = 0;
  for (std::int64_t k = 0; k < c; ++k)
    if (static_cast<double>(g[static_cast<std::size_t>(k)]) >= floor) {
      g[static_cast<std::size_t>(k)] = static_cast<float>(dot(atoms.row(k), r, d));
      ++count;
    }
  if (refined != nullptr) *refined = count;
  return g;
}

// solve_sets' coordinate descent on one set (G w afresh each sweep).
void descend(std::vector<float>& w, const std::vector<float>& b, const std::vector<float>& gram, float l1,
             float sweep_tol) {
  const std::size_t n = w.size();
  for (int sweep = 0; sweep < max_sweeps(sweep_tol); ++sweep) {
    std::vector<float> grad(n, 0.0f);
    for (std::size_t j = 0; j < n; ++j)
      if (w[j] != 0.0f)
        for (std::size_t i = 0; i < n; ++i) grad[i] += gram[j * n + i] * w[j];
    float largest_step = 0.0f, largest_weight = 0.0f;
    for (std::size_t j = 0; j < n; ++j) {
      const float next = coordinate_step(w[j], grad[j], b[j], gram[j * n + j], l1);
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

// max_k (C z)_k in float64.
double max_of(MatrixView<const float> atoms, const float* z) {
  double largest = -DBL_MAX;
  for (std::int64_t k = 0; k < atoms.rows; ++k) largest = std::max(largest, dot(atoms.row(k), z, atoms.cols));
  return largest;
}

int support_of(const std::vector<float>& w) {
  return static_cast<int>(std::count_if(w.begin(), w.end(), [](float x) { return x > 0.0f; }));
}

// l0 > 0: target sparsity as CudaWorkingSet walks it (grid_decision, the kernels' walk
// in solve_sets), with l1 unused; `ratio` is the grid's.
EmulatedRow emulate_gpu_row(MatrixView<const float> atoms, const float* z, double l1, double tol, int max_rounds,
                            bool tf32 = false, int l0 = 0, double ratio = 0.9) {
  const std::int64_t c = atoms.rows, d = atoms.cols;
  const bool target = l0 > 0;
  int capacity = initial_capacity(l0);
  float sweep_tol = kFirstSweepTol;
  std::vector<int> set;
  std::vector<float> w, b, gram;  // gram: set.size() x set.size()
  EmulatedRow out;
  // Target sparsity's walk: max_k (C z)_k, ||z||^2, grid points, and the best point's code.
  double max_correlation = 0, zz = 0, row_l1 = target ? 0.0 : l1;
  int grid = 0, best_grid = 0, rounds = 0, passes = 0, beyond = std::numeric_limits<int>::max();
  Certificate best_cert;
  std::vector<float> best_w(static_cast<std::size_t>(c), 0.0f);
  const auto dense = [&] {
    std::vector<float> all(static_cast<std::size_t>(c), 0.0f);
    for (std::size_t j = 0; j < set.size(); ++j) all[static_cast<std::size_t>(set[j])] = w[j];
    return all;
  };
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
    if (tf32)
      g = tf32_pass(atoms, r.data(), t.rr, candidates_above(row_l1, l0, pass == 0));
    else
      for (std::int64_t k = 0; k < c; ++k) g[static_cast<std::size_t>(k)] = float_dot(atoms.row(k), r.data(), d);
    const float largest = *std::max_element(g.begin(), g.end());
    t.max_g = -DBL_MAX;
    for (std::int64_t k = 0; k < c; ++k) {
      if (g[static_cast<std::size_t>(k)] < largest - rules::certified_max_margin(largest)) continue;
      double s = 0;
      for (std::int64_t i = 0; i < d; ++i) s += static_cast<double>(atoms.row(k)[i]) * r[static_cast<std::size_t>(i)];
      t.max_g = std::max(t.max_g, s);
    }
    out.cert = rules::certify(t, row_l1);
    out.passes = pass;
    const bool converged = out.cert.converged(tol);
    const auto finish = [&](bool at_limit) {
      out.w = dense();
      out.l1 = row_l1;
      out.at_limit = at_limit;
      return out;
    };
    const auto finish_best = [&](bool at_limit) {
      out.w = best_w;
      out.l1 = rules::grid_lambda(max_correlation, ratio, best_grid);
      out.cert = best_grid > 0 ? best_cert : rules::certify(GapTerms{zz, zz, 0.0, max_correlation}, out.l1);
      out.at_limit = at_limit;
      return out;
    };
    bool selects = true;
    if (!target) {
      if (converged) return finish(false);
      if (pass >= max_rounds) return finish(true);
    } else if (pass == 0) {
      zz = out.cert.objective;
      max_correlation = t.max_g;
      if (converged) return finish(false);
      grid = 1;
    } else {
      ++rounds;
      ++passes;
      if (rounds >= max_rounds || passes >= rules::kGridPassesPerRound * max_rounds) return finish_best(true);
      if (converged) {
        const bool within = support_of(w) <= l0;
        const bool last_point = rules::grid_ends_before(max_correlation, ratio, grid + 1);
        switch (rules::after_certified_grid_point(within, last_point, grid, best_grid)) {
          case rules::GridStep::Next:
            best_grid = grid++;
            best_cert = out.cert;
            best_w = dense();
            break;
          case rules::GridStep::Back:
            beyond = grid;
            grid = rules::grid_back(grid, best_grid);
            break;
          case rules::GridStep::FinishBest:
            return finish_best(false);
          case rules::GridStep::GridEnd:
            return finish(true);
        }
        rounds = 0;
        sweep_tol = kFirstSweepTol;
        selects = false;
      }
    }
    std::vector<int> chosen;
    const std::size_t old_size = set.size();
    if (selects) {
      // select_atoms: prune, then the candidates.
      std::vector<int> keep;
      for (std::size_t j = 0; j < set.size(); ++j)
        if (w[j] > 0.0f) keep.push_back(static_cast<int>(j));
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
      const bool violated = top > static_cast<float>(rules::violation_threshold(row_l1));
      const auto lowest = static_cast<float>(candidates_above(row_l1, l0, pass == 0));
      const auto size = static_cast<int>(set.size());
      const auto near_threshold = static_cast<float>(rules::near_violation_threshold(row_l1));
      const auto near = static_cast<int>(std::count_if(g.begin(), g.end(), [&](float x) { return x > near_threshold; }));
      const auto wanted_at = [&](int cap, bool first) {
        if (target) return top > 0.0f ? target_atoms_to_add(size, cap, first, violated, l0, near) : 0;
        return violated ? atoms_to_add(size, cap, first) : 0;
      };
      int wanted = wanted_at(capacity, pass == 0);
      chosen = wanted > 0 ? select_like_the_kernel(g, lowest, wanted) : std::vector<int>{};
      RowStep step = next_step(violated, static_cast<int>(chosen.size()), capacity, sweep_tol);
      if (step == RowStep::NeedCapacity) {
        capacity = next_capacity(capacity);
        wanted = wanted_at(capacity, false);
        chosen = select_like_the_kernel(g, lowest, wanted);
        step = RowStep::Grow;
      }
      if (step == RowStep::Tighten) sweep_tol = tighter_sweep_tol(sweep_tol);
      if (stops(step)) return target ? finish_best(true) : finish(true);
    }
    // grow_gram: the new atoms' correlations with z and their Gram rows.
    const std::size_t kept = set.size(), n = kept + chosen.size();
    std::vector<float> grown(n * n);
    for (std::size_t i = 0; i < kept; ++i)
      for (std::size_t j = 0; j < kept; ++j) grown[i * n + j] = gram[i * kept + j];
    for (int a : chosen) {
      set.push_back(a);
      w.push_back(0.0f);
      b.push_back(float_dot(atoms.row(a), z, d));
    }
    for (std::size_t p = kept; p < n; ++p)
      for (std::size_t q = 0; q <= p; ++q)
        grown[p * n + q] = grown[q * n + p] = float_dot(atoms.row(set[p]), atoms.row(set[q]), d);
    gram.swap(grown);
    out.largest_set = std::max(out.largest_set, static_cast<int>(n));
    // solve_sets, and target sparsity's walk down the grid inside the set.
    if (target) row_l1 = rules::grid_lambda(max_correlation, ratio, grid);
    descend(w, b, gram, static_cast<float>(row_l1), sweep_tol);
    if (target && support_of(w) <= l0) {
      const double start = row_l1;
      while (rules::walk_goes_on(max_correlation, ratio, grid, start, beyond)) {
        std::vector<float> next = w;
        descend(next, b, gram, static_cast<float>(rules::grid_lambda(max_correlation, ratio, grid + 1)), sweep_tol);
        const int support = support_of(next);
        if (support > l0 || support >= static_cast<int>(n)) break;
        w.swap(next);
        ++grid;
      }
      row_l1 = rules::grid_lambda(max_correlation, ratio, grid);
    }
  }
}

// The kernels' algorithm certifies the rows the CPU fast path certifies, at the same
// objective within the two gaps, and its gap is the float64 gap of its own weights.
TEST(DeviceRules, TheGpuPassLoopCertifiesLikeTheCpuFastPath) {
  const auto p = concise::testing::random_problem(1500, 96, 30, 21);
  for (const auto& [l1, tf32] : {std::pair{0.2, false}, std::pair{0.03, false}, std::pair{0.2, true}, std::pair{0.03, true}}) {
    SCOPED_TRACE("l1 " + std::to_string(l1) + (tf32 ? ", TF32 pass" : ", FP32 pass"));
    SolveOptions options;  // tol 1e-4
    options.l1 = l1;
    SolveResult cpu;
    make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), cpu);
    for (std::int64_t row = 0; row < p.z.rows(); ++row) {
      SCOPED_TRACE("row " + std::to_string(row));
      const EmulatedRow gpu =
          emulate_gpu_row(p.dict.atoms.view(), p.z.row(row), l1, options.tol, options.max_rounds, tf32);
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

// Target sparsity: the kernels' walk and the host's grid decisions end where the CPU
// fast path ends, at its grid lambda, for most rows, and every row at a grid lambda
// with at most K atoms, a float64 gap certified there, and more than K atoms at the
// next grid point. (Supports need not grow monotonically as lambda falls, so a row can
// have more than one such point.) The CPU rows end within the round budget too.
TEST(DeviceRules, TheGpuGridWalkEndsOnTheCpusLambda) {
  const auto p = concise::testing::random_problem(1500, 96, 30, 21);
  for (const int k : {5, 15}) {
    SCOPED_TRACE("l0 " + std::to_string(k));
    SolveOptions options;
    options.l0 = k;
    SolveResult cpu;
    make_cpu_decomposer(p.dict.atoms.view(), options)->solve(p.z.view(), cpu);
    std::int64_t same_point = 0;
    for (std::int64_t row = 0; row < p.z.rows(); ++row) {
      SCOPED_TRACE("row " + std::to_string(row));
      const EmulatedRow gpu = emulate_gpu_row(p.dict.atoms.view(), p.z.row(row), 0.0, options.tol, options.max_rounds,
                                              false, k, options.l0_ratio);
      EXPECT_FALSE(gpu.at_limit) << "after " << gpu.passes << " passes";
      EXPECT_LE(support_of(gpu.w), k);
      EXPECT_GT(support_of(gpu.w), 0);
      const Certificate exact = certify_row(p.dict.atoms.view(), p.z.row(row), gpu.w.data(), gpu.l1);
      EXPECT_NEAR(gpu.cert.gap, exact.gap, 1e-5 * exact.objective);
      EXPECT_LE(exact.gap, options.tol * exact.objective * (1 + 1e-3));
      EXPECT_EQ(cpu.at_limit[static_cast<std::size_t>(row)], 0);
      const double steps = std::log(gpu.l1 / cpu.l1[static_cast<std::size_t>(row)]) / std::log(options.l0_ratio);
      const double grid = std::log(gpu.l1 / rules::lambda_max(max_of(p.dict.atoms.view(), p.z.row(row)))) /
                          std::log(options.l0_ratio);
      EXPECT_NEAR(grid, std::round(grid), 1e-6) << "lambda " << gpu.l1 << " is no grid point";
      same_point += std::abs(steps) < 0.01 ? 1 : 0;
      if (std::abs(steps) >= 0.01) {  // another crossing of K: the next point must hold more than K atoms
        SolveOptions next;
        next.solver = SolverKind::WorkingSet;
        next.l1 = gpu.l1 * options.l0_ratio;
        SolveResult denser;
        make_cpu_decomposer(p.dict.atoms.view(), next)->solve({p.z.row(row), 1, p.z.cols()}, denser);
        EXPECT_GT(denser.codes.indptr[1], k) << "GPU lambda " << gpu.l1 << ", CPU " << cpu.l1[static_cast<std::size_t>(row)];
      }
    }
    EXPECT_GE(same_point, p.z.rows() * 9 / 10);
  }
}

TEST(DeviceRules, TargetSparsityKeepsTwiceKAtomsInItsSets) {
  EXPECT_EQ(target_atoms_to_add(0, 128, true, true, 5, 0), kInitialAtoms);
  EXPECT_EQ(target_atoms_to_add(0, 256, true, true, 50, 0), 100);
  EXPECT_EQ(target_atoms_to_add(30, 256, false, false, 50, 0), 70);     // no violator: topped up to 2K
  EXPECT_EQ(target_atoms_to_add(120, 256, false, true, 50, 500), 120);  // violators: the set doubles
  EXPECT_EQ(target_atoms_to_add(120, 256, false, true, 50, 3), 3);      // by the near violators, as the CPU
  EXPECT_EQ(target_atoms_to_add(30, 256, false, true, 50, 3), 70);      // and tops up to 2K
  EXPECT_EQ(target_atoms_to_add(120, 128, false, true, 50, 500), 8);    // as far as the capacity has room
  EXPECT_EQ(target_atoms_to_add(120, 256, false, false, 50, 0), 0);     // no violator, more than 2K: nothing
  EXPECT_EQ(initial_capacity(0), kInitialCapacity);
  EXPECT_EQ(initial_capacity(32), kInitialCapacity);  // 2 x 32 atoms and a growth step fit 128
  EXPECT_EQ(initial_capacity(40), 2 * kInitialCapacity);
  EXPECT_EQ(initial_capacity(100), 512);
  EXPECT_GE(initial_capacity(kMaxTargetAtoms), 2 * kMaxTargetAtoms + kGrowth);
  EXPECT_LE(initial_capacity(kMaxTargetAtoms), kMaxCapacity);
  EXPECT_EQ(candidates_above(0.25, 5, false), 0.0);
  EXPECT_EQ(candidates_above(0.25, 0, false), candidate_threshold(0.25, false));
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

// The TF32 bound holds for truncated and rounded inputs, summed in order or by blocks,
// and is nearly reached: inputs that lose almost 2^-10 each, all of one sign.
TEST(DeviceRules, TheTf32BoundHoldsAndIsTight) {
  std::mt19937 random(5);
  std::normal_distribution<float> normal;
  for (std::int64_t d : {64, 512, 768}) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<float> a(static_cast<std::size_t>(d)), b(a.size());
      for (float& x : a) x = normal(random);
      for (float& x : b) x = trial % 2 ? std::abs(normal(random)) : normal(random);
      const double norms = std::sqrt(dot(a.data(), a.data(), d) * dot(b.data(), b.data(), d));
      for (const bool round : {false, true})
        for (const bool blocked : {false, true})
          EXPECT_LE(std::abs(tf32_dot(a.data(), b.data(), d, round, blocked) - dot(a.data(), b.data(), d)),
                    rules::tf32_dot_error(d) * norms);
    }
    const float x = 1.0f + 0x1p-10f - 0x1p-23f;  // truncates to 1: relative error just below 2^-10
    std::vector<float> a(static_cast<std::size_t>(d), x);
    const double error = dot(a.data(), a.data(), d) - tf32_dot(a.data(), a.data(), d, false, true);
    const double bound = rules::tf32_dot_error(d) * dot(a.data(), a.data(), d);
    EXPECT_LE(error, bound);
    EXPECT_GT(error, 0.9 * bound) << "d " << d;
  }
}

// After the refinement every atom that may be a candidate or the maximum holds its
// exact value, so the kernel selects what it would from exact correlations, and the
// certificate's maximum is the exact one. Residuals at w = 0 (the first pass) and
// after a partial solve; lambdas from usual to small (half the atoms are candidates).
TEST(DeviceRules, TheRefinedTf32PassSelectsAndCertifiesAsExactCorrelations) {
  const auto p = concise::testing::random_problem(2000, 128, 40, 31);
  const MatrixView<const float> atoms = p.dict.atoms.view();
  const std::int64_t c = atoms.rows, d = atoms.cols;
  std::int64_t refined_total = 0, candidates_total = 0;
  for (std::int64_t row = 0; row < p.z.rows(); ++row) {
    std::vector<float> r(p.z.row(row), p.z.row(row) + d);
    if (row % 2) {  // a residual: part of the best-correlated atom taken out
      std::vector<double> g0(static_cast<std::size_t>(c));
      for (std::int64_t k = 0; k < c; ++k) g0[static_cast<std::size_t>(k)] = dot(atoms.row(k), r.data(), d);
      const auto best = std::max_element(g0.begin(), g0.end()) - g0.begin();
      for (std::int64_t i = 0; i < d; ++i) r[static_cast<std::size_t>(i)] -= 0.7f * static_cast<float>(g0[static_cast<std::size_t>(best)]) * atoms.row(best)[i];
    }
    const double rr = dot(r.data(), r.data(), d);
    std::vector<float> exact(static_cast<std::size_t>(c));
    for (std::int64_t k = 0; k < c; ++k) exact[static_cast<std::size_t>(k)] = static_cast<float>(dot(atoms.row(k), r.data(), d));
    for (const double l1 : {0.25, 0.1, 0.02}) {
      for (const bool first_pass : {true, false}) {
        SCOPED_TRACE("row " + std::to_string(row) + ", l1 " + std::to_string(l1) + (first_pass ? ", first pass" : ""));
        const double lowest = candidate_threshold(l1, first_pass);
        std::int64_t refined = 0;
        const std::vector<float> g = tf32_pass(atoms, r.data(), rr, lowest, &refined);
        const float top = *std::max_element(exact.begin(), exact.end());
        for (std::int64_t k = 0; k < c; ++k) {
          const auto i = static_cast<std::size_t>(k);
          if (exact[i] > static_cast<float>(lowest) || exact[i] >= top - rules::certified_max_margin(top))
            ASSERT_EQ(g[i], exact[i]) << "atom " << k << " was not refined";
          else
            ASSERT_LT(g[i], std::min(static_cast<float>(lowest), top - rules::certified_max_margin(top)))
                << "atom " << k;
        }
        const int wanted = 64;
        EXPECT_EQ(select_like_the_kernel(g, static_cast<float>(lowest), wanted),
                  select_like_the_kernel(exact, static_cast<float>(lowest), wanted));
        EXPECT_EQ(*std::max_element(g.begin(), g.end()), top);
        refined_total += refined;
        candidates_total += std::count_if(exact.begin(), exact.end(), [&](float x) { return x > static_cast<float>(lowest); });
      }
    }
  }
  // The refinement stays near the candidates: few atoms beyond them are recomputed.
  EXPECT_LT(refined_total, candidates_total + c * p.z.rows() * 6 / 10);
}

// An atom built to read low in TF32: where its products with r are positive both
// factors lose almost 2^-10, where they are negative neither loses anything. Exactly
// it is a candidate (above lowest); in TF32 it reads below lowest, half a bound off,
// so only the bound's margin brings it to the refinement.
TEST(DeviceRules, AnAtomThatReadsLowInTf32IsRefined) {
  constexpr std::int64_t d = 256, positive = 141;
  const float s = 1.0f / 16.0f, m = s * (1.0f + 0x1p-10f - 0x1p-23f);  // m truncates to s
  Matrix<float> atoms(2, d);
  std::vector<float> r(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < d; ++i) {
    const bool lossy = i < positive;
    r[static_cast<std::size_t>(i)] = lossy ? m : s;
    atoms.row(0)[i] = lossy ? m : -s;
    atoms.row(1)[i] = r[static_cast<std::size_t>(i)];  // the row's maximum, far above
  }
  const double exact = dot(atoms.row(0), r.data(), d), rr = dot(r.data(), r.data(), d);
  const double lowest = 0.102;
  const float unrefined = tf32_dot(atoms.row(0), r.data(), d, false, true);
  ASSERT_GT(exact, lowest);
  ASSERT_LT(unrefined, lowest);
  const std::vector<float> g = tf32_pass(atoms.view(), r.data(), rr, lowest);
  EXPECT_EQ(g[0], static_cast<float>(exact));
}

// The rows' host state (a target-sparsity row's best code among it) survives the
// dropping of finished rows, the rows that keep their place included.
TEST(DeviceRules, DroppingRowsKeepsTheStateOfTheOthers) {
  std::vector<std::vector<int>> codes{{1, 2}, {3}, {4, 5, 6}, {7}, {8, 9}};
  keep_flagged(codes, {1, 1, 0, 1, 0});
  EXPECT_EQ(codes, (std::vector<std::vector<int>>{{1, 2}, {3}, {7}}));
  keep_flagged(codes, {0, 0, 0});
  EXPECT_TRUE(codes.empty());
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
