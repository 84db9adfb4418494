#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"
#include "solve_options.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/engine/jobs.hpp"

namespace concise::python {

namespace nb = nanobind;

namespace {

nb::dict decompose_file_py(const std::string& input, const Dictionary& dict, const std::string& output,
                           const std::string& dataset, double l1, double tol, const std::string& solver,
                           const std::string& device, std::int64_t chunk, bool progress, int l0, double l0_ratio,
                           int max_rounds, int threads) {
  DecomposeJob job;
  job.input = input;
  job.dataset = dataset;
  job.output = output;
  job.options = solve_options(l1, tol, solver, l0, l0_ratio);
  job.options.max_rounds = max_rounds;
  job.options.threads = threads;
  job.options.device = device;
  job.chunk = chunk;
  job.progress = progress;
  DecomposeSummary s;
  {
    nb::gil_scoped_release released;
    s = decompose_file(job, dict);
  }
  nb::dict summary;
  summary["rows"] = s.rows;
  summary["rows_this_run"] = s.rows_this_run;
  summary["resumed"] = s.resumed;
  summary["complete"] = s.complete;
  summary["seconds"] = s.seconds;
  summary["mean_l0"] = s.mean_l0;
  summary["mean_cosine"] = s.mean_cosine;
  summary["mean_centered_cosine"] = s.mean_centered_cosine;
  summary["not_converged"] = s.not_converged;
  summary["first_not_converged"] = s.first_not_converged;
  summary["mean_l1"] = s.mean_l1;
  summary["solver"] = s.solver;
  summary["device"] = s.device;
  return summary;
}

}  // namespace

void bind_files(nb::module_& m) {
  const SolveOptions defaults;
  m.def("decompose_file", &decompose_file_py, nb::arg("input"), nb::arg("dictionary"), nb::arg("output"),
        nb::arg("dataset") = std::string(kDefaultEmbeddingDataset), nb::arg("l1") = defaults.l1,
        nb::arg("tol") = defaults.tol, nb::arg("solver") = to_string(defaults.solver),
        nb::arg("device") = defaults.device, nb::arg("chunk") = 0, nb::arg("progress") = false,
        nb::arg("l0") = defaults.l0, nb::arg("l0_ratio") = defaults.l0_ratio,
        nb::arg("max_rounds") = defaults.max_rounds, nb::arg("threads") = defaults.threads);
  m.def("recompose_file", &recompose_file, nb::arg("codes"), nb::arg("dictionary"), nb::arg("zero"), nb::arg("output"),
        nb::arg("device") = defaults.device, nb::call_guard<nb::gil_scoped_release>());
}

}  // namespace concise::python
