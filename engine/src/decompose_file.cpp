#include <chrono>
#include <cstdio>
#include <cstring>

#include "concise/core/codes_file.hpp"
#include "concise/core/error.hpp"
#include "concise/core/progress.hpp"
#include "concise/engine/decompose_rows.hpp"
#include "concise/engine/jobs.hpp"
#include "concise/engine/resources.hpp"
#include "concise/solvers/decomposer.hpp"
#include "concise/solvers/rules.hpp"

namespace concise {
namespace {
constexpr std::size_t kRowsNamed = 10;  // rows a summary names when they stopped on a limit

// How a person reads each atom, kept in the codes file when the dictionary has learned
// atoms ("learned_17 ~ {beach, surfboard, ocean}"), so that explain needs no dictionary.
std::vector<std::string> concept_descriptions(const Dictionary& dict) {
  if (dict.learned.empty()) return {};
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(dict.size()));
  for (std::int64_t k = 0; k < dict.size(); ++k) out.push_back(dict.describe_atom(k));
  return out;
}
}  // namespace

std::int64_t default_chunk_rows(std::int64_t concepts) {
  // About 16M floats per rows x concepts work array, in multiples of 64 rows.
  const std::int64_t rows = (std::int64_t{1} << 24) / std::max<std::int64_t>(1, concepts);
  return std::max<std::int64_t>(64, std::min<std::int64_t>(4096, rows / 64 * 64));
}

DecomposeSummary decompose_file(const DecomposeJob& job, const Dictionary& dict) {
  job.options.validate();
  if (job.chunk < 0) throw InputError("--chunk must be 1 row or more, got " + std::to_string(job.chunk));
  auto source = open_embeddings(job.input, job.dataset);
  if (source->dim() != dict.dim())
    throw InputError(source->describe() + ": embeddings have dimension " + std::to_string(source->dim()) +
                     ", expected " + std::to_string(dict.dim()) + " (the dictionary's)");
  const Resources resources(solving_device(job.options.device, job.options.l0));
  auto decomposer = resources.make_decomposer(dict.atoms.view(), job.options);

  CodesRunInfo info;
  info.rows = source->rows();
  info.concepts = dict.size();
  info.l1 = job.options.l1;
  info.tol = job.options.tol;
  info.l0 = job.options.l0;
  info.l0_ratio = job.options.l0 > 0 ? job.options.l0_ratio : 0.0;
  info.max_rounds = job.options.max_rounds;
  info.solver = resolved_solver(*decomposer);  // what ran, so a resume cannot switch algorithm
  info.device = resources.device().to_string();
  info.dictionary_fingerprint = dict.fingerprint;
  info.source = source->describe();
  CodesWriter writer(job.output, info, dict.concepts);

  DecomposeSummary summary;
  summary.rows = source->rows();
  summary.resumed = writer.resumed();
  summary.solver = decomposer->name();
  summary.device = resources.describe();
  summary.l0 = job.options.l0;
  const std::int64_t chunk = job.chunk > 0 ? job.chunk : default_chunk_rows(dict.size());
  Progress progress("decompose", source->rows(), writer.rows_done(), job.progress);
  const auto start = std::chrono::steady_clock::now();
  double l0_sum = 0, cosine_sum = 0, centered_sum = 0, l1_sum = 0;
  std::int64_t chunks = 0;
  SolveResult result;
  while (writer.rows_done() < source->rows()) {
    if (job.max_chunks > 0 && chunks == job.max_chunks) break;
    const std::int64_t first = writer.rows_done();
    const std::int64_t count = std::min(chunk, source->rows() - first);
    Matrix<float> raw(count, dict.dim());
    source->read(first, count, raw.data());
    CodeStats stats;
    decompose_rows(*decomposer, dict, {raw.view(), true, [&](std::int64_t r) { return source->describe_row(first + r); }},
                   result, stats);
    for (std::int64_t r = 0; r < count; ++r) {
      const auto i = static_cast<std::size_t>(r);
      l0_sum += stats.l0[i];
      cosine_sum += stats.cosine[i];
      centered_sum += stats.centered_cosine[i];
      l1_sum += stats.l1[i];
      if (stats.at_limit[i] || !rules::reported_converged(result.gap[i], result.objective[i], job.options.tol)) {
        ++summary.not_converged;
        if (summary.first_not_converged.size() < kRowsNamed) summary.first_not_converged.push_back(first + r);
      }
    }
    writer.append(result.codes, stats);
    summary.rows_this_run += count;
    ++chunks;
    progress.advance(count);
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  summary.rows_done = writer.rows_done();
  if (summary.rows_this_run > 0) {
    summary.mean_l0 = l0_sum / static_cast<double>(summary.rows_this_run);
    summary.mean_cosine = cosine_sum / static_cast<double>(summary.rows_this_run);
    summary.mean_centered_cosine = centered_sum / static_cast<double>(summary.rows_this_run);
    summary.mean_l1 = l1_sum / static_cast<double>(summary.rows_this_run);
  }
  if (writer.rows_done() == source->rows()) {
    writer.finish(source->row_names(), concept_descriptions(dict));
    summary.complete = true;
  }
  progress.finish();
  return summary;
}

}  // namespace concise
