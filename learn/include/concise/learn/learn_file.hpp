#pragma once
// `concise dictionary learn` as a file job: embeddings in (streamed), a dictionary
// file out, a checkpoint after every epoch so that a killed run resumes where it
// stopped and ends with the same dictionary as one that was never interrupted.
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/embedding_source.hpp"
#include "concise/learn/options.hpp"
#include "concise/learn/describe.hpp"

namespace concise::learn {

struct LearnJob {
  std::string input;
  std::string dataset = kDefaultEmbeddingDataset;
  std::string init;          // dictionary whose atoms stay fixed (residual mode); empty: free mode
  std::string vocabulary;    // free mode: a dictionary to name the atoms by (default: none)
  std::string image_mean;    // free mode: the modality mean (.npy) to center rows with (default: none)
  std::string output;
  LearnOptions options;
  int stop_after_epochs = 0;  // stop (resumable) after this many epochs in this run; 0: to the end
  bool progress = true;       // progress and one line per epoch on a terminal
};

struct LearnSummary {
  std::int64_t rows = 0;
  std::int64_t fixed_atoms = 0, learned_atoms = 0;
  int epochs_done = 0;
  bool resumed = false;          // continued from a checkpoint
  bool complete = false;         // the output is written
  std::vector<double> objective; // mean F(w) per row, per epoch
  FinalPass final_pass;          // codes of every row with the final atoms
  double seconds = 0;            // this run
  std::string checkpoint;        // where the run's state is kept until it completes
  std::string device;
};

// The checkpoint path of an output file.
std::string checkpoint_path(const std::string& output);

LearnSummary learn_file(const LearnJob& job);

}  // namespace concise::learn
