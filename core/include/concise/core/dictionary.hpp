#pragma once
// A concept dictionary: centered, normalized CLIP text embeddings (atoms) with
// their names and the means SpLiCE's preprocessing needs (docs/DESIGN.md §3).
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/matrix.hpp"

namespace concise {

// What a learned atom (from `concise dictionary learn`) means: the vocabulary
// concepts nearest to it (cosine), the rows that use it most, and how often the
// training rows use it. Stored under /learned in the dictionary file.
struct LearnedAtom {
  std::int64_t atom = 0;                  // its row in atoms
  float usage = 0;                        // fraction of training rows with a positive weight on it
  std::vector<std::string> nearest;       // nearest vocabulary concepts, closest first
  std::vector<float> nearest_cosine;
  std::vector<std::string> top_rows;      // names (or "row N") of its most activating rows
  std::vector<float> top_weights;
};

struct Dictionary {
  Matrix<float> atoms;                 // c x d, rows centered and unit norm
  std::vector<std::string> concepts;   // c names
  std::vector<float> image_mean;       // d, or empty
  std::vector<float> text_mean;        // d, the mean used to center the atoms
  std::string model;
  std::string vocabulary;
  std::string fingerprint;             // identifies atoms + names; stored in codes files
  std::vector<LearnedAtom> learned;    // the learned atoms, in atom order; the others are fixed (vocabulary)

  std::int64_t size() const { return atoms.rows(); }
  std::int64_t dim() const { return atoms.cols(); }
  // Index of a concept by exact name, or -1.
  std::int64_t find(const std::string& concept_name) const;
  // Index of a concept by exact name; an InputError saying what the name was needed
  // for ("zeroed") and suggesting the nearest names when there is none.
  std::int64_t require(const std::string& concept_name, const std::string& purpose) const;
  // Up to `count` names closest to `name`, ignoring case (edit distance), closest first;
  // names too far off to be a slip are left out.
  std::vector<std::string> nearest(const std::string& name, std::size_t count = 3) const;
  // The learned atom k's description, or null when k is a vocabulary (fixed) atom.
  const LearnedAtom* learned_atom(std::int64_t k) const;
  // How a person reads atom k: its concept, or "learned_17 ~ {beach, surfboard, ocean}".
  std::string describe_atom(std::int64_t k, std::size_t nearest = 3) const;

  // From raw (unnormalized) text embeddings, one per name.
  static Dictionary build(Matrix<float> text_embeddings, std::vector<std::string> names,
                          std::vector<float> image_mean = {}, std::string model = "", std::string vocabulary = "");
  static Dictionary load(const std::string& path);
  // Writes atomically: path.partial first, renamed when complete.
  void save(const std::string& path) const;
};

std::string fingerprint_of(const Matrix<float>& atoms, const std::vector<std::string>& names);

}  // namespace concise
