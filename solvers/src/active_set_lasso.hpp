#pragma once
// The nonnegative lasso restricted to a working set, in Gram form and float64,
//   minimize  w^T G w - 2 b^T w + lambda * sum(w),  w >= 0,
// solved exactly by an active-set method (Lawson-Hanson on q = b - lambda/2):
// atoms enter the passive set one at a time by largest violation, leave when a
// step would make them negative, and the Cholesky factor of G_PP is updated in
// O(p^2) per change instead of refactored.
#include <cstdint>
#include <vector>

namespace concise::cpu {

// T: double for a set's own Gram block, float for the dictionary's cached Gram rows
// (whose entries are floats either way).
template <typename T>
struct GramLassoOf {
  const T* gram;     // k x k, row-major, symmetric, leading dimension ld
  const double* b;   // k
  std::int64_t k;
  double l1;
  std::int64_t ld = 0;  // 0: k
  const T* const* rows = nullptr;  // when given, the Gram's row i is rows[i] (gram is unused)
  double max_atom_norm = 0;  // float rows: an upper bound of the largest ||C_i|| (for their rounding bound)
  std::int64_t stride() const { return ld > 0 ? ld : k; }
  const T* row(std::int64_t i) const { return rows != nullptr ? rows[i] : gram + i * stride(); }
};
using GramLasso = GramLassoOf<double>;
using GramRowsLasso = GramLassoOf<float>;

class ActiveSetLasso {
 public:
  // Improves w (k, nonnegative, warm start) in place until every optimality
  // condition of the set's problem holds up to rounding; returns the steps taken
  // (atoms entering or leaving), or -1 when it stopped at max_steps.
  template <typename T>
  int solve(const GramLassoOf<T>& problem, double* w, int max_steps);
  // The same, continuing from the last solve's passive set and factor instead of
  // factoring again: the problem's first atoms are the last problem's, in the same
  // order and with the same Gram block; new atoms follow, and lambda may differ.
  template <typename T>
  int resume(const GramLassoOf<T>& problem, double* w, int max_steps);

 private:
  template <typename T>
  void start(const GramLassoOf<T>& p);  // q = b - lambda/2, the violation tolerance
  // Grows the factor's leading dimension to hold k passive atoms, keeping the factor.
  void reserve(std::int64_t k);
  template <typename T>
  int iterate(const GramLassoOf<T>& p, double* w, int max_steps);
  // gradient_i = q_i - G_i. w for the atoms at zero (w is zero off the passive set)
  // that can enter, listed in candidates_.
  template <typename T>
  void zero_atom_gradients(const GramLassoOf<T>& p, const double* w);
  // Appends the atoms to the passive set and its factor; an atom that depends on the
  // passive set (numerically) is blocked instead.
  template <typename T>
  void enter(const GramLassoOf<T>& p, const std::int64_t* atoms, std::size_t count);
  void remove(std::size_t position);
  void solve_passive(std::vector<double>& x);  // G_PP x = q_P

  std::vector<std::int64_t> passive_, entering_;
  std::vector<double> factor_;  // lower Cholesky factor of G_PP, row-major with stride stride_
  std::vector<double> q_, x_, gradient_, ratio_, weights_, product_;
  std::vector<float> weights_f_, product_f_;
  std::vector<double> estimate_;            // float gradients (whole-dictionary problems)
  std::vector<std::int64_t> candidates_;    // the atoms whose gradient_ the outer step reads, in order
  // L^-1 q_P, kept across entries and removals (each step then needs only the
  // back substitution); invalid when q changes.
  std::vector<double> forward_;
  bool forward_valid_ = false;
  std::vector<std::uint8_t> blocked_;
  std::int64_t stride_ = 0;
  double tolerance_ = 0;
};

}  // namespace concise::cpu
