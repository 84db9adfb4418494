#pragma once
// A concept dictionary: centered, normalized CLIP text embeddings (atoms) with
// their names and the means SpLiCE's preprocessing needs (docs/DESIGN.md §3).
#include <cstdint>
#include <string>
#include <vector>

#include "concise/core/matrix.hpp"

namespace concise {

struct Dictionary {
  Matrix<float> atoms;                 // c x d, rows centered and unit norm
  std::vector<std::string> concepts;   // c names
  std::vector<float> image_mean;       // d, or empty
  std::vector<float> text_mean;        // d, the mean used to center the atoms
  std::string model;
  std::string vocabulary;
  std::string fingerprint;             // identifies atoms + names; stored in codes files

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

  // From raw (unnormalized) text embeddings, one per name.
  static Dictionary build(Matrix<float> text_embeddings, std::vector<std::string> names,
                          std::vector<float> image_mean = {}, std::string model = "", std::string vocabulary = "");
  static Dictionary load(const std::string& path);
  // Writes atomically: path.partial first, renamed when complete.
  void save(const std::string& path) const;
};

std::string fingerprint_of(const Matrix<float>& atoms, const std::vector<std::string>& names);

}  // namespace concise
