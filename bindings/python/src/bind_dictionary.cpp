#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "arrays.hpp"
#include "bindings.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"

namespace concise::python {

namespace {

Dictionary build(HostRows text_embeddings, std::vector<std::string> names, std::optional<HostVector> image_mean,
                 std::string model, std::string vocabulary) {
  const auto c = static_cast<std::int64_t>(text_embeddings.shape(0)), d = static_cast<std::int64_t>(text_embeddings.shape(1));
  if (static_cast<std::int64_t>(names.size()) != c)
    throw InputError("text embeddings have " + std::to_string(c) + " rows but " + std::to_string(names.size()) +
                     " names were given, expected one name per row");
  std::vector<float> mean;
  if (image_mean) {
    if (static_cast<std::int64_t>(image_mean->shape(0)) != d)
      throw InputError("image mean has dimension " + std::to_string(image_mean->shape(0)) + ", expected " +
                       std::to_string(d) + " (the text embeddings')");
    mean.assign(image_mean->data(), image_mean->data() + d);
  }
  Matrix<float> text(c, d);
  std::copy_n(text_embeddings.data(), text.values().size(), text.data());
  nb::gil_scoped_release released;
  return Dictionary::build(std::move(text), std::move(names), std::move(mean), std::move(model), std::move(vocabulary));
}

// Atoms used as given (already centered and unit norm, as SpLiCE's dictionaries are).
Dictionary from_atoms(HostRows atoms, std::optional<std::vector<std::string>> names, std::optional<HostVector> image_mean,
                      std::string model) {
  const auto c = static_cast<std::int64_t>(atoms.shape(0)), d = static_cast<std::int64_t>(atoms.shape(1));
  Dictionary dict;
  dict.atoms = Matrix<float>(c, d);
  std::copy_n(atoms.data(), dict.atoms.values().size(), dict.atoms.data());
  check_atoms(dict.atoms.view(), [](std::int64_t k) { return "atom " + std::to_string(k); });
  if (names) {
    if (static_cast<std::int64_t>(names->size()) != c)
      throw InputError("atoms have " + std::to_string(c) + " rows but " + std::to_string(names->size()) +
                       " names were given, expected one name per row");
    dict.concepts = std::move(*names);
  } else {
    for (std::int64_t k = 0; k < c; ++k) dict.concepts.push_back("concept_" + std::to_string(k));
  }
  if (image_mean) {
    if (static_cast<std::int64_t>(image_mean->shape(0)) != d)
      throw InputError("image mean has dimension " + std::to_string(image_mean->shape(0)) + ", expected " +
                       std::to_string(d) + " (the atoms')");
    dict.image_mean.assign(image_mean->data(), image_mean->data() + d);
  }
  dict.model = std::move(model);
  dict.fingerprint = fingerprint_of(dict.atoms, dict.concepts);
  return dict;
}

// A read-only numpy view of data the Dictionary owns; the view keeps it alive.
nb::ndarray<nb::numpy, const float> view_of(nb::handle owner, const float* data, std::initializer_list<std::size_t> shape) {
  return nb::ndarray<nb::numpy, const float>(data, shape, owner);
}

}  // namespace

void bind_dictionary(nb::module_& m) {
  nb::class_<Dictionary>(m, "Dictionary",
                         "Concept dictionary: centered, unit-norm CLIP text embeddings (atoms) with their names "
                         "and the means of SpLiCE's preprocessing.")
      .def_static("load", &Dictionary::load, nb::arg("path"), nb::call_guard<nb::gil_scoped_release>(),
                  "Reads a dictionary file (HDF5, /atoms and /concepts).")
      .def_static("build", &build, nb::arg("text_embeddings"), nb::arg("names"), nb::arg("image_mean").none() = nb::none(),
                  nb::arg("model") = "", nb::arg("vocabulary") = "",
                  "From raw CLIP text embeddings (c x d float32), one name per row: normalized, centered, normalized.")
      .def_static("from_atoms", &from_atoms, nb::arg("atoms"), nb::arg("names").none() = nb::none(),
                  nb::arg("image_mean").none() = nb::none(), nb::arg("model") = "",
                  "From atoms that are already centered and unit norm (SpLiCE's concept matrices), used as given.")
      .def("save", &Dictionary::save, nb::arg("path"), nb::call_guard<nb::gil_scoped_release>(),
           "Writes the dictionary (atomically, through path.partial).")
      .def("find", &Dictionary::find, nb::arg("concept"), "Index of a concept, or -1.")
      .def("require", &Dictionary::require, nb::arg("concept"), nb::arg("purpose"),
           "Index of a concept; ValueError suggesting the nearest names (ignoring case) when there is none.")
      .def("nearest", &Dictionary::nearest, nb::arg("name"), nb::arg("count") = 3,
           "Up to count concept names closest to name, ignoring case.")
      .def("__len__", &Dictionary::size)
      .def_prop_ro("size", &Dictionary::size)
      .def_prop_ro("dim", &Dictionary::dim)
      .def_ro("concepts", &Dictionary::concepts)
      .def_ro("model", &Dictionary::model)
      .def_ro("vocabulary", &Dictionary::vocabulary)
      .def_ro("fingerprint", &Dictionary::fingerprint)
      .def_prop_ro("atoms", [](nb::handle self) {
        const Dictionary& dict = nb::cast<const Dictionary&>(self);
        return view_of(self, dict.atoms.data(), {static_cast<std::size_t>(dict.size()), static_cast<std::size_t>(dict.dim())});
      }, "c x d float32, read-only, shared with the dictionary")
      .def_prop_ro("image_mean", [](nb::handle self) -> nb::object {
        const Dictionary& dict = nb::cast<const Dictionary&>(self);
        if (dict.image_mean.empty()) return nb::none();
        return nb::cast(view_of(self, dict.image_mean.data(), {dict.image_mean.size()}));
      })
      .def_prop_ro("text_mean", [](nb::handle self) -> nb::object {
        const Dictionary& dict = nb::cast<const Dictionary&>(self);
        if (dict.text_mean.empty()) return nb::none();
        return nb::cast(view_of(self, dict.text_mean.data(), {dict.text_mean.size()}));
      })
      .def("__repr__", [](const Dictionary& dict) {
        return "<concise.Dictionary " + std::to_string(dict.size()) + " concepts x " + std::to_string(dict.dim()) +
               (dict.model.empty() ? "" : ", " + dict.model) + (dict.image_mean.empty() ? "" : ", with image mean") + ">";
      });
}

}  // namespace concise::python
