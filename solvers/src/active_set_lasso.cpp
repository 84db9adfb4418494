#include "active_set_lasso.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "concise/solvers/rules.hpp"
#include "cpu_blas.hpp"

namespace concise::cpu {
namespace {

// A squared pivot below this fraction of the atom's own squared norm means the atom
// is (numerically) a combination of the passive atoms: it cannot enter. The Gram
// entries come from a float32 GEMM (relative error about 1e-7), so smaller pivots
// are noise.
constexpr double kDependentPivot = 1e-6;
// Optimality holds when no violation exceeds this fraction of the largest |q_i|.
constexpr double kViolationTolerance = 1e-12;
constexpr double kEnteringFraction = 0.5;

// <x, y> with independent partial sums, so that it vectorizes.
CONCISE_VECTOR_CLONES double dot(const double* x, const double* y, std::int64_t n) {
  constexpr int kLanes = 8;
  double partial[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) partial[l] += x[i + l] * y[i + l];
  for (int l = 0; i < n; ++i, ++l) partial[l] += x[i] * y[i];
  double s = 0;
  for (double v : partial) s += v;
  return s;
}

// y += a0 x0 + a1 x1 + a2 x2 + a3 x3, one sweep over y for four rows of G.
CONCISE_VECTOR_CLONES void add_scaled4(double* y, const double* a, const double* x0, const double* x1,
                                       const double* x2, const double* x3, std::int64_t n) {
  const double a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (std::int64_t i = 0; i < n; ++i) y[i] += (a0 * x0[i] + a1 * x1[i]) + (a2 * x2[i] + a3 * x3[i]);
}
// The same in float: y += a0 x0 + a1 x1 + a2 x2 + a3 x3.
CONCISE_VECTOR_CLONES void add_scaled4(float* y, const float* a, const float* x0, const float* x1, const float* x2,
                                       const float* x3, std::int64_t n) {
  const float a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
  for (std::int64_t i = 0; i < n; ++i) y[i] += (a0 * x0[i] + a1 * x1[i]) + (a2 * x2[i] + a3 * x3[i]);
}

// estimate_i = q_i - y_i, or -inf where blocked_i; returns the largest.
CONCISE_VECTOR_CLONES double estimate_gradients(double* estimate, const double* q, const float* y,
                                                const std::uint8_t* blocked, std::int64_t n) {
  constexpr double kNever = -std::numeric_limits<double>::infinity();
  double largest = kNever;
  for (std::int64_t i = 0; i < n; ++i) {
    const double e = blocked[i] ? kNever : q[i] - static_cast<double>(y[i]);
    estimate[i] = e;
    largest = largest > e ? largest : e;
  }
  return largest;
}

// sum_j g[atoms[j]] w[atoms[j]] in float64, four partial sums.
double gathered_dot(const float* g, const double* w, const std::int64_t* atoms, std::size_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t j = 0;
  for (; j + 4 <= n; j += 4) {
    s0 += static_cast<double>(g[atoms[j]]) * w[atoms[j]];
    s1 += static_cast<double>(g[atoms[j + 1]]) * w[atoms[j + 1]];
    s2 += static_cast<double>(g[atoms[j + 2]]) * w[atoms[j + 2]];
    s3 += static_cast<double>(g[atoms[j + 3]]) * w[atoms[j + 3]];
  }
  for (; j < n; ++j) s0 += static_cast<double>(g[atoms[j]]) * w[atoms[j]];
  return (s0 + s1) + (s2 + s3);
}

template <typename T, typename Y>
void add_scaled(Y* y, Y a, const T* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] += a * static_cast<Y>(x[i]);
}

// Below this many entering atoms, L21 = G21 L11^-T and G22 - L21 L21^T come from
// dot products over the factor's rows: BLAS-3 would first pack the whole factor,
// which costs more than a few rows' solves.
constexpr std::int64_t kFewEntering = 32;

// block's m rows (stride ld): the first n entries become L21 = G21 L11^-T, and the
// lower triangle of the m x m block right of them G22 - L21 L21^T.
void update_few(const double* l, double* block, std::int64_t m, std::int64_t n, std::int64_t ld) {
  for (std::int64_t j = 0; j < n; ++j) {
    const double* lj = l + j * ld;
    for (std::int64_t t = 0; t < m; ++t) {
      double* row = block + t * ld;
      row[j] = (row[j] - dot(lj, row, j)) / lj[j];
    }
  }
  for (std::int64_t t = 0; t < m; ++t)
    for (std::int64_t u = 0; u <= t; ++u) block[t * ld + n + u] -= dot(block + t * ld, block + u * ld, n);
}

}  // namespace

