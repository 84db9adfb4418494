#pragma once
// Naming the learned atoms: one pass of codes over every row with the final atoms
// gives each learned atom its usage and its most activating rows; cosines with the
// vocabulary give its nearest concepts. The result is a concise dictionary file:
// the fixed atoms bit-identical, the learned ones after them, named learned_N.
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/dictionary.hpp"
#include "concise/learn/train.hpp"

namespace concise::learn {

struct FinalPass {
  double objective = 0;  // mean F(w) per row with the final atoms
  double mean_l0 = 0;
  double mean_learned_l0 = 0;  // of the learned atoms alone
};

struct DescribeSettings {
  const Dictionary* vocabulary = nullptr;  // concepts to name atoms by (the fixed ones, or another dictionary)
  std::vector<std::string> row_names;      // the rows' /names, or empty ("row N")
  int top = 5;
  bool progress = true;
};

// The learned atoms' descriptions (atom indices counted from `first_index`).
std::vector<LearnedAtom> describe_learned_atoms(DictionaryLearner& learner, const RowReader& reader,
                                                const DescribeSettings& settings, FinalPass& pass);

// The output dictionary: init's atoms, names, means and descriptions first (when
// given), then the learned atoms as learned_N with their descriptions.
Dictionary assemble_dictionary(const DictionaryLearner& learner, const Dictionary* init, std::vector<LearnedAtom> learned,
                               std::vector<float> image_mean);

// The nearest `top` concepts of each learned atom by cosine.
void name_by_vocabulary(MatrixView<const float> learned_atoms, const Dictionary& vocabulary, int top,
                        std::vector<LearnedAtom>& learned);

}  // namespace concise::learn
