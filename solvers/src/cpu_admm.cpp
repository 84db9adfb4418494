// Batched ADMM with the Woodbury identity (docs/DESIGN.md §1):
//   (2 C C^T + rho I)^-1 = (1/rho) [I - C (rho/2 I_d + C^T C)^-1 C^T]
// so the only factorization is d x d. Over-relaxation and residual-balanced rho;
// the feasible iterate w (the nonnegative split variable) carries the gap.
#include <cmath>
#include <cstring>

#include "cpu_batch_state.hpp"
#include "cpu_blas.hpp"
#include "cpu_solvers.hpp"

namespace concise::cpu {
namespace {

enum Plane { kW = 0, kU = 1, kQ = 2, kB = 3 };
constexpr float kRelaxation = 1.6f;

class CpuAdmm final : public CpuSolverBase {
 public:
  CpuAdmm(MatrixView<const float> atoms, const SolveOptions& options) : CpuSolverBase(atoms, options) {
    const std::int64_t d = atoms.cols;
    ctc_.resize(static_cast<std::size_t>(d * d));
    gram_ata(atoms.data, ctc_.data(), atoms.rows, d);
    // Start rho at the mean nonzero eigenvalue of 2 C C^T.
    double trace = 0;
    for (std::int64_t i = 0; i < d; ++i) trace += ctc_[static_cast<std::size_t>(i * d + i)];
    initial_rho_ = std::max(1e-3, 2.0 * trace / static_cast<double>(d));
  }
  std::string name() const override { return "cpu/admm"; }

 protected:
  void solve_rows(RowProblem& p) override;

 private:
  std::vector<float> factor(double rho) const {
    const std::int64_t d = atoms_.cols;
    std::vector<float> k(ctc_);
    for (std::int64_t i = 0; i < d; ++i) k[static_cast<std::size_t>(i * d + i)] += static_cast<float>(0.5 * rho);
    cholesky(k.data(), d);
    return k;
  }
  std::vector<float> ctc_;
  double initial_rho_ = 1.0;
};

void CpuAdmm::solve_rows(RowProblem& p) {
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  const double l1 = options_.l1;
  BatchState s(p.rows, atoms_, 4);
  for (std::int64_t i = 0; i < s.rows(); ++i)
    std::memcpy(s.plane_row(kB, i), p.b.row(s.row_id(i)), sizeof(float) * static_cast<std::size_t>(c));
  double rho = initial_rho_;
  std::vector<float> chol = factor(rho);
  std::vector<float> y, x, z, r;
  double primal = 0, dual = 0;

  for (int it = 1; it <= options_.max_iterations && s.rows() > 0; ++it) {
    const std::int64_t na = s.rows();
    const auto frho = static_cast<float>(rho);
    // q = 2 b + rho (w - u);  x = (q - C (K^-1 C^T q)) / rho
    float* q = s.plane(kQ);
    for (std::int64_t e = 0; e < na * c; ++e) q[e] = 2.0f * s.plane(kB)[e] + frho * (s.plane(kW)[e] - s.plane(kU)[e]);
    y.resize(static_cast<std::size_t>(na * d));
    gemm_ab(q, atoms_.data, y.data(), na, d, c, 1.0f, 0.0f);
    cholesky_solve_rows(chol.data(), y.data(), d, na);
    x.assign(q, q + na * c);
    gemm_abt(y.data(), atoms_.data, x.data(), na, c, d, -1.0f / frho, 1.0f / frho);

    primal = dual = 0;
#pragma omp parallel for schedule(static) reduction(+ : primal, dual)
    for (std::int64_t i = 0; i < na; ++i) {
      float* w = s.plane_row(kW, i);
      float* u = s.plane_row(kU, i);
      const float* xi = x.data() + i * c;
      const auto shrink = static_cast<float>(l1 / rho);
      for (std::int64_t k = 0; k < c; ++k) {
        const float relaxed = kRelaxation * xi[k] + (1.0f - kRelaxation) * w[k];
        const float next = std::max(0.0f, relaxed + u[k] - shrink);
        u[k] += relaxed - next;
        primal += static_cast<double>(xi[k] - next) * (xi[k] - next);
        dual += static_cast<double>(next - w[k]) * (next - w[k]);
        w[k] = next;
      }
    }

    const bool last = it == options_.max_iterations;
    if (it % options_.check_every != 0 && !last) continue;
    z.resize(static_cast<std::size_t>(na * d));
    for (std::int64_t i = 0; i < na; ++i)
      std::memcpy(z.data() + i * d, p.z.row(s.row_id(i)), sizeof(float) * static_cast<std::size_t>(d));
    r.resize(static_cast<std::size_t>(na * d));
    residuals(z.data(), s.plane(kW), atoms_.data, r.data(), na, c, d);
    gemm_abt(r.data(), atoms_.data, q, na, c, d, 1.0f, 0.0f);  // q now holds g = C r
    std::vector<std::uint8_t> leaving(static_cast<std::size_t>(na), 0);
    for (std::int64_t i = 0; i < na; ++i) {
      const float* w = s.plane_row(kW, i);
      GapTerms t = residual_terms(z.data() + i * d, r.data() + i * d, d);
      for (std::int64_t k = 0; k < c; ++k) t.sum_w += w[k];
      t.max_g = certified_max(q + i * c, c, r.data() + i * d, atoms_.data, d);
      const Certificate cert = certify(t, l1);
      if (cert.converged(options_.tol) || last) {
        leaving[static_cast<std::size_t>(i)] = 1;
        record_iterative(p, s.row_id(i), cert, it);
        store_dense(p, s.row_id(i), w, s.atoms(), s.atom_ids());
      }
    }
    s.drop_rows(leaving);
    // Residual balancing (Boyd et al. 3.4.1): keep primal and dual residuals within 10x.
    const double primal_norm = std::sqrt(primal), dual_norm = rho * std::sqrt(dual);
    double scale = 1.0;
    if (primal_norm > 10.0 * dual_norm) scale = 2.0;
    if (dual_norm > 10.0 * primal_norm) scale = 0.5;
    if (scale != 1.0 && s.rows() > 0) {
      rho *= scale;
      for (std::int64_t e = 0; e < s.rows() * c; ++e) s.plane(kU)[e] /= static_cast<float>(scale);
      chol = factor(rho);
    }
  }
}

}  // namespace

std::unique_ptr<Decomposer> make_cpu_admm(MatrixView<const float> atoms, const SolveOptions& options) {
  return std::make_unique<CpuAdmm>(atoms, options);
}

}  // namespace concise::cpu