template <typename T>
void ActiveSetLasso::enter(const GramLassoOf<T>& p, const std::int64_t* atoms, std::size_t count) {
  // Blocked Cholesky update: with G = [G11 G12; G21 G22] and G11 = L11 L11^T,
  // L21 = G21 L11^-T and L22 L22^T = G22 - L21 L21^T.
  while (count > 0) {
    const std::size_t n = passive_.size();
    // The factor grows with the passive set (at most the dictionary's rank), not with
    // the problem: a whole dictionary's k x k would be 134 MB at k = 4096.
    reserve(static_cast<std::int64_t>(n + count));
    double* block = factor_.data() + static_cast<std::ptrdiff_t>(n) * stride_;
    for (std::size_t t = 0; t < count; ++t) {
      double* row = block + static_cast<std::ptrdiff_t>(t) * stride_;
      const T* g = p.row(atoms[t]);
      for (std::size_t j = 0; j < n; ++j) row[j] = g[passive_[j]];
      for (std::size_t u = 0; u <= t; ++u) row[n + u] = g[atoms[u]];
    }
    const auto n64 = static_cast<std::int64_t>(n), m = static_cast<std::int64_t>(count);
    if (m < kFewEntering) {
      update_few(factor_.data(), block, m, n64, stride_);
    } else {
      solve_right_lower_transposed(factor_.data(), block, m, n64, stride_);
      subtract_aat_lower(block, block + n, m, n64, stride_);
    }
    const int info = cholesky_lower(block + n, m, stride_);
    std::size_t good = info == 0 ? count : static_cast<std::size_t>(info - 1);
    for (std::size_t t = 0; t < good; ++t) {
      const double pivot = block[static_cast<std::ptrdiff_t>(t) * stride_ + static_cast<std::ptrdiff_t>(n + t)];
      if (!(pivot * pivot > kDependentPivot * static_cast<double>(p.row(atoms[t])[atoms[t]]))) good = t;
    }
    passive_.insert(passive_.end(), atoms, atoms + good);
    if (forward_valid_)  // the new rows of L y = q_P, below the old ones
      for (std::size_t t = 0; t < good; ++t) {
        const double* row = block + static_cast<std::ptrdiff_t>(t) * stride_;
        const std::size_t at = n + t;
        forward_.push_back((q_[static_cast<std::size_t>(atoms[t])] - dot(row, forward_.data(), static_cast<std::int64_t>(at))) /
                           row[at]);
      }
    if (good == count) return;
    // atoms[good] is (numerically) a combination of the passive atoms: it stays out.
    blocked_[static_cast<std::size_t>(atoms[good])] = 1;
    atoms += good + 1;
    count -= good + 1;
  }
}

