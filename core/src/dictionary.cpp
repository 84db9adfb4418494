#include "concise/core/dictionary.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "concise/core/error.hpp"
#include "concise/core/names.hpp"
#include "concise/core/output_file.hpp"
#include "concise/core/preprocess.hpp"
#include "hdf5_io.hpp"

namespace concise {
namespace {

constexpr std::int64_t kFormatVersion = 1;

void fnv1a(std::uint64_t& hash, const void* bytes, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (std::size_t i = 0; i < n; ++i) {
    hash ^= p[i];
    hash *= 1099511628211ull;
  }
}

// /learned holds one entry per learned atom; the per-atom lists (nearest concepts,
// top rows) are flattened row-major [n, per_atom], padded with "" and 0.
void write_learned(const detail::H5File& file, const std::vector<LearnedAtom>& learned) {
  std::size_t per_atom = 0;
  for (const auto& a : learned) per_atom = std::max({per_atom, a.nearest.size(), a.top_rows.size()});
  std::vector<std::int64_t> atoms;
  std::vector<float> usage, nearest_cosine, top_weights;
  std::vector<std::string> nearest, top_rows;
  for (const auto& a : learned) {
    atoms.push_back(a.atom);
    usage.push_back(a.usage);
    for (std::size_t i = 0; i < per_atom; ++i) {
      nearest.push_back(i < a.nearest.size() ? a.nearest[i] : "");
      nearest_cosine.push_back(i < a.nearest_cosine.size() ? a.nearest_cosine[i] : 0.0f);
      top_rows.push_back(i < a.top_rows.size() ? a.top_rows[i] : "");
      top_weights.push_back(i < a.top_weights.size() ? a.top_weights[i] : 0.0f);
    }
  }
  detail::H5Id group = detail::open_or_create_group(file, "/learned");
  detail::set_attr(file, group.get(), "per_atom", static_cast<std::int64_t>(per_atom));
  detail::set_attr(file, group.get(), "n_learned", static_cast<std::int64_t>(learned.size()));
  detail::create_fixed(file, "/learned/atoms", H5T_STD_I64LE, atoms.size(), std::max<hsize_t>(1, atoms.size()));
  detail::write_at(file, "/learned/atoms", H5T_NATIVE_INT64, 0, static_cast<std::int64_t>(atoms.size()), atoms.data());
  detail::write_vector_f32(file, "/learned/usage", usage);
  detail::write_strings(file, "/learned/nearest_concepts", nearest);
  detail::write_vector_f32(file, "/learned/nearest_cosine", nearest_cosine);
  detail::write_strings(file, "/learned/top_rows", top_rows);
  detail::write_vector_f32(file, "/learned/top_weights", top_weights);
}

std::vector<LearnedAtom> read_learned(const detail::H5File& file, std::int64_t atoms_in_file) {
  detail::H5Id group = detail::open_or_create_group(file, "/learned");
  const auto where = "file " + in_quotes(file.path) + ", group '/learned'";
  const auto per_atom = detail::get_attr_int64(group.get(), "per_atom").value_or(0);
  const auto atoms = detail::read_vector_i64(file, "/learned/atoms");
  const auto n = atoms.size();
  const auto usage = detail::read_vector_f32(file, "/learned/usage");
  const auto nearest = detail::read_strings(file, "/learned/nearest_concepts");
  const auto nearest_cosine = detail::read_vector_f32(file, "/learned/nearest_cosine");
  const auto top_rows = detail::read_strings(file, "/learned/top_rows");
  const auto top_weights = detail::read_vector_f32(file, "/learned/top_weights");
  const auto lists = n * static_cast<std::size_t>(std::max<std::int64_t>(per_atom, 0));
  if (per_atom < 0 || usage.size() != n || nearest.size() != lists || nearest_cosine.size() != lists ||
      top_rows.size() != lists || top_weights.size() != lists)
    throw InputError(where + ": its datasets disagree in length, expected " + std::to_string(n) +
                     " learned atoms with " + std::to_string(per_atom) + " entries each");
  std::vector<LearnedAtom> learned(n);
  for (std::size_t j = 0; j < n; ++j) {
    LearnedAtom& a = learned[j];
    a.atom = atoms[j];
    if (a.atom < 0 || a.atom >= atoms_in_file || (j > 0 && a.atom <= atoms[j - 1]))
      throw InputError(where + ": learned atom " + std::to_string(a.atom) + " is out of order or range, expected 0.." +
                       std::to_string(atoms_in_file - 1) + " ascending");
    a.usage = usage[j];
    for (std::size_t i = j * static_cast<std::size_t>(per_atom); i < (j + 1) * static_cast<std::size_t>(per_atom); ++i) {
      if (!nearest[i].empty()) {
        a.nearest.push_back(nearest[i]);
        a.nearest_cosine.push_back(nearest_cosine[i]);
      }
      if (!top_rows[i].empty()) {
        a.top_rows.push_back(top_rows[i]);
        a.top_weights.push_back(top_weights[i]);
      }
    }
  }
  return learned;
}

}  // namespace

std::string fingerprint_of(const Matrix<float>& atoms, const std::vector<std::string>& names) {
  std::uint64_t hash = 14695981039346656037ull;
  fnv1a(hash, atoms.data(), atoms.values().size() * sizeof(float));
  for (const auto& n : names) fnv1a(hash, n.c_str(), n.size() + 1);
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::vector<std::string> Dictionary::nearest(const std::string& name, std::size_t count) const {
  return nearest_names(name, concepts, count);
}

std::int64_t Dictionary::require(const std::string& concept_name, const std::string& purpose) const {
  const std::int64_t k = find(concept_name);
  if (k >= 0) return k;
  std::string message = "concept " + in_quotes(concept_name) + " is not in the dictionary, so it cannot be " + purpose;
  const std::vector<std::string> close = nearest(concept_name);
  for (std::size_t i = 0; i < close.size(); ++i)
    message += (i == 0 ? "; did you mean " : (i + 1 == close.size() ? " or " : ", ")) + in_quotes(close[i]);
  throw InputError(message + (close.empty() ? "" : "?"));
}

std::int64_t Dictionary::find(const std::string& concept_name) const {
  for (std::size_t i = 0; i < concepts.size(); ++i)
    if (concepts[i] == concept_name) return static_cast<std::int64_t>(i);
  return -1;
}

const LearnedAtom* Dictionary::learned_atom(std::int64_t k) const {
  const auto it = std::lower_bound(learned.begin(), learned.end(), k,
                                   [](const LearnedAtom& a, std::int64_t atom) { return a.atom < atom; });
  return it != learned.end() && it->atom == k ? &*it : nullptr;
}

std::string Dictionary::describe_atom(std::int64_t k, std::size_t nearest) const {
  std::string text = k >= 0 && k < static_cast<std::int64_t>(concepts.size()) ? concepts[static_cast<std::size_t>(k)]
                                                                               : "concept_" + std::to_string(k);
  const LearnedAtom* info = learned_atom(k);
  if (info == nullptr || info->nearest.empty()) return text;
  text += " ~ {";
  for (std::size_t i = 0; i < std::min(nearest, info->nearest.size()); ++i) text += (i ? ", " : "") + info->nearest[i];
  return text + "}";
}

Dictionary Dictionary::build(Matrix<float> text_embeddings, std::vector<std::string> names,
                             std::vector<float> image_mean, std::string model, std::string vocabulary) {
  if (text_embeddings.rows() == 0) throw InputError("the text embeddings are empty, expected one row per concept");
  if (static_cast<std::int64_t>(names.size()) != text_embeddings.rows())
    throw InputError("there are " + std::to_string(names.size()) + " concept names for " +
                     std::to_string(text_embeddings.rows()) + " text embeddings, expected one name per row");
  if (!image_mean.empty() && static_cast<std::int64_t>(image_mean.size()) != text_embeddings.cols())
    throw InputError("the image mean has dimension " + std::to_string(image_mean.size()) + ", expected " +
                     std::to_string(text_embeddings.cols()) + " like the text embeddings");
  Dictionary dict;
  dict.text_mean = center_atoms(text_embeddings.view(), [&names](std::int64_t r) {
    return "text embedding row " + std::to_string(r) + " (" + in_quotes(names[static_cast<std::size_t>(r)]) + ")";
  });
  dict.atoms = std::move(text_embeddings);
  dict.concepts = std::move(names);
  dict.image_mean = std::move(image_mean);
  dict.model = std::move(model);
  dict.vocabulary = std::move(vocabulary);
  dict.fingerprint = fingerprint_of(dict.atoms, dict.concepts);
  return dict;
}

Dictionary Dictionary::load(const std::string& path) {
  auto file = detail::open_h5(path, false);
  Dictionary dict;
  if (!detail::h5_exists(file, "/atoms"))
    throw InputError("file " + in_quotes(path) + ", dataset '/atoms': not found, expected a concise dictionary (float32 [c, d]); " +
                     detail::datasets_found(file));
  dict.atoms = detail::read_matrix_f32(file, "/atoms");
  if (dict.atoms.rows() == 0 || dict.atoms.cols() == 0)
    throw InputError("file " + in_quotes(path) + ", dataset '/atoms': is empty, expected [c, d] with c, d > 0");
  check_atoms(dict.atoms.view(), [&path](std::int64_t r) {
    return "file " + in_quotes(path) + ", dataset '/atoms', row " + std::to_string(r);
  });
  if (detail::h5_exists(file, "/concepts")) {
    dict.concepts = detail::read_strings(file, "/concepts");
    if (static_cast<std::int64_t>(dict.concepts.size()) != dict.atoms.rows())
      throw InputError("file " + in_quotes(path) + ", dataset '/concepts': has " + std::to_string(dict.concepts.size()) +
                       " names, expected " + std::to_string(dict.atoms.rows()) + " (one per atom)");
  } else {
    for (std::int64_t k = 0; k < dict.atoms.rows(); ++k) dict.concepts.push_back("concept_" + std::to_string(k));
  }
  auto read_mean = [&](const char* name) {
    std::vector<float> mean;
    if (detail::h5_exists(file, name)) {
      mean = detail::read_vector_f32(file, name);
      if (static_cast<std::int64_t>(mean.size()) != dict.atoms.cols())
        throw InputError("file " + in_quotes(path) + ", dataset " + in_quotes(name) + ": has dimension " +
                         std::to_string(mean.size()) + ", expected " + std::to_string(dict.atoms.cols()));
    }
    return mean;
  };
  dict.image_mean = read_mean("/image_mean");
  dict.text_mean = read_mean("/text_mean");
  hid_t root = file.id.get();
  dict.model = detail::get_attr_string(root, "model").value_or("");
  dict.vocabulary = detail::get_attr_string(root, "vocabulary").value_or("");
  auto stored = detail::get_attr_string(root, "fingerprint");
  dict.fingerprint = stored ? *stored : fingerprint_of(dict.atoms, dict.concepts);
  if (detail::h5_exists(file, "/learned")) dict.learned = read_learned(file, dict.size());
  return dict;
}

void Dictionary::save(const std::string& path) const {
  const std::string partial = path + ".partial";
  const PartialLock lock(partial);
  try {
    auto file = detail::create_h5(partial);
    detail::write_matrix_f32(file, "/atoms", atoms.data(), atoms.rows(), atoms.cols());
    detail::write_strings(file, "/concepts", concepts);
    if (!image_mean.empty()) detail::write_vector_f32(file, "/image_mean", image_mean);
    if (!text_mean.empty()) detail::write_vector_f32(file, "/text_mean", text_mean);
    hid_t root = file.id.get();
    detail::set_attr(file, root, "model", model);
    detail::set_attr(file, root, "vocabulary", vocabulary);
    detail::set_attr(file, root, "dim", dim());
    detail::set_attr(file, root, "n_concepts", size());
    detail::set_attr(file, root, "fingerprint", fingerprint);
    detail::set_attr(file, root, "version", kFormatVersion);
    if (!learned.empty()) write_learned(file, learned);
    detail::flush_h5(file);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(partial, ec);
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error("file " + in_quotes(path) + ": cannot be written (" + ec.message() + ")");
}

}  // namespace concise
