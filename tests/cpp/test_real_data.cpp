#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "concise/core/dictionary.hpp"
#include "concise/core/npy.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/solvers/decomposer.hpp"

namespace concise {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

class RealData : public ::testing::TestWithParam<SolverKind> {
 protected:
  void SetUp() override {
    dir_ = fs::path(CONCISE_DATA_DIR) / "clip-vit-b32";
    if (!fs::exists(dir_ / "lvis_concepts.npy")) GTEST_SKIP() << "public CLIP data not found at " << dir_;
  }
  fs::path dir_;
};

TEST_P(RealData, LvisDecompositionOfSevenPhotos) {
  const Dictionary dict = Dictionary::build(read_npy_matrix((dir_ / "lvis_concepts.npy").string()),
                                            lines(dir_ / "lvis_concepts.txt"),
                                            read_npy_vector((dir_ / "image_mean.npy").string()));
  ASSERT_EQ(dict.size(), 1203);
  Matrix<float> raw = read_npy_matrix((dir_ / "image_embeddings.npy").string());
  const auto names = lines(dir_ / "image_embeddings.txt");
  Matrix<float> z = raw;
  center_embeddings(z.view(), dict.image_mean, [](std::int64_t r) { return std::to_string(r); });
  SolveOptions options;
  options.solver = GetParam();
  options.l1 = 0.25;
  SolveResult result;
  make_cpu_decomposer(dict.atoms.view(), options)->solve(z.view(), result);
  const Matrix<float> recomposed = recompose(result.codes, dict.atoms.view(), dict.image_mean);

  const std::map<std::string, std::string> expected_top = {
      {"123_456.jpg", "cat"}, {"456_123.jpg", "kitten"}, {"389_535.jpg", "street sign"}, {"321_421.jpg", "coconut"}};
  for (std::int64_t r = 0; r < z.rows(); ++r) {
    const auto i = static_cast<std::size_t>(r);
    const auto begin = result.codes.indptr[i], end = result.codes.indptr[i + 1];
    const std::int64_t l0 = end - begin;
    auto best = begin;
    for (auto p = begin; p < end; ++p)
      if (result.codes.data[static_cast<std::size_t>(p)] > result.codes.data[static_cast<std::size_t>(best)]) best = p;
    normalize(raw.row(r), raw.cols());
    const double cosine = dot(recomposed.row(r), raw.row(r), raw.cols());
    SCOPED_TRACE(names[i]);
    EXPECT_GE(l0, 3);
    EXPECT_LE(l0, 6);
    EXPECT_GE(cosine, 0.5);
    EXPECT_LE(cosine, 0.6);
    EXPECT_LE(result.gap[i], options.tol * result.objective[i]);
    auto it = expected_top.find(names[i]);
    if (it != expected_top.end()) {
      EXPECT_EQ(dict.concepts[static_cast<std::size_t>(result.codes.indices[static_cast<std::size_t>(best)])], it->second);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllSolvers, RealData,
                         ::testing::Values(SolverKind::Fista, SolverKind::Admm, SolverKind::WorkingSet),
                         [](const auto& param_info) { return to_string(param_info.param); });

}  // namespace
}  // namespace concise