void ActiveSetLasso::remove(std::size_t position) {
  const std::size_t n = passive_.size();
  // Drop row `position`; the rows below keep one entry right of their diagonal,
  // which Givens rotations on column pairs (t, t + 1) fold back in.
  for (std::size_t t = position; t + 1 < n; ++t)
    std::copy_n(factor_.data() + static_cast<std::ptrdiff_t>(t + 1) * stride_, t + 2,
                factor_.data() + static_cast<std::ptrdiff_t>(t) * stride_);
  for (std::size_t t = position; t + 1 < n; ++t) {
    double* lt = factor_.data() + static_cast<std::ptrdiff_t>(t) * stride_;
    const double a = lt[t], b = lt[t + 1];
    const double r = std::sqrt(a * a + b * b);  // entries of a Cholesky factor: no overflow
    const double c = a / r, s = b / r;
    if (forward_valid_) {  // L' = L R, so L' (R^T y) = q_P still holds
      const double y0 = forward_[t], y1 = forward_[t + 1];
      forward_[t] = c * y0 + s * y1;
      forward_[t + 1] = -s * y0 + c * y1;
    }
    for (std::size_t u = t; u + 1 < n; ++u) {
      double* lu = factor_.data() + static_cast<std::ptrdiff_t>(u) * stride_;
      const double x = lu[t], y = lu[t + 1];
      lu[t] = c * x + s * y;
      lu[t + 1] = -s * x + c * y;
    }
    lt[t + 1] = 0;
  }
  if (forward_valid_) forward_.resize(n - 1);  // L's last column is now zero
  passive_.erase(passive_.begin() + static_cast<std::ptrdiff_t>(position));
}

void ActiveSetLasso::solve_passive(std::vector<double>& x) {
  const std::size_t n = passive_.size();
  if (!forward_valid_) {
    forward_.resize(n);
    for (std::size_t i = 0; i < n; ++i) forward_[i] = q_[static_cast<std::size_t>(passive_[i])];
    solve_lower(factor_.data(), forward_.data(), static_cast<std::int64_t>(n), stride_);
    forward_valid_ = true;
  }
  x.assign(forward_.begin(), forward_.end());
  solve_lower_transposed(factor_.data(), x.data(), static_cast<std::int64_t>(n), stride_);
}

void ActiveSetLasso::reserve(std::int64_t k) {
  if (k <= stride_) return;
  const std::int64_t stride = std::max(k, stride_ + stride_ / 2);
  std::vector<double> factor(static_cast<std::size_t>(stride * stride));
  for (std::size_t i = 0; i < passive_.size(); ++i)
    std::copy_n(factor_.data() + static_cast<std::ptrdiff_t>(i) * stride_, i + 1,
                factor.data() + static_cast<std::ptrdiff_t>(i) * stride);
  factor_.swap(factor);
  stride_ = stride;
}

template <typename T>
void ActiveSetLasso::start(const GramLassoOf<T>& p) {
  const std::int64_t k = p.k;
  q_.resize(static_cast<std::size_t>(k));
  gradient_.resize(static_cast<std::size_t>(k));
  blocked_.assign(static_cast<std::size_t>(k), 0);
  double scale = 0;
  for (std::int64_t i = 0; i < k; ++i) {
    q_[static_cast<std::size_t>(i)] = p.b[i] - 0.5 * p.l1;
    scale = std::max(scale, std::abs(q_[static_cast<std::size_t>(i)]));
  }
  tolerance_ = kViolationTolerance * std::max(scale, 1e-30);
  forward_valid_ = false;
}

template <typename T>
int ActiveSetLasso::solve(const GramLassoOf<T>& p, double* w, int max_steps) {
  const std::int64_t k = p.k;
  passive_.clear();
  start(p);
  forward_.clear();
  forward_valid_ = true;
  entering_.clear();
  for (std::int64_t i = 0; i < k; ++i)
    if (w[i] > 0) entering_.push_back(i);
    else w[i] = 0;
  enter(p, entering_.data(), entering_.size());
  for (std::int64_t i : entering_)
    if (blocked_[static_cast<std::size_t>(i)]) w[i] = 0;
  return iterate(p, w, max_steps);
}

template <typename T>
int ActiveSetLasso::resume(const GramLassoOf<T>& p, double* w, int max_steps) {
  start(p);
  // Only passive atoms carry weight, and those need w > 0: one whose weight was
  // rounded to zero leaves.
  for (std::size_t i = passive_.size(); i-- > 0;)
    if (w[passive_[i]] > 0) blocked_[static_cast<std::size_t>(passive_[i])] = 1;
    else remove(i);
  for (std::int64_t i = 0; i < p.k; ++i) {
    if (!blocked_[static_cast<std::size_t>(i)]) w[i] = 0;
    blocked_[static_cast<std::size_t>(i)] = 0;
  }
  return iterate(p, w, max_steps);
}

