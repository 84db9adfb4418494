#pragma once
// Settings of online nonnegative dictionary learning (Mairal, Bach, Ponce and
// Sapiro, JMLR 2010) over concise's certified lasso solver.
#include <cstdint>
#include <string>

#include "concise/solvers/options.hpp"

namespace concise::learn {

struct LearnOptions {
  std::int64_t atoms = 0;        // K, the learned atoms (added to the fixed ones in residual mode)
  SolveOptions solve;            // lambda, tolerance and solver of the codes
  int epochs = 10;               // passes over the rows
  std::int64_t batch = 1024;     // rows per dictionary update; >= the rows: batch mode
  std::uint64_t seed = 0;        // every random choice (initial rows, row order) follows from it
  std::string device = "cpu";    // auto, cpu, cuda or cuda:N: codes and the dictionary update
  double forget = 4.0;           // rho: the statistics decay by (1 - 1/t)^rho before batch t (online mode)
  int sweeps = 1;                // block-coordinate sweeps over the atoms per mini-batch (online mode)
  int batch_sweeps = 50;         // batch mode: sweeps until the atoms stop moving, at most this many
  double duplicate_cosine = 0.99;  // online mode: an atom this close to another one is re-initialised
  std::int64_t chunk = 0;        // rows read and solved at once; 0 picks from the atoms and the batch

  // Throws InputError for values outside their domain.
  void validate() const;
  // Whether one batch holds every row: statistics then come from the current codes alone and the
  // full-data objective cannot increase from epoch to epoch.
  bool batch_mode(std::int64_t rows) const { return batch >= rows; }
  // What a checkpoint must match to be resumed (everything that changes the result except epochs).
  std::string settings_key() const;
};

// The settings a mini-batch is coded with, by the learner and by a distributed worker alike:
// its atoms live for one batch, so the solver keeps no Gram rows across calls.
inline SolveOptions batch_coding(SolveOptions solve) {
  solve.keep_gram_rows = false;
  return solve;
}

}  // namespace concise::learn
