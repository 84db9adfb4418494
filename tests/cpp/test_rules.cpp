// The shared rules (rules.hpp) on known numbers: both backends decide by them.
#include <gtest/gtest.h>

#include <cmath>

#include "concise/solvers/rules.hpp"

namespace concise {
namespace {

TEST(Rules, CertificateMatchesTheDefinition) {
  // rr = 0.5, rz = 0.6, sum_w = 0.4, max_g = 0.25, l1 = 0.2: s = 0.1 / 0.25 = 0.4
  const Certificate c = rules::certify(GapTerms{0.5, 0.6, 0.4, 0.25}, 0.2);
  EXPECT_NEAR(c.dual_scale, 0.4, 1e-15);
  EXPECT_NEAR(c.objective, 0.58, 1e-15);
  EXPECT_NEAR(c.gap, 1.16 * 0.5 + 0.08 - 0.8 * 0.6, 1e-15);
  EXPECT_FALSE(c.converged(1e-4));
  // max_g <= lambda/2 keeps s = 1; a negative raw gap is clamped to 0.
  const Certificate at_optimum = rules::certify(GapTerms{0.5, 0.6, 0.0, 0.05}, 0.2);
  EXPECT_EQ(at_optimum.dual_scale, 1.0);
  EXPECT_EQ(at_optimum.gap, 0.0);
  EXPECT_TRUE(at_optimum.converged(1e-9));
  EXPECT_EQ(rules::certify(GapTerms{0.5, 0.6, 0.4, -1.0}, 0.2).dual_scale, 1.0);
}

TEST(Rules, ReportedConvergenceAllowsOnlyFloatRounding) {
  EXPECT_TRUE(rules::reported_converged(1e-5f, 0.1f, 1e-4));
  EXPECT_TRUE(rules::reported_converged(1.0000001e-5f, 0.1f, 1e-4));
  EXPECT_FALSE(rules::reported_converged(1.001e-5f, 0.1f, 1e-4));
  EXPECT_FALSE(rules::reported_converged(std::nanf(""), 0.1f, 1e-4));
}

TEST(Rules, ZeroOptimumAndViolationThresholds) {
  EXPECT_TRUE(rules::zero_is_optimal(0.1, 0.2));
  EXPECT_FALSE(rules::zero_is_optimal(0.1000001, 0.2));
  EXPECT_DOUBLE_EQ(rules::violation_threshold(0.5), 0.25);
  EXPECT_DOUBLE_EQ(rules::near_violation_threshold(0.5), 0.25 * (1 - rules::kNearViolation));
  EXPECT_LT(rules::near_violation_threshold(0.5), rules::violation_threshold(0.5));
}

TEST(Rules, GapSafeScreening) {
  const Certificate cert{1.0, 0.01, 0.5};  // s = 0.5, sqrt(gap) = 0.1
  // 0.5 * g + 0.1 * norm < lambda/2 = 0.1
  EXPECT_TRUE(rules::screened_out(0.1, 0.49, cert, 0.1, 0.2));
  EXPECT_FALSE(rules::screened_out(0.1, 0.5, cert, 0.1, 0.2));  // exactly at the threshold: kept
  EXPECT_FALSE(rules::screened_out(0.1, 0.51, cert, 0.1, 0.2));
  EXPECT_TRUE(rules::screened_out(-1.0, 1.0, cert, 0.1, 0.2));
}

TEST(Rules, CertifiedMaximumMarginScalesWithTheMaximum) {
  EXPECT_FLOAT_EQ(rules::certified_max_margin(0.5f), 1e-4f);
  EXPECT_FLOAT_EQ(rules::certified_max_margin(-0.5f), 1e-4f);
  EXPECT_FLOAT_EQ(rules::certified_max_margin(20.0f), 2e-3f);
}

TEST(Rules, AfterACertifiedGridPointTheRowTakesTheSmallestLambdaWithinK) {
  using rules::GridStep;
  EXPECT_EQ(rules::after_certified_grid_point(true, false, 3, 2), GridStep::Next);
  EXPECT_EQ(rules::after_certified_grid_point(true, true, 3, 2), GridStep::GridEnd);
  EXPECT_EQ(rules::after_certified_grid_point(false, false, 4, 3), GridStep::FinishBest);
  EXPECT_EQ(rules::after_certified_grid_point(false, false, 1, 0), GridStep::FinishBest);  // beyond K at once: w = 0
  EXPECT_EQ(rules::after_certified_grid_point(false, false, 6, 3), GridStep::Back);  // the set's walk went too far
  EXPECT_EQ(rules::after_certified_grid_point(false, true, 6, 3), GridStep::Back);
}

TEST(Rules, LambdaGridOfTargetSparsity) {
  EXPECT_DOUBLE_EQ(rules::lambda_max(0.3), 0.6);
  EXPECT_DOUBLE_EQ(rules::lambda_max(-0.1), 0.0);
  EXPECT_DOUBLE_EQ(rules::grid_lambda(0.3, 0.9, 0), 0.6);
  EXPECT_NEAR(rules::grid_lambda(0.3, 0.9, 3), 0.6 * 0.729, 1e-15);
  // At lambda_max itself w = 0 is optimal, just below it is not.
  EXPECT_TRUE(rules::zero_is_optimal(0.3, rules::grid_lambda(0.3, 0.9, 0)));
  EXPECT_FALSE(rules::zero_is_optimal(0.3, rules::grid_lambda(0.3, 0.9, 1)));
  // The grid ends before lambdas below the smallest useful one.
  EXPECT_FALSE(rules::grid_ends_before(0.3, 0.9, 10));
  int j = 0;
  while (!rules::grid_ends_before(0.3, 0.9, j + 1)) ++j;
  EXPECT_GE(rules::grid_lambda(0.3, 0.9, j), rules::kSmallestUsefulL1);
  EXPECT_LT(rules::grid_lambda(0.3, 0.9, j + 1), rules::kSmallestUsefulL1);
}

}  // namespace
}  // namespace concise