template <typename T>
void ActiveSetLasso::zero_atom_gradients(const GramLassoOf<T>& p, const double* w) {
  const std::int64_t k = p.k;
  const std::size_t n = passive_.size();
  candidates_.clear();
  for (std::int64_t i = 0; i < k; ++i)
    if (w[i] == 0 && !blocked_[static_cast<std::size_t>(i)]) candidates_.push_back(i);
  if (static_cast<std::int64_t>(2 * n) >= k) {  // few atoms at zero: a dot product each
    for (const std::int64_t i : candidates_)
      gradient_[static_cast<std::size_t>(i)] = q_[static_cast<std::size_t>(i)] - dot(p.row(i), w, k);
    return;
  }
  // Few passive atoms: G w as the sum of their rows (G is symmetric), four per sweep.
  product_.assign(static_cast<std::size_t>(k), 0.0);
  weights_.resize(n);
  std::size_t x = 0;
  for (; x + 4 <= n; x += 4) {
    for (std::size_t u = 0; u < 4; ++u) weights_[x + u] = w[passive_[x + u]];
    add_scaled4(product_.data(), weights_.data() + x, p.row(passive_[x]), p.row(passive_[x + 1]),
                p.row(passive_[x + 2]), p.row(passive_[x + 3]), k);
  }
  for (; x < n; ++x) add_scaled(product_.data(), w[passive_[x]], p.row(passive_[x]), k);
  for (const std::int64_t i : candidates_)
    gradient_[static_cast<std::size_t>(i)] = q_[static_cast<std::size_t>(i)] - product_[static_cast<std::size_t>(i)];
}

template <>
void ActiveSetLasso::zero_atom_gradients(const GramLassoOf<float>& p, const double* w) {
  // Float Gram rows (the dictionary's, k = c): G w summed from the passive atoms' rows
  // in float first, then in float64 only for the atoms whose float gradient, widened
  // by its rounding bound, could enter or exceed the tolerance. The others cannot
  // enter at this step (below half the largest violation) nor change whether one is
  // left, so their gradient is not needed.
  const std::int64_t k = p.k;
  const std::size_t n = passive_.size();
  product_f_.assign(static_cast<std::size_t>(k), 0.0f);
  weights_f_.resize(n);
  double weighted_norms = 0;  // sum_j w_j ||C_j||
  for (std::size_t x = 0; x < n; ++x) {
    const std::int64_t j = passive_[x];
    weights_f_[x] = static_cast<float>(w[j]);
    weighted_norms += w[j] * std::sqrt(static_cast<double>(p.row(j)[j]));
  }
  std::size_t x = 0;
  for (; x + 4 <= n; x += 4)
    add_scaled4(product_f_.data(), weights_f_.data() + x, p.row(passive_[x]), p.row(passive_[x + 1]),
                p.row(passive_[x + 2]), p.row(passive_[x + 3]), k);
  for (; x < n; ++x) add_scaled(product_f_.data(), weights_f_[x], p.row(passive_[x]), k);
  // |fl(sum_j w_j G_ij) - sum_j w_j G_ij| <= gamma_(n+2) ||C_i|| sum_j w_j ||C_j|| in any order
  // of summation (the weights' rounding included); doubled for the margin.
  const double bound = 2.0 * rules::float_dot_gamma(static_cast<std::int64_t>(n) + 2) * p.max_atom_norm * weighted_norms;
  // The float gradients, -inf for the atoms that cannot enter (passive or blocked;
  // a passive atom's is q_i - (G w)_i = 0 up to rounding, so it is cleared after).
  estimate_.resize(static_cast<std::size_t>(k));
  double* estimate = estimate_.data();
  double largest = estimate_gradients(estimate, q_.data(), product_f_.data(), blocked_.data(), k);
  constexpr double kNever = -std::numeric_limits<double>::infinity();
  bool passive_largest = false;
  for (const std::int64_t j : passive_) {
    passive_largest = passive_largest || estimate[j] == largest;
    estimate[j] = kNever;
  }
  if (passive_largest) {
    largest = kNever;
    for (std::int64_t i = 0; i < k; ++i) largest = std::max(largest, estimate[i]);
  }
  const double relevant = std::max(tolerance_, 0.5 * (largest - bound)) - bound;
  candidates_.clear();
  for (std::int64_t i = 0; i < k; ++i)
    if (estimate[i] >= relevant) candidates_.push_back(i);
  for (const std::int64_t i : candidates_)
    gradient_[static_cast<std::size_t>(i)] = q_[static_cast<std::size_t>(i)] - gathered_dot(p.row(i), w, passive_.data(), n);
}

