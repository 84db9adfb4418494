// concise.DictionaryLearner's engine: online nonnegative dictionary learning over
// rows in memory (fit: epochs; partial_fit: one pass), the learned dictionary out.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>

#include "arrays.hpp"
#include "bindings.hpp"
#include "solve_options.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/learn/atom_updater.hpp"
#include "concise/learn/describe.hpp"
#include "concise/learn/matrix_source.hpp"
#include "concise/learn/train.hpp"
#include "concise/engine/resources.hpp"

namespace concise::python {

namespace {

class Learner {
 public:
  Learner(std::int64_t atoms, double l1, double tol, const std::string& solver, const std::string& device, int epochs,
          std::int64_t batch, std::uint64_t seed, double forget, std::optional<Dictionary> init,
          std::optional<HostVector> image_mean, int l0, double l0_ratio, std::int64_t chunk, int sweeps)
      : init_(std::move(init)) {
    options_.atoms = atoms;
    options_.solve = solve_options(l1, tol, solver, l0, l0_ratio);
    options_.chunk = chunk;
    options_.device = device;
    options_.epochs = epochs;
    options_.batch = batch;
    options_.seed = seed;
    options_.forget = forget;
    options_.sweeps = sweeps;
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

  static Matrix<float> matrix_of(const HostRows& m) {
    Matrix<float> out(static_cast<std::int64_t>(m.shape(0)), static_cast<std::int64_t>(m.shape(1)));
    std::copy_n(m.data(), out.values().size(), out.data());
    return out;
  }

  // Distributed learning's client side: the initial atoms from raw rows (one per atom, the
  // rows learn_initial_rows names), then whole batches from statistics summed elsewhere.
  void initialize_rows(HostRows rows, bool preprocess) {
    learn::MatrixSource source = source_of(rows);
    nb::gil_scoped_release released;
    learner_ = make_learner(source.dim());
    const learn::RowReader reader{source, mean_, preprocess};
    learner_->initialize(reader.read(0, source.rows()).view());
  }

  nb::ndarray<nb::numpy, float> atoms() const {
    if (!learner_) throw InputError("the learner has no atoms yet: initialize it first");
    const Matrix<float>& a = learner_->atoms();
    return to_numpy(std::vector<float>(a.values()),
                    {static_cast<std::size_t>(a.rows()), static_cast<std::size_t>(a.cols())});
  }

  // One batch-mode step: the statistics of every piece (added in piece order), the pieces'
  // tallies in the same order. Returns the mean objective per row and the atoms re-initialised.
  std::pair<double, std::int64_t> apply_batch(HostRows a, HostRows b, const nb::list& tallies) {
    if (!learner_) throw InputError("the learner has no atoms yet: initialize it first");
    learn::EpochTally tally(learner_->learned(), learner_->dim(), learn::kept_residuals(learner_->learned()));
    for (nb::handle piece : tallies) tally.merge(tally_of(nb::cast<nb::dict>(piece)));
    const Matrix<float> sa = matrix_of(a), sb = matrix_of(b);
    nb::gil_scoped_release released;
    learner_->apply_batch_statistics(sa, sb, true);
    const std::int64_t resampled = learner_->resample(tally, true);
    return {tally.objective / static_cast<double>(std::max<std::int64_t>(1, tally.rows)), resampled};
  }

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

  learn::EpochTally tally_of(const nb::dict& piece) const {
    learn::EpochTally tally(learner_->learned(), learner_->dim(), learn::kept_residuals(learner_->learned()));
    tally.rows = nb::cast<std::int64_t>(piece["rows"]);
    tally.objective = nb::cast<double>(piece["objective"]);
    tally.l0 = nb::cast<double>(piece["l0"]);
    tally.usage = nb::cast<std::vector<std::int64_t>>(piece["usage"]);
    const auto scores = nb::cast<std::vector<double>>(piece["kept_scores"]);
    const auto orders = nb::cast<std::vector<std::int64_t>>(piece["kept_orders"]);
    const auto residuals = nb::cast<HostRows>(piece["kept_residuals"]);
    if (static_cast<std::int64_t>(tally.usage.size()) != learner_->learned() || orders.size() != scores.size() ||
        residuals.shape(0) != scores.size() || (!scores.empty() && static_cast<std::int64_t>(residuals.shape(1)) != learner_->dim()))
      throw InputError("a piece's tally does not fit this learner (" + std::to_string(learner_->learned()) +
                       " learned atoms of dimension " + std::to_string(learner_->dim()) + ")");
    for (std::size_t i = 0; i < scores.size(); ++i)
      tally.offer_residual(scores[i], orders[i], residuals.data() + i * residuals.shape(1));
    return tally;
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

using HostIndices = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// A worker's share of a distributed batch: raw rows (one block of the epoch, read in file
// order and visited in `order`) coded over the broadcast atoms exactly as the single-process
// learner codes that block, with the block's statistics (from zero) and tally.
nb::dict learn_piece(HostRows atoms, std::int64_t fixed, HostRows rows, HostIndices order, std::int64_t first_order,
                     double l1, double tol, const std::string& solver, const std::string& device, int l0,
                     double l0_ratio, std::optional<HostVector> image_mean, bool preprocess) {
  const SolveOptions solve = learn::batch_coding(solve_options(l1, tol, solver, l0, l0_ratio));
  solve.validate();
  const auto total = static_cast<std::int64_t>(atoms.shape(0)), d = static_cast<std::int64_t>(atoms.shape(1));
  const auto n = static_cast<std::int64_t>(rows.shape(0));
  if (fixed < 0 || fixed >= total) throw InputError("fixed must be in [0, " + std::to_string(total) + ")");
  if (static_cast<std::int64_t>(rows.shape(1)) != d)
    throw InputError("rows have dimension " + std::to_string(rows.shape(1)) + ", expected " + std::to_string(d));
  if (static_cast<std::int64_t>(order.shape(0)) != n) throw InputError("order must hold one index per row");
  std::vector<std::int64_t> visit(order.data(), order.data() + n);
  for (const std::int64_t i : visit)
    if (i < 0 || i >= n) throw InputError("order holds row " + std::to_string(i) + ", out of range");
  std::vector<float> mean;
  if (image_mean) mean.assign(image_mean->data(), image_mean->data() + image_mean->shape(0));
  const std::int64_t learned = total - fixed;
  Matrix<float> a, b;
  learn::EpochTally tally(learned, d, learn::kept_residuals(learned));
  {
    nb::gil_scoped_release released;
    const learn::MatrixSource source({rows.data(), n, d}, "rows");
    const learn::RowReader reader{source, mean, preprocess};
    const Matrix<float> z = learn::shuffled_rows(reader.read(0, n), visit);
    const MatrixView<const float> dictionary{atoms.data(), total, d};
    SolveResult result;
    Resources(solving_device(device, solve.l0)).make_decomposer(dictionary, solve)->solve(z.view(), result);
    learn::piece_statistics(result.codes, z.view(), fixed, learned, a, b);
    learn::tally_rows(result, dictionary, fixed, z.view(), first_order, tally);
  }
  std::vector<double> scores;
  std::vector<std::int64_t> orders;
  std::vector<float> residuals;
  for (const auto& k : tally.kept()) {
    scores.push_back(k.score);
    orders.push_back(k.order);
    residuals.insert(residuals.end(), k.r.begin(), k.r.end());
  }
  const std::size_t kept = scores.size();
  nb::dict out;
  out["a"] = to_numpy(std::move(a.values()), {static_cast<std::size_t>(learned), static_cast<std::size_t>(total)});
  out["b"] = to_numpy(std::move(b.values()), {static_cast<std::size_t>(learned), static_cast<std::size_t>(d)});
  out["rows"] = tally.rows;
  out["objective"] = tally.objective;
  out["l0"] = tally.l0;
  out["usage"] = to_numpy(std::move(tally.usage));
  out["kept_scores"] = to_numpy(std::move(scores));
  out["kept_orders"] = to_numpy(std::move(orders));
  out["kept_residuals"] = to_numpy(std::move(residuals), {kept, static_cast<std::size_t>(d)});
  return out;
}

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
                    std::uint64_t, double, std::optional<Dictionary>, std::optional<HostVector>, int, double, std::int64_t,
                    int>(),
           nb::arg("atoms"), nb::arg("l1"), nb::arg("tol"), nb::arg("solver"), nb::arg("device"), nb::arg("epochs"),
           nb::arg("batch"), nb::arg("seed"), nb::arg("forget"), nb::arg("init").none(), nb::arg("image_mean").none(),
           nb::arg("l0") = 0, nb::arg("l0_ratio") = 0.9, nb::arg("chunk") = 0, nb::arg("sweeps") = 1)
      .def("fit", &Learner::fit, nb::arg("rows").noconvert(), nb::arg("preprocess") = true, nb::arg("progress") = false)
      .def("partial_fit", &Learner::partial_fit, nb::arg("rows").noconvert(), nb::arg("preprocess") = true)
      .def_prop_ro("dictionary", &Learner::dictionary, nb::rv_policy::copy)
      .def_prop_ro("final_objective", &Learner::final_objective)
      .def("initialize_rows", &Learner::initialize_rows, nb::arg("rows").noconvert(), nb::arg("preprocess") = true)
      .def_prop_ro("atoms", &Learner::atoms, nb::rv_policy::move)
      .def("apply_batch", &Learner::apply_batch, nb::arg("a").noconvert(), nb::arg("b").noconvert(), nb::arg("tallies"));
  m.def("learn_piece", &learn_piece, nb::arg("atoms").noconvert(), nb::arg("fixed"), nb::arg("rows").noconvert(),
        nb::arg("order").noconvert(), nb::arg("first_order"), nb::arg("l1"), nb::arg("tol"), nb::arg("solver"),
        nb::arg("device"), nb::arg("l0"), nb::arg("l0_ratio"), nb::arg("image_mean").none(), nb::arg("preprocess"),
        "Codes one block of a distributed batch as the learner would and returns its statistics and tally.");
  m.def("learn_update_atoms", [](HostRows atoms, std::int64_t fixed, HostRows a, HostRows b, int max_sweeps) {
    const auto total = static_cast<std::int64_t>(atoms.shape(0)), d = static_cast<std::int64_t>(atoms.shape(1));
    if (fixed < 0 || fixed >= total) throw InputError("fixed must be in [0, " + std::to_string(total) + ")");
    const std::int64_t learned = total - fixed;
    if (static_cast<std::int64_t>(a.shape(0)) != learned || static_cast<std::int64_t>(a.shape(1)) != total ||
        static_cast<std::int64_t>(b.shape(0)) != learned || static_cast<std::int64_t>(b.shape(1)) != d)
      throw InputError("a must be " + std::to_string(learned) + " x " + std::to_string(total) + " and b " +
                       std::to_string(learned) + " x " + std::to_string(d));
    Matrix<float> moved = Learner::matrix_of(atoms);
    auto updater = learn::make_cpu_atom_updater(fixed, learned, d);
    updater->write_statistics(Learner::matrix_of(a), Learner::matrix_of(b));
    learn::sweep_until_still(*updater, moved.view(), max_sweeps);
    return to_numpy(std::move(moved.values()), {static_cast<std::size_t>(total), static_cast<std::size_t>(d)});
  }, nb::arg("atoms").noconvert(), nb::arg("fixed"), nb::arg("a").noconvert(), nb::arg("b").noconvert(),
        nb::arg("max_sweeps") = 50,
        "The learner's batch-mode atom step on statistics A and B: sweeps until no coordinate moves by 1e-6.");
  m.def("learn_initial_rows", &learn::initial_rows, nb::arg("n"), nb::arg("k"), nb::arg("seed"),
        "The rows whose values become the initial learned atoms (as DictionaryLearner.fit picks them).");
  m.def("learn_block_rows", [](std::int64_t chunk, std::int64_t total_atoms) {
    learn::LearnOptions options;
    options.chunk = chunk;
    return learn::block_rows(options, total_atoms);
  }, nb::arg("chunk"), nb::arg("total_atoms"), "Rows the learner reads and codes at once.");
  m.def("learn_epoch_order", [](std::int64_t n, std::int64_t block, std::uint64_t seed, int epoch) {
    nb::list out;
    for (learn::EpochBlock& b : learn::epoch_order(n, block, seed, epoch))
      out.append(nb::make_tuple(b.first, b.count, to_numpy(std::move(b.order))));
    return out;
  }, nb::arg("n"), nb::arg("block"), nb::arg("seed"), nb::arg("epoch"),
        "An epoch's blocks (first row, rows, visiting order) as the learner visits them.");
  m.def("learned_atoms", &learned_atoms, nb::arg("dictionary"),
        "The learned atoms' descriptions: atom, name, usage, nearest concepts and cosines, top rows and weights.");
  m.def("describe_atom", [](const Dictionary& dict, std::int64_t k) {
    if (k < 0 || k >= dict.size()) throw InputError("atom " + std::to_string(k) + " is out of range");
    return dict.describe_atom(k);
  }, nb::arg("dictionary"), nb::arg("atom"), "A concept's name, or 'learned_17 ~ {beach, surfboard, ocean}'.");
}

}  // namespace concise::python
