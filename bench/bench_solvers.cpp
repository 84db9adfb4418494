// In-process solver throughput (Google Benchmark). Every benchmark reports rows/s;
// "floor" is one FP32 pass of C z per row (an l1 so large that w = 0 certifies),
// the least work any exact solver must do (docs/DESIGN.md §1).
//
//   bench_solvers [--device cpu|cuda[:N]] [--solvers ws,ws-tf32,fista,admm] [--rows N,...]
//                 [--concepts 1000,10000] [--dims 512] [--gpu-batch 4096,16384] [--l1 L | --l0 K]
//                 [google benchmark flags]
// On the GPU the floor is one correlation GEMM per row (w = 0 certifies at once);
// "ws-tf32" is the working set with its correlation pass on TF32 tensor cores
// (SolveOptions::gpu_tf32).
// A benchmark that throws (no device, out of memory) is reported as an error row and
// the others still run; the exit status is then 2. Each result is flushed as it comes,
// so a run stopped by a timeout keeps the finished benchmarks in its JSON and console
// output.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "concise/core/synthetic.hpp"
#include "concise/engine/resources.hpp"

namespace {

using namespace concise;

struct Config {
  std::string device = "cpu";
  std::vector<std::string> solvers{"ws"};
  std::vector<std::int64_t> concepts{1000, 10000};
  std::vector<std::int64_t> dims{512};
  std::vector<std::int64_t> rows{200};
  std::vector<std::int64_t> gpu_batches{0};  // 0: the solver's own choice
  double l1 = 0.25, tol = 1e-4;
  int l0 = 0;  // > 0: target sparsity instead of l1 (the working set)
};

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) parts.push_back(part);
  return parts;
}

std::vector<std::int64_t> split_ints(const std::string& text) {
  std::vector<std::int64_t> values;
  for (const auto& part : split(text)) values.push_back(std::stoll(part));
  return values;
}

// Takes our flags out of argv and leaves Google Benchmark's.
Config parse_config(int& argc, char** argv) {
  Config config;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const bool has_value = i + 1 < argc;
    if (flag == "--device" && has_value) config.device = argv[++i];
    else if (flag == "--solvers" && has_value) config.solvers = split(argv[++i]);
    else if (flag == "--concepts" && has_value) config.concepts = split_ints(argv[++i]);
    else if (flag == "--dims" && has_value) config.dims = split_ints(argv[++i]);
    else if (flag == "--rows" && has_value) config.rows = split_ints(argv[++i]);
    else if (flag == "--gpu-batch" && has_value) config.gpu_batches = split_ints(argv[++i]);
    else if (flag == "--l1" && has_value) config.l1 = std::stod(argv[++i]);
    else if (flag == "--l0" && has_value) config.l0 = std::stoi(argv[++i]);
    else if (flag == "--tol" && has_value) config.tol = std::stod(argv[++i]);
    else argv[kept++] = argv[i];
  }
  argc = kept;
  return config;
}

// Problems are large to make; each (c, d, n) is built once and shared.
class ProblemCache {
 public:
  const SyntheticProblem& get(std::int64_t c, std::int64_t d, std::int64_t n) {
    auto& slot = problems_[{c, d, n}];
    if (!slot) {
      SyntheticSpec spec;
      spec.concepts = c;
      spec.dim = d;
      spec.rows = n;
      slot = std::make_unique<SyntheticProblem>(make_synthetic_problem(spec));
    }
    return *slot;
  }

 private:
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::unique_ptr<SyntheticProblem>> problems_;
};