template <typename T>
int ActiveSetLasso::iterate(const GramLassoOf<T>& p, double* w, int max_steps) {
  const double tolerance = tolerance_;
  int steps = 0;
  while (true) {
    // Inner loop: move toward the passive set's unconstrained optimum, dropping the
    // atoms that would turn negative, until that optimum is positive.
    while (!passive_.empty()) {
      solve_passive(x_);
      // Each atom heading below zero reaches it at its own fraction of the way to x.
      ratio_.assign(passive_.size(), 2.0);
      double alpha = 1;
      for (std::size_t i = 0; i < passive_.size(); ++i) {
        if (x_[i] > 0) continue;
        const double wi = w[passive_[i]];
        ratio_[i] = wi > 0 ? wi / (wi - x_[i]) : 0.0;
        alpha = std::min(alpha, ratio_[i]);
      }
      if (alpha == 1 && std::all_of(x_.begin(), x_.end(), [](double v) { return v > 0; })) {
        for (std::size_t i = 0; i < passive_.size(); ++i) w[passive_[i]] = x_[i];
        break;
      }
      if (++steps > max_steps) return -1;
      for (std::size_t i = 0; i < passive_.size(); ++i) {
        double& wi = w[passive_[i]];
        wi += alpha * (x_[i] - wi);
      }
      // The atoms that reached zero leave; one that leaves without any progress
      // stays out until something moves (a guard against cycling).
      if (alpha > 0) std::fill(blocked_.begin(), blocked_.end(), std::uint8_t{0});
      for (std::size_t i = passive_.size(); i-- > 0;) {
        if (ratio_[i] > alpha) continue;
        w[passive_[i]] = 0;
        if (alpha == 0) blocked_[static_cast<std::size_t>(passive_[i])] = 1;
        remove(i);
      }
    }
    // Outer step: the atom that violates optimality most enters. Only the atoms at
    // zero can enter, so only their gradients q_i - G_i. w are needed (w is zero off P).
    zero_atom_gradients(p, w);
    double most = tolerance;
    for (const std::int64_t i : candidates_) most = std::max(most, gradient_[static_cast<std::size_t>(i)]);
    if (most <= tolerance) return steps;
    // Every atom within kEnteringFraction of the largest violation enters at once; the
    // inner loop drops those the joint solve does not want, so fewer solves are needed.
    const double entering = std::max(tolerance, kEnteringFraction * most);
    entering_.clear();
    for (const std::int64_t i : candidates_)
      if (gradient_[static_cast<std::size_t>(i)] >= entering) entering_.push_back(i);
    steps += static_cast<int>(entering_.size());
    if (steps > max_steps) return -1;
    enter(p, entering_.data(), entering_.size());
  }
}

template int ActiveSetLasso::solve(const GramLasso&, double*, int);
template int ActiveSetLasso::resume(const GramLasso&, double*, int);
template int ActiveSetLasso::solve(const GramRowsLasso&, double*, int);
template int ActiveSetLasso::resume(const GramRowsLasso&, double*, int);

}  // namespace concise::cpu
