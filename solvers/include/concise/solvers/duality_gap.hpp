#pragma once
// The certified duality gap of docs/DESIGN.md §1. With r = z - C^T w, g = C r and
// m = max_k g_k, s = min(1, (lambda/2) / m) (s = 1 when m <= 0):
//   gap(w) = (1 + s^2) ||r||^2 + lambda * sum(w) - 2 s <r, z>  >=  F(w) - F*
#include <cstdint>

#include "concise/core/matrix.hpp"

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
  bool converged(double tol) const { return gap <= tol * objective; }
};

Certificate certify(const GapTerms& terms, double l1);

// Gap-safe screening: atom k is zero at the optimum when s g_k + sqrt(gap) ||C_k|| < lambda/2.
inline bool screened_out(double g_k, double atom_norm, const Certificate& cert, double sqrt_gap, double l1) {
  return cert.dual_scale * g_k + sqrt_gap * atom_norm < 0.5 * l1;
}

// Everything from scratch in float64 for one dense row w (c) and one z (d).
Certificate certify_row(MatrixView<const float> atoms, const float* z, const float* w, double l1);

}  // namespace concise
