#pragma once
// The rules every backend applies, in one place: the duality-gap certificate of
// docs/DESIGN.md §1, the stopping test, gap-safe screening, the working set's violation
// thresholds, the rounding margin of the certified maximum, and the lambda grid
// of target-sparsity solves. Plain functions that compile for the host and, under
// nvcc, for the device, so the CPU and CUDA solvers decide alike.
#include <cstdint>

#include "concise/solvers/host_device.hpp"

namespace concise {

struct GapTerms {
  double rr = 0;     // ||r||^2
  double rz = 0;     // <r, z>
  double sum_w = 0;  // sum(w)
  double max_g = 0;  // max_k (C r)_k
};

struct Certificate {
  double objective = 0;  // F(w)
  double gap = 0;        // an upper bound of F(w) - F*
  double dual_scale = 1; // s
  CONCISE_HOST_DEVICE bool converged(double tol) const { return gap <= tol * objective; }
};

namespace rules {

// With r = z - C^T w, g = C r, m = max_k g_k and s = min(1, (lambda/2) / m) (s = 1 when m <= 0):
//   gap(w) = (1 + s^2) ||r||^2 + lambda * sum(w) - 2 s <r, z>  >=  F(w) - F*
CONCISE_HOST_DEVICE inline Certificate certify(const GapTerms& t, double l1) {
  Certificate c;
  c.objective = t.rr + l1 * t.sum_w;
  const double scale = t.max_g <= 0 ? 1.0 : 0.5 * l1 / t.max_g;
  c.dual_scale = scale < 1.0 ? scale : 1.0;
  const double s = c.dual_scale;
  const double gap = (1.0 + s * s) * t.rr + l1 * t.sum_w - 2.0 * s * t.rz;
  c.gap = gap > 0 ? gap : 0.0;
  return c;
}

// A reported gap above tol * F counts as not converged; the slack absorbs the
// float32 rounding of the stored gap and objective.
CONCISE_HOST_DEVICE inline bool reported_converged(float gap, float objective, double tol) {
  return static_cast<double>(gap) <= tol * static_cast<double>(objective) * (1 + 1e-6);
}

// w = 0 is optimal when every correlation max_k (C z)_k <= lambda/2.
CONCISE_HOST_DEVICE inline bool zero_is_optimal(double max_correlation, double l1) {
  return max_correlation <= 0.5 * l1;
}

// Gap-safe screening: atom k is zero at the optimum when s g_k + sqrt(gap) ||C_k|| < lambda/2.
CONCISE_HOST_DEVICE inline bool screened_out(double g_k, double atom_norm, const Certificate& cert, double sqrt_gap,
                                             double l1) {
  return cert.dual_scale * g_k + sqrt_gap * atom_norm < 0.5 * l1;
}

// An atom outside the working set violates optimality when (C r)_k > lambda/2.
CONCISE_HOST_DEVICE inline double violation_threshold(double l1) { return 0.5 * l1; }

// Atoms just below the violation threshold tend to cross it once the violators
// join; the working set takes those above (1 - kNearViolation) lambda/2 early.
constexpr double kNearViolation = 0.05;
CONCISE_HOST_DEVICE inline double near_violation_threshold(double l1) { return 0.5 * l1 * (1.0 - kNearViolation); }

// The float32 GEMM finds the largest correlation up to rounding; every atom within
// this margin of the float maximum is recomputed in float64 for the certificate.
CONCISE_HOST_DEVICE inline float certified_max_margin(float float_max) {
  const float a = float_max < 0 ? -float_max : float_max;
  return 1e-4f * (a > 1.0f ? a : 1.0f);
}

// Rounding of a float32 dot product of length d, in any order of summation:
// |fl(<a, b>) - <a, b>| <= gamma_d ||a|| ||b|| with gamma_d = d u / (1 - d u), u = 2^-24.
CONCISE_HOST_DEVICE inline double float_dot_gamma(std::int64_t d) {
  const double du = static_cast<double>(d) * 0x1p-24;
  return du / (1.0 - du);
}

// A TF32 tensor-core dot product of length d (the GPU's candidate pass): each float32
// input keeps 10 of its 23 mantissa bits, truncated or rounded (relative error below
// 2^-10 either way), the products are exact in float32 and summed in float32 in any
// order (rounding or truncating: unit 2^-23). So
//   |tf32(<a, b>) - <a, b>| <= ((2^-9 + 2^-20)(1 + g) + g) ||a|| ||b||,  g = d 2^-23 / (1 - d 2^-23),
// plus below 2^-126 per term for inputs flushed to zero, negligible next to it for
// normalized vectors.
CONCISE_HOST_DEVICE inline double tf32_dot_error(std::int64_t d) {
  const double du = static_cast<double>(d) * 0x1p-23;
  const double g = du / (1.0 - du);
  return ((0x1p-9 + 0x1p-20) * (1.0 + g) + g) * (1.0 + 1e-6);
}

// A pass from Gram rows instead of the dictionary: g_k = b_k - sum_j w_j G_kj, with
// b = C z and the rows of G = C C^T from float32 dot products, summed in float64 and
// stored in float32. Every g_k is then within this bound of the exact (C r)_k, with
// A the largest atom norm and S = sum_j w_j ||C_j||; the certified maximum re-checks
// in float64 every atom within twice the bound of the largest g_k.
CONCISE_HOST_DEVICE inline double gram_pass_error(std::int64_t d, double max_atom_norm, double z_norm,
                                                  double weighted_norms) {
  const double u = 0x1p-24;
  return (float_dot_gamma(d) + 4.0 * u) * max_atom_norm * (z_norm + weighted_norms) * (1.0 + 1e-6);
}

// Target sparsity: the lambda grid lambda_j = lambda_max * rho^j, j = 0, 1, ...
// with lambda_max = 2 max_k (C z)_k, the smallest lambda whose optimum is w = 0.
CONCISE_HOST_DEVICE inline double lambda_max(double max_correlation) {
  return max_correlation > 0 ? 2.0 * max_correlation : 0.0;
}
CONCISE_HOST_DEVICE inline double grid_lambda(double max_correlation, double rho, int j) {
  double l = lambda_max(max_correlation);
  for (int i = 0; i < j; ++i) l *= rho;
  return l;
}

// lambda = 0 (plain nonnegative least squares) has no certificate of this form: its
// dual scale s = 0 makes the gap the whole objective. The options refuse it and name
// this lambda instead; the l0 grid also ends above it.
constexpr double kSmallestUsefulL1 = 1e-4;
CONCISE_HOST_DEVICE inline bool grid_ends_before(double max_correlation, double rho, int j) {
  return grid_lambda(max_correlation, rho, j) < kSmallestUsefulL1;
}

// Target sparsity: what a row does once grid point j is certified, from whether its
// code keeps within K atoms, whether j is the grid's last point, and `best`, the
// last certified point within K (0: w = 0 at lambda_max). The answer is the
// smallest grid lambda within K: point j within K and point j + 1 beyond it.
enum class GridStep : std::uint8_t {
  Next,       // within K: j becomes the best, certify j + 1
  Back,       // beyond K, and the set's walk skipped points after the best: j is the new
              // `beyond`, certify grid_back(j, best)
  FinishBest, // beyond K right after the best: the best is the answer
  GridEnd,    // within K at the grid's last point: the answer, at limit
};
CONCISE_HOST_DEVICE inline GridStep after_certified_grid_point(bool within, bool last_point, int j, int best) {
  if (within) return last_point ? GridStep::GridEnd : GridStep::Next;
  return j > best + 1 ? GridStep::Back : GridStep::FinishBest;
}
// A target-sparsity row may take this many times the round limit in passes over all
// its grid points.
constexpr int kGridPassesPerRound = 4;

// Back: halfway between the best point and j, so that a walk that went far costs
// few certificates.
CONCISE_HOST_DEVICE inline int grid_back(int j, int best) { return best + (j - best) / 2; }

// Inside a set, the walk from the solution at grid point j goes on to j + 1 while the
// grid goes on, while it stays within a factor kWalkRange of the lambda it started
// from, and while j + 1 lies before `beyond`, the last point certified beyond K (no
// point has been: INT_MAX). A set whose own path keeps within K atoms far below the
// row's answer (its atoms fit z, the atoms that would fit the rest are not in it yet)
// would otherwise walk to the grid's end, whose certificate can take the whole round
// budget, or walk past a point it was sent back from, again and again.
constexpr double kWalkRange = 0.25;
CONCISE_HOST_DEVICE inline bool walk_goes_on(double max_correlation, double rho, int j, double start_lambda,
                                             int beyond) {
  return j + 1 < beyond && !grid_ends_before(max_correlation, rho, j + 1) &&
         grid_lambda(max_correlation, rho, j + 1) >= kWalkRange * start_lambda;
}

}  // namespace rules
}  // namespace concise
