#pragma once
// A learning run's state after an epoch, in HDF5: the learned atoms, their
// statistics, the batches seen, the epoch reports so far, and the run's key (its
// settings, inputs and fixed atoms). Written atomically (path.partial, renamed).
#include <optional>
#include <string>
#include <vector>

#include "concise/learn/learner.hpp"
#include "concise/learn/train.hpp"

namespace concise::learn {

struct Checkpoint {
  std::string run_key;
  int epochs_done = 0;
  DictionaryLearner::State state;
  std::vector<double> objective;  // per epoch done
};

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// The checkpoint at path, or nothing when there is none.
std::optional<Checkpoint> read_checkpoint(const std::string& path);

}  // namespace concise::learn
