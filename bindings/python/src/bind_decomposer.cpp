#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "arrays.hpp"
#include "bindings.hpp"
#include "solve_options.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/cuda/plugin.hpp"
#include "concise/engine/backends.hpp"
#include "concise/engine/decompose_rows.hpp"
#include "concise/engine/device.hpp"
#include "concise/engine/jobs.hpp"
#include "concise/engine/resources.hpp"

namespace concise::python {

namespace {

using IndexArray = nb::ndarray<const std::int64_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using ColumnArray = nb::ndarray<const std::int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using WeightArray = nb::ndarray<const float, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// Raises KeyboardInterrupt (or whatever a signal handler raised) between chunks.
void check_signals() {
  nb::gil_scoped_acquire held;
  if (PyErr_CheckSignals() != 0) throw nb::python_error();
}

// SpLiCE's recompose_image for CSR codes: normalize(normalize(C^T w) + image mean).
nb::ndarray<nb::numpy, float> recompose_codes(Resources& resources, const Dictionary& dict, IndexArray indptr, ColumnArray indices,
                                              WeightArray data, bool add_image_mean) {
  if (indptr.shape(0) == 0) throw InputError("codes have no indptr, expected rows + 1 offsets");
  SparseRows codes;
  codes.cols = dict.size();
  codes.indptr.assign(indptr.data(), indptr.data() + indptr.shape(0));
  codes.indices.assign(indices.data(), indices.data() + indices.shape(0));
  codes.data.assign(data.data(), data.data() + data.shape(0));
  const auto nnz = static_cast<std::int64_t>(codes.indices.size());
  if (codes.indptr.front() != 0 || codes.indptr.back() != nnz || codes.data.size() != codes.indices.size())
    throw InputError("codes are not a valid CSR matrix: indptr must run from 0 to nnz = " + std::to_string(nnz));
  for (std::size_t r = 1; r < codes.indptr.size(); ++r)
    if (codes.indptr[r] < codes.indptr[r - 1])
      throw InputError("codes are not a valid CSR matrix: indptr decreases at row " + std::to_string(r - 1));
  for (auto k : codes.indices)
    if (k < 0 || k >= dict.size())
      throw InputError("codes refer to concept " + std::to_string(k) + ", expected 0.." + std::to_string(dict.size() - 1) +
                       " (the dictionary's)");
  Matrix<float> dense;
  {
    nb::gil_scoped_release released;
    dense = resources.recompose(dict, codes, add_image_mean);
  }
  const auto rows = static_cast<std::size_t>(dense.rows()), cols = static_cast<std::size_t>(dense.cols());
  return to_numpy(std::move(dense.values()), {rows, cols});
}

class Solver {
 public:
  Solver(const Dictionary& dict, double l1, double tol, const std::string& solver, const std::string& device,
         int max_iterations, int l0, double l0_ratio, int max_rounds, int threads)
      : dict_(dict), resources_(solving_device(device, l0)) {
    SolveOptions options = solve_options(l1, tol, solver, l0, l0_ratio);
    options.device = device;
    options.max_iterations = max_iterations;
    options.max_rounds = max_rounds;
    options.threads = threads;
    decomposer_ = resources_.make_decomposer(dict.atoms.view(), options);
  }

  std::string name() const { return decomposer_->name(); }
  bool on_cuda() const { return resources_.on_cuda(); }
  std::string device() const { return resources_.device().to_string(); }

  // SpLiCE's recompose_image on this decomposer's device (atoms stay on the GPU between calls).
  nb::ndarray<nb::numpy, float> recompose(IndexArray indptr, ColumnArray indices, WeightArray data, bool add_image_mean) {
    return guarded([&] { return recompose_codes(resources_, dict_, indptr, indices, data, add_image_mean); });
  }

  // The rows are read where they are; only a chunk-sized scratch holds preprocessed rows.
  nb::tuple solve(HostRows rows, bool preprocess, std::int64_t chunk) {
    return guarded([&] { return solve_host(rows, preprocess, chunk); });
  }

  // Rows in GPU memory (a CUDA tensor), read in place by the GPU decomposer once
  // `stream` (the cudaStream_t that wrote them, 0: the legacy default stream) has done so.
  nb::tuple solve_cuda(CudaRows rows, bool preprocess, std::int64_t chunk, std::uintptr_t stream) {
    return guarded([&] { return solve_device(rows, preprocess, chunk, stream); });
  }

