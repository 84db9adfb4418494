#include "concise/engine/decompose_rows.hpp"

#include <algorithm>
#include <cmath>

#include "concise/solvers/threads.hpp"

namespace concise {

void decompose_rows(Decomposer& decomposer, const Dictionary& dict, const RowsInput& input, SolveResult& result,
                    CodeStats& stats) {
  const std::int64_t n = input.rows.rows, d = input.rows.cols;
  Matrix<float> centered;
  MatrixView<const float> z = input.rows;
  if (input.preprocess) {
    centered = Matrix<float>(n, d);
    std::copy_n(input.rows.data, input.rows.size(), centered.data());
    center_embeddings(centered.view(), dict.image_mean, input.name_row);
    z = centered.view();
  }
  decomposer.solve(z, result);

  // The stats are per row, on the solver's threads.
  const int threads = solver_threads(decomposer.options().threads);
  const std::vector<float> no_mean;
  const std::vector<float>& mean = input.preprocess ? dict.image_mean : no_mean;
  std::vector<float> cosine(static_cast<std::size_t>(n));
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> recomposed(static_cast<std::size_t>(d)), original(static_cast<std::size_t>(d));
#pragma omp for schedule(static)
    for (std::int64_t r = 0; r < n; ++r) {
      recompose_row(result.codes, r, dict.atoms.view(), mean, recomposed.data());
      std::copy_n(input.rows.row(r), d, original.begin());
      normalize(original.data(), d);
      cosine[static_cast<std::size_t>(r)] = static_cast<float>(dot(recomposed.data(), original.data(), d));
    }
  }
  collect_stats(result, dict.atoms.view(), decomposer.options().l1, std::move(cosine), stats, threads);
}

std::vector<float> centered_cosines(const SolveResult& result, MatrixView<const float> atoms, double l1, int threads) {
  const auto n = static_cast<std::int64_t>(result.gap.size());
  const std::int64_t d = atoms.cols;
  std::vector<float> out(static_cast<std::size_t>(n), 0.0f);
#pragma omp parallel num_threads(threads)
  {
    std::vector<double> y(static_cast<std::size_t>(d));
#pragma omp for schedule(static)
    for (std::int64_t row = 0; row < n; ++row) {
      const auto r = static_cast<std::size_t>(row);
      std::fill(y.begin(), y.end(), 0.0);
      double sum_w = 0;
      for (std::int64_t p = result.codes.indptr[r]; p < result.codes.indptr[r + 1]; ++p) {
        const double w = result.codes.data[static_cast<std::size_t>(p)];
        const float* atom = atoms.row(result.codes.indices[static_cast<std::size_t>(p)]);
        sum_w += w;
        for (std::int64_t i = 0; i < d; ++i) y[static_cast<std::size_t>(i)] += w * atom[i];
      }
      double yy = 0;
      for (double v : y) yy += v * v;
      if (yy <= 0) continue;
      // ||z||^2 = 1 and ||z - y||^2 = F(w) - l1 sum(w), so <y, z> = (1 + ||y||^2 - F(w) + l1 sum(w)) / 2.
      // With --l0 each row has its own lambda, and its objective is taken at that lambda.
      const double lambda = result.l1.size() == static_cast<std::size_t>(n) ? static_cast<double>(result.l1[r]) : l1;
      const double yz = 0.5 * (1.0 + yy - static_cast<double>(result.objective[r]) + lambda * sum_w);
      out[r] = static_cast<float>(std::clamp(yz / std::sqrt(yy), -1.0, 1.0));
    }
  }
  return out;
}

void collect_stats(const SolveResult& result, MatrixView<const float> atoms, double l1, std::vector<float> cosine,
                   CodeStats& stats, int threads) {
  const std::size_t n = result.gap.size();
  stats.resize(n);
  stats.cosine = std::move(cosine);
  stats.centered_cosine = centered_cosines(result, atoms, l1, threads);
  for (std::size_t i = 0; i < n; ++i)
    stats.l0[i] = static_cast<std::int32_t>(result.codes.indptr[i + 1] - result.codes.indptr[i]);
  stats.gap = result.gap;
  stats.objective = result.objective;
  stats.iterations = result.iterations;
  if (result.l1.size() == n) stats.l1 = result.l1;
  else stats.l1.assign(n, static_cast<float>(l1));
  if (result.at_limit.size() == n) stats.at_limit = result.at_limit;
}

}  // namespace concise
