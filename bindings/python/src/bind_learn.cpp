// concise.DictionaryLearner's engine: online nonnegative dictionary learning over
// rows in memory (fit: epochs; partial_fit: one pass), the learned dictionary out.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>

#include "arrays.hpp"
#include "bindings.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/learn/describe.hpp"
#include "concise/learn/matrix_source.hpp"
#include "concise/learn/train.hpp"

namespace concise::python {

namespace {

class Learner {
 public:
  Learner(std::int64_t atoms, double l1, double tol, const std::string& solver, const std::string& device, int epochs,
          std::int64_t batch, std::uint64_t seed, double forget, std::optional<Dictionary> init,
          std::optional<HostVector> image_mean)
      : init_(std::move(init)) {
    options_.atoms = atoms;
    options_.solve.l1 = l1;
    options_.solve.tol = tol;
    options_.solve.solver = parse_solver(solver);
    options_.device = device;
    options_.epochs = epochs;
    options_.batch = batch;
    options_.seed = seed;
    options_.forget = forget;
    options_.validate();
    if (image_mean) mean_.assign(image_mean->data(), image_mean->data() + image_mean->shape(0));
    else if (init_) mean_ = init_->image_mean;
  }

  // Epochs over the rows from a fresh start; returns the mean objective per epoch.
  std::vector<double> fit(HostRows rows, bool preprocess, bool progress) {
    learn::MatrixSource source = source_of(rows);
    std::vector<double> objective;
    {
      nb::gil_scoped_release released;
      learner_ = make_learner(source.dim());
      const learn::RowReader reader{source, mean_, preprocess};
      learn::initialize_from_rows(*learner_, reader);
      learn::run_epochs(*learner_, reader, 0, options_.epochs, progress,
                        [&](const learn::EpochReport& r) { objective.push_back(r.objective); });
      describe(reader, progress);
    }
    return objective;
  }

  // One pass over the rows in mini-batches (the first call initializes from its first rows).
  double partial_fit(HostRows rows, bool preprocess) {
    learn::MatrixSource source = source_of(rows);
    nb::gil_scoped_release released;
    const learn::RowReader reader{source, mean_, preprocess};
    const Matrix<float> z = reader.read(0, source.rows());
    if (!learner_) {
      if (source.rows() < options_.atoms)
        throw InputError("the first partial_fit needs at least one row per atom: got " + std::to_string(source.rows()) +
                         " rows for " + std::to_string(options_.atoms) + " atoms");
      learner_ = make_learner(source.dim());
      learner_->initialize({z.data(), options_.atoms, source.dim()});
    }
    const learn::EpochReport report = learn::partial_fit(*learner_, z.view());
    std::vector<LearnedAtom> learned(static_cast<std::size_t>(options_.atoms));
    if (init_) name(learned);
    dictionary_ = learn::assemble_dictionary(*learner_, init_ ? &*init_ : nullptr, std::move(learned), mean_);
    return report.objective;
  }

  const Dictionary& dictionary() const {
    if (!dictionary_) throw InputError("the learner is not fitted yet: call fit or partial_fit first");
    return *dictionary_;
  }

  double final_objective() const { return final_.objective; }

 private:
  learn::MatrixSource source_of(HostRows rows) const {
    const auto n = static_cast<std::int64_t>(rows.shape(0)), d = static_cast<std::int64_t>(rows.shape(1));
    if (n == 0) throw InputError("input has no rows, expected at least one embedding");
    if (init_ && init_->dim() != d)
      throw InputError("embeddings have dimension " + std::to_string(d) + ", expected " + std::to_string(init_->dim()) +
                       " (the initial dictionary's)");
    if (!mean_.empty() && static_cast<std::int64_t>(mean_.size()) != d)
      throw InputError("the image mean has dimension " + std::to_string(mean_.size()) + ", expected " + std::to_string(d));
    if (learner_ && learner_->dim() != d)
      throw InputError("embeddings have dimension " + std::to_string(d) + ", expected " +
                       std::to_string(learner_->dim()) + " (what the learner was fitted on)");
    return learn::MatrixSource({rows.data(), n, d}, "input");
  }

  std::unique_ptr<learn::DictionaryLearner> make_learner(std::int64_t dim) const {
    return std::make_unique<learn::DictionaryLearner>(options_, init_ ? init_->atoms : Matrix<float>(), dim);
  }

  void name(std::vector<LearnedAtom>& learned) const {
    learn::name_by_vocabulary({learner_->atoms().row(learner_->fixed()), learner_->learned(), learner_->dim()}, *init_, 5,
                              learned);
  }

  void describe(const learn::RowReader& reader, bool progress) {
    learn::DescribeSettings settings;
    settings.vocabulary = init_ ? &*init_ : nullptr;
    settings.progress = progress;
    auto learned = learn::describe_learned_atoms(*learner_, reader, settings, final_);
    dictionary_ = learn::assemble_dictionary(*learner_, init_ ? &*init_ : nullptr, std::move(learned), mean_);
  }

  learn::LearnOptions options_;
  std::optional<Dictionary> init_;
  std::vector<float> mean_;
  std::unique_ptr<learn::DictionaryLearner> learner_;
  std::optional<Dictionary> dictionary_;
  learn::FinalPass final_;
};

nb::list learned_atoms(const Dictionary& dict) {
  nb::list out;
  for (const LearnedAtom& a : dict.learned) {
    nb::dict d;
    d["atom"] = a.atom;
    d["name"] = dict.concepts[static_cast<std::size_t>(a.atom)];
    d["usage"] = a.usage;
    d["nearest"] = a.nearest;
    d["nearest_cosine"] = a.nearest_cosine;
    d["top_rows"] = a.top_rows;
    d["top_weights"] = a.top_weights;
    out.append(d);
  }
  return out;
}

}  // namespace

void bind_learn(nb::module_& m) {
  nb::class_<Learner>(m, "Learner", "Online nonnegative dictionary learning (see concise.DictionaryLearner).")
      .def(nb::init<std::int64_t, double, double, const std::string&, const std::string&, int, std::int64_t,
                    std::uint64_t, double, std::optional<Dictionary>, std::optional<HostVector>>(),
           nb::arg("atoms"), nb::arg("l1"), nb::arg("tol"), nb::arg("solver"), nb::arg("device"), nb::arg("epochs"),
           nb::arg("batch"), nb::arg("seed"), nb::arg("forget"), nb::arg("init").none(), nb::arg("image_mean").none())
      .def("fit", &Learner::fit, nb::arg("rows").noconvert(), nb::arg("preprocess") = true, nb::arg("progress") = false)
      .def("partial_fit", &Learner::partial_fit, nb::arg("rows").noconvert(), nb::arg("preprocess") = true)
      .def_prop_ro("dictionary", &Learner::dictionary, nb::rv_policy::copy)
      .def_prop_ro("final_objective", &Learner::final_objective);
  m.def("learned_atoms", &learned_atoms, nb::arg("dictionary"),
        "The learned atoms' descriptions: atom, name, usage, nearest concepts and cosines, top rows and weights.");
  m.def("describe_atom", [](const Dictionary& dict, std::int64_t k) {
    if (k < 0 || k >= dict.size()) throw InputError("atom " + std::to_string(k) + " is out of range");
    return dict.describe_atom(k);
  }, nb::arg("dictionary"), nb::arg("atom"), "A concept's name, or 'learned_17 ~ {beach, surfboard, ocean}'.");
}

}  // namespace concise::python