 private:
  // After a sticky CUDA fault the GPU context is unusable: this object says so on
  // every later call rather than failing somewhere deeper.
  template <class Call>
  auto guarded(Call call) -> decltype(call()) {
    {
      std::lock_guard<std::mutex> lock(lost_mutex_);
      if (!lost_.empty())
        throw Error("this Decomposer can no longer be used: its GPU failed earlier (" + lost_ +
                    "); create a new one in a new process");
    }
    try {
      return call();
    } catch (const std::exception& e) {
      if (cuda::reports_lost_context(e.what())) {
        std::lock_guard<std::mutex> lock(lost_mutex_);
        lost_ = e.what();
      }
      throw;
    }
  }

  nb::tuple solve_host(HostRows rows, bool preprocess, std::int64_t chunk) {
    return solve_chunks(static_cast<std::int64_t>(rows.shape(0)), static_cast<std::int64_t>(rows.shape(1)), chunk,
                        [&](std::int64_t first, std::int64_t count, SolveResult& result, CodeStats& stats) {
                          const RowsInput input{{rows.data() + first * dict_.dim(), count, dict_.dim()}, preprocess,
                                                [first](std::int64_t r) { return "input row " + std::to_string(first + r); }};
                          decompose_rows(*decomposer_, dict_, input, result, stats);
                        });
  }

  nb::tuple solve_device(CudaRows rows, bool preprocess, std::int64_t chunk, std::uintptr_t stream) {
    if (!resources_.on_cuda())
      throw InputError("the rows are on a GPU but this decomposer runs on the CPU; pick device='cuda'");
    if (rows.device_id() != resources_.device().index)
      throw InputError("the rows are on cuda:" + std::to_string(rows.device_id()) + ", the decomposer on " +
                       resources_.device().to_string());
    return solve_chunks(static_cast<std::int64_t>(rows.shape(0)), static_cast<std::int64_t>(rows.shape(1)), chunk,
                        [&](std::int64_t first, std::int64_t count, SolveResult& result, CodeStats& stats) {
                          std::vector<float> cosine;
                          resources_.decompose_device_rows(
                              *decomposer_, dict_, {rows.data() + first * dict_.dim(), count, dict_.dim()},
                              preprocess, [first](std::int64_t r) { return "input row " + std::to_string(first + r); },
                              result, cosine, stream);
                          collect_stats(result, dict_.atoms.view(), decomposer_->options().l1, std::move(cosine),
                                        stats);
                        });
  }

  // Runs solve_chunk over chunks of the n rows with the GIL released, checking for
  // Ctrl-C between chunks, and gathers the CSR parts and stats.
  template <class SolveChunk>
  nb::tuple solve_chunks(std::int64_t n, std::int64_t d, std::int64_t chunk, SolveChunk solve_chunk) {
    if (n == 0) throw InputError("input has no rows, expected at least one embedding");
    if (d != dict_.dim())
      throw InputError("embeddings have dimension " + std::to_string(d) + ", expected " + std::to_string(dict_.dim()) +
                       " (the dictionary's)");
    if (chunk <= 0) chunk = default_chunk_rows(dict_.size());
    std::vector<std::int64_t> indptr{0};
    std::vector<std::int32_t> indices;
    std::vector<float> data;
    CodeStats all;
    all.resize(static_cast<std::size_t>(n));
    {
      nb::gil_scoped_release released;
      SolveResult result;
      CodeStats stats;
      for (std::int64_t first = 0; first < n; first += chunk) {
        const std::int64_t count = std::min(chunk, n - first);
        solve_chunk(first, count, result, stats);
        const std::int64_t base = indptr.back();
        for (std::size_t r = 1; r < result.codes.indptr.size(); ++r) indptr.push_back(base + result.codes.indptr[r]);
        indices.insert(indices.end(), result.codes.indices.begin(), result.codes.indices.end());
        data.insert(data.end(), result.codes.data.begin(), result.codes.data.end());
        const auto at = static_cast<std::ptrdiff_t>(first);
        std::copy(stats.l0.begin(), stats.l0.end(), all.l0.begin() + at);
        std::copy(stats.cosine.begin(), stats.cosine.end(), all.cosine.begin() + at);
        std::copy(stats.centered_cosine.begin(), stats.centered_cosine.end(), all.centered_cosine.begin() + at);
        std::copy(stats.gap.begin(), stats.gap.end(), all.gap.begin() + at);
        std::copy(stats.objective.begin(), stats.objective.end(), all.objective.begin() + at);
        std::copy(stats.iterations.begin(), stats.iterations.end(), all.iterations.begin() + at);
        std::copy(stats.l1.begin(), stats.l1.end(), all.l1.begin() + at);
        std::copy(stats.at_limit.begin(), stats.at_limit.end(), all.at_limit.begin() + at);
        if (first + count < n) check_signals();
      }
    }
    nb::dict stats;
    stats["l0"] = to_numpy(std::move(all.l0));
    stats["cosine"] = to_numpy(std::move(all.cosine));
    stats["centered_cosine"] = to_numpy(std::move(all.centered_cosine));
    stats["gap"] = to_numpy(std::move(all.gap));
    stats["objective"] = to_numpy(std::move(all.objective));
    stats["iterations"] = to_numpy(std::move(all.iterations));
    stats["l1"] = to_numpy(std::move(all.l1));
    std::vector<std::uint8_t> at_limit = std::move(all.at_limit);
    stats["at_limit"] = to_numpy(std::move(at_limit));
    return nb::make_tuple(to_numpy(std::move(indptr)), to_numpy(std::move(indices)), to_numpy(std::move(data)), stats);
  }

