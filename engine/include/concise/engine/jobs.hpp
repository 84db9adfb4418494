#pragma once
// The jobs the CLI and the bindings run over whole files, in bounded memory:
// decompose embeddings into codes (resumable) and recompose codes into embeddings.
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/dictionary.hpp"
#include "concise/core/embedding_source.hpp"
#include "concise/solvers/options.hpp"

namespace concise {

struct DecomposeJob {
  std::string input;
  std::string dataset = kDefaultEmbeddingDataset;
  std::string output;
  SolveOptions options;         // options.device picks the backend
  std::int64_t chunk = 0;       // rows per chunk; 0 picks one from the dictionary size
  std::int64_t max_chunks = 0;  // stop after this many chunks (resumable); 0: run to the end
  bool progress = true;         // progress line on a terminal
};

struct DecomposeSummary {
  std::int64_t rows = 0;            // rows in the input
  std::int64_t rows_done = 0;       // rows in the output so far
  std::int64_t rows_this_run = 0;
  bool resumed = false;
  bool complete = false;
  double seconds = 0;               // wall time of this run's solving and writing
  double mean_l0 = 0, mean_cosine = 0;  // over this run's rows; cosine: SpLiCE's recomposition cosine
  double mean_centered_cosine = 0;      // cos(C^T w, centered input), over this run's rows
  std::int64_t not_converged = 0;   // rows that stopped on a limit (gap above tol * F, or an l0 grid cut short)
  std::vector<std::int64_t> first_not_converged;  // the first few of them (row numbers in the input)
  double mean_l1 = 0;               // over this run's rows (with l0, each row's lambda differs)
  std::string solver;               // the backend and algorithm that ran, e.g. "cpu/ws"
  std::string device;               // e.g. "cpu", "cuda:0 (NVIDIA H100 ...)"
  int l0 = 0;                       // the job's target sparsity (0: fixed l1)
};

DecomposeSummary decompose_file(const DecomposeJob& job, const Dictionary& dictionary);

std::int64_t default_chunk_rows(std::int64_t concepts);

// Recomposes codes (SpLiCE's recompose_image), with the weights of `zero` concepts
// set to 0 first (SpLiCE's intervention). Writes float32 /embeddings [N, d].
// device: as Resources takes it; on a GPU the atoms are uploaded once for all chunks.
void recompose_file(const std::string& codes_path, const Dictionary& dictionary, const std::vector<std::string>& zero,
                    const std::string& output, const std::string& device = SolveOptions{}.device);

}  // namespace concise
