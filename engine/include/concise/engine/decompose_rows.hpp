#pragma once
// One chunk of embeddings to codes with their per-row stats: the step that the
// file job, the Python module and the benchmarks share.
#include <cstdint>

#include "concise/core/codes_file.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/solvers/decomposer.hpp"

namespace concise {

struct RowsInput {
  MatrixView<const float> rows;  // n x d, host memory
  // true: raw CLIP embeddings, preprocessed here with the dictionary's image mean
  // (docs/DESIGN.md §1). false: rows are already normalized and centered and go to the
  // solver as they are, without a copy.
  bool preprocess = true;
  RowNamer name_row;             // names a row in error messages
};

// Solves the rows; stats.cosine is SpLiCE's cosine between the recomposition and
// the (normalized) input, stats.centered_cosine the one between C^T w and the
// centered input.
void decompose_rows(Decomposer& decomposer, const Dictionary& dict, const RowsInput& input, SolveResult& result,
                    CodeStats& stats);

// A solved chunk's per-row stats: l0 from the codes, gap, objective, iterations and
// lambda from the result (l1 for solvers that leave the lambdas out), the given (SpLiCE) cosines, and the centered cosines.
void collect_stats(const SolveResult& result, MatrixView<const float> atoms, double l1, std::vector<float> cosine,
                   CodeStats& stats, int threads = 1);

// cos(C^T w, z) for each solved row, z being the centered unit row the solver saw;
// computed from F(w), which every backend certifies (docs/DESIGN.md §1). 0 for w = 0.
std::vector<float> centered_cosines(const SolveResult& result, MatrixView<const float> atoms, double l1,
                                    int threads = 1);

}  // namespace concise
