#include "concise/engine/decompose_rows.hpp"

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

  const std::vector<float> no_mean;
  const Matrix<float> recomposed = recompose(result.codes, dict.atoms.view(), input.preprocess ? dict.image_mean : no_mean);
  std::vector<float> cosine(static_cast<std::size_t>(n));
  std::vector<float> original(static_cast<std::size_t>(d));
  for (std::int64_t r = 0; r < n; ++r) {
    std::copy_n(input.rows.row(r), d, original.begin());
    normalize(original.data(), d);
    cosine[static_cast<std::size_t>(r)] = static_cast<float>(dot(recomposed.row(r), original.data(), d));
  }
  collect_stats(result, std::move(cosine), decomposer.options().l1, stats);
}

void collect_stats(const SolveResult& result, std::vector<float> cosine, double l1, CodeStats& stats) {
  const std::size_t n = result.gap.size();
  stats.resize(n);
  stats.cosine = std::move(cosine);
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
