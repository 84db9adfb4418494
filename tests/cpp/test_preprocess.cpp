#include <gtest/gtest.h>

#include <cmath>

#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"

namespace concise {
namespace {

RowNamer namer() {
  return [](std::int64_t r) { return "file 'x.npy', row " + std::to_string(r); };
}

TEST(Preprocess, CentersEmbeddingsTheSpliceWay) {
  Matrix<float> e(1, 3);
  e.row(0)[0] = 3;
  e.row(0)[1] = 4;
  e.row(0)[2] = 0;
  const std::vector<float> mu = {0.1f, 0.2f, 0.0f};
  center_embeddings(e.view(), mu, namer());
  // normalize((0.6, 0.8, 0) - mu) = (0.5, 0.6, 0) / sqrt(0.61)
  const float n = std::sqrt(0.61f);
  EXPECT_NEAR(e.row(0)[0], 0.5f / n, 1e-6f);
  EXPECT_NEAR(e.row(0)[1], 0.6f / n, 1e-6f);
  EXPECT_EQ(e.row(0)[2], 0.0f);
}

TEST(Preprocess, CentersAtomsAndReturnsTheirMean) {
  Matrix<float> t(2, 2);
  t.row(0)[0] = 2;  // normalizes to (1, 0)
  t.row(1)[1] = 5;  // normalizes to (0, 1)
  const auto mean = center_atoms(t.view(), namer());
  EXPECT_NEAR(mean[0], 0.5f, 1e-7f);
  EXPECT_NEAR(mean[1], 0.5f, 1e-7f);
  EXPECT_NEAR(t.row(0)[0], 1 / std::sqrt(2.0f), 1e-6f);
  EXPECT_NEAR(t.row(0)[1], -1 / std::sqrt(2.0f), 1e-6f);
}

TEST(Preprocess, RejectsNonFiniteAndZeroRowsNamingThem) {
  Matrix<float> e(3, 2, 1.0f);
  e.row(2)[1] = std::nanf("");
  try {
    center_embeddings(e.view(), {}, namer());
    FAIL() << "expected an InputError";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("file 'x.npy', row 2: contains NaN or Inf"), std::string::npos) << err.what();
  }
  Matrix<float> zero(2, 2, 1.0f);
  zero.row(1)[0] = zero.row(1)[1] = 0.0f;
  EXPECT_THROW(center_embeddings(zero.view(), {}, namer()), InputError);
}

TEST(Preprocess, RecomposeAddsTheMeanBack) {
  Matrix<float> atoms(2, 2);
  atoms.row(0)[0] = 1;
  atoms.row(1)[1] = 1;
  SparseRows codes;
  codes.cols = 2;
  codes.indices = {1};
  codes.data = {0.3f};
  codes.indptr = {0, 1};
  const auto out = recompose(codes, atoms.view(), {1.0f, 0.0f});
  // normalize(normalize((0, 0.3)) + (1, 0)) = (1, 1) / sqrt(2)
  EXPECT_NEAR(out.row(0)[0], 1 / std::sqrt(2.0f), 1e-6f);
  EXPECT_NEAR(out.row(0)[1], 1 / std::sqrt(2.0f), 1e-6f);
}

}  // namespace
}  // namespace concise