void run_solver(benchmark::State& state, ProblemCache& cache, const Config& config, const std::string& solver,
                std::int64_t c, std::int64_t d, std::int64_t n, std::int64_t gpu_batch, double l1, int l0) {
  const Resources resources(config.device);  // first: a missing device fails before a large problem is made
  const SyntheticProblem& problem = cache.get(c, d, n);
  SolveOptions options;
  options.l1 = l1;
  options.tol = config.tol;
  const bool tf32 = solver == "ws-tf32";
  options.solver = parse_solver(tf32 ? "ws" : solver);
  options.gpu_tf32 = tf32;
  options.gpu_batch_rows = gpu_batch;
  options.l0 = l0;
  auto decomposer = resources.make_decomposer(problem.dict.atoms.view(), options);
  SolveResult result;
  decomposer->solve(problem.rows.view(), result);  // warm-up: allocations, device buffers
  for (auto _ : state) {
    decomposer->solve(problem.rows.view(), result);
    benchmark::DoNotOptimize(result.codes.data.data());
  }
  double atoms_kept = 0, iterations = 0;
  for (std::int64_t r = 0; r < n; ++r) {
    atoms_kept += static_cast<double>(result.codes.indptr[static_cast<std::size_t>(r) + 1] - result.codes.indptr[static_cast<std::size_t>(r)]);
    iterations += result.iterations[static_cast<std::size_t>(r)];
  }
  state.counters["rows/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["mean_l0"] = atoms_kept / static_cast<double>(n);
  state.counters["mean_iters"] = iterations / static_cast<double>(n);
  state.SetLabel(decomposer->name());
}

std::atomic<int> failed_benchmarks{0};

// run_solver, with what it throws reported as this benchmark's error.
void run_guarded(benchmark::State& state, ProblemCache& cache, const Config& config, const std::string& solver,
                 std::int64_t c, std::int64_t d, std::int64_t n, std::int64_t gpu_batch, double l1, int l0 = 0) {
  try {
    run_solver(state, cache, config, solver, c, d, n, gpu_batch, l1, l0);
  } catch (const std::exception& e) {
    ++failed_benchmarks;
    state.SkipWithError(e.what());
  }
}

// The JSON file reporter, flushed after every result.
class FlushingJsonReporter : public benchmark::JSONReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    JSONReporter::ReportRuns(runs);
    GetOutputStream().flush();
  }
};

// Whether argv asks for a JSON file (--benchmark_out, JSON being the default format).
bool wants_json_file(int argc, char** argv) {
  bool out = false, json = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--benchmark_out=", 0) == 0) out = arg.size() > std::strlen("--benchmark_out=");
    if (arg.rfind("--benchmark_out_format=", 0) == 0) json = arg == "--benchmark_out_format=json";
  }
  return out && json;
}

}  // namespace

int main(int argc, char** argv) try {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // the console table line by line, also into a pipe
  const Config config = parse_config(argc, argv);
  ProblemCache cache;
  for (auto c : config.concepts)
    for (auto d : config.dims)
      for (auto n : config.rows)
        for (auto batch : config.gpu_batches) {
          const std::string size = "/c=" + std::to_string(c) + "/d=" + std::to_string(d) + "/rows=" + std::to_string(n) +
                                   (batch > 0 ? "/gpu_batch=" + std::to_string(batch) : "");
          benchmark::RegisterBenchmark(("floor" + size).c_str(), [&cache, &config, c, d, n, batch](benchmark::State& state) {
            run_guarded(state, cache, config, "ws", c, d, n, batch, 1e6);
          })->Unit(benchmark::kMillisecond)->UseRealTime();
          for (const auto& solver : config.solvers)
            benchmark::RegisterBenchmark((solver + size).c_str(),
                                         [&cache, &config, solver, c, d, n, batch](benchmark::State& state) {
                                           run_guarded(state, cache, config, solver, c, d, n, batch, config.l1, config.l0);
                                         })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  FlushingJsonReporter json_file;
  if (wants_json_file(argc, argv)) benchmark::RunSpecifiedBenchmarks(nullptr, &json_file);
  else benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (failed_benchmarks > 0) {
    std::fprintf(stderr, "bench_solvers: %d benchmark(s) failed (error rows above)\n", failed_benchmarks.load());
    return 2;
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_solvers: %s\n", e.what());
  return 1;
}
