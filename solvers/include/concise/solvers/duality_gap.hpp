#pragma once
// The certified duality gap of docs/DESIGN.md §1 (the formula lives in rules.hpp, shared
// with the CUDA backend), and its float64 reference for one dense row.
#include <cstdint>

#include "concise/core/matrix.hpp"
#include "concise/solvers/rules.hpp"

namespace concise {

inline Certificate certify(const GapTerms& terms, double l1) { return rules::certify(terms, l1); }
using rules::screened_out;

// Everything from scratch in float64 for one dense row w (c) and one z (d).
Certificate certify_row(MatrixView<const float> atoms, const float* z, const float* w, double l1);

}  // namespace concise