  const Dictionary& dict_;
  Resources resources_;
  std::unique_ptr<Decomposer> decomposer_;
  std::mutex lost_mutex_;
  std::string lost_;  // the error that lost the GPU context; empty while it works
};

}  // namespace

void bind_decomposer(nb::module_& m) {
  const SolveOptions defaults;
  nb::class_<Solver>(m, "Solver", "A decomposer bound to one dictionary, solver and device (see concise.Decomposer).")
      .def(nb::init<const Dictionary&, double, double, const std::string&, const std::string&, int, int, double, int,
                    int>(),
           nb::arg("dictionary"), nb::arg("l1") = defaults.l1, nb::arg("tol") = defaults.tol,
           nb::arg("solver") = to_string(defaults.solver), nb::arg("device") = defaults.device,
           nb::arg("max_iterations") = defaults.max_iterations, nb::arg("l0") = defaults.l0,
           nb::arg("l0_ratio") = defaults.l0_ratio, nb::arg("max_rounds") = defaults.max_rounds,
           nb::arg("threads") = defaults.threads, nb::keep_alive<1, 2>())
      .def_prop_ro("name", &Solver::name)
      .def_prop_ro("device", &Solver::device, "The resolved device, e.g. \"cpu\" or \"cuda:0\".")
      .def("recompose", &Solver::recompose, nb::arg("indptr"), nb::arg("indices"), nb::arg("data"),
           nb::arg("add_image_mean") = true)
      .def("solve", &Solver::solve, nb::arg("rows").noconvert(), nb::arg("preprocess") = true, nb::arg("chunk") = 0,
           "rows: n x d float32, C-contiguous, on the CPU. Returns (indptr, indices, data, stats).")
      .def("solve_cuda", &Solver::solve_cuda, nb::arg("rows").noconvert(), nb::arg("preprocess") = true,
           nb::arg("chunk") = 0, nb::arg("stream") = 0,
           "rows: n x d float32, C-contiguous, in GPU memory on the decomposer's device (read in place) once "
           "`stream` (a cudaStream_t as an int, e.g. torch.cuda.current_stream().cuda_stream) has written them.")
      .def_prop_ro("on_cuda", [](const Solver& s) { return s.on_cuda(); });
  m.def("buffer_address", [](HostRows rows) { return reinterpret_cast<std::uintptr_t>(rows.data()); },
        nb::arg("rows").noconvert(), "Where the solver would read these rows (tests use it to prove there is no copy).");
  m.def("cuda_available", [] { return Resources("auto").on_cuda(); },
        "Whether the CUDA backend plugin loads and sees a GPU.");
  m.def("solve_defaults", [defaults] {
        nb::dict d;
        d["l1"] = defaults.l1;
        d["tol"] = defaults.tol;
        d["solver"] = to_string(defaults.solver);
        d["device"] = defaults.device;
        d["max_iterations"] = defaults.max_iterations;
        d["l0_ratio"] = defaults.l0_ratio;
        d["max_rounds"] = defaults.max_rounds;
        d["threads"] = defaults.threads;
        return d;
      }, "The solver options' defaults, which every layer of concise shares.");
  m.def("parse_device", [](const std::string& text) { return parse_device(text).to_string(); }, nb::arg("device"),
        "The canonical name of a device (\"auto\", \"cpu\" or \"cuda:N\"); a bad one raises ValueError.");
  m.def("backends", [] {
        nb::list out;
        for (const auto& r : probe_backends()) {
          nb::dict d;
          d["name"] = r.name;
          d["what"] = r.what;
          d["usable"] = r.usable;
          d["status"] = r.status;
          out.append(d);
        }
        return out;
      }, "Each backend (cpu, the CUDA plugin, the LibTorch encoder plugin): usable, and its devices or why not.");
}

}  // namespace concise::python
