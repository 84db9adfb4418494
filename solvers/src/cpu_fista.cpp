// Batched projected FISTA with adaptive restart (O'Donoghue and Candes), per-row
// stopping on the certified gap and gap-safe screening that shrinks the GEMMs.
#include <cmath>
#include <cstring>

#include "cpu_batch_state.hpp"
#include "cpu_blas.hpp"
#include "cpu_solvers.hpp"

namespace concise::cpu {
namespace {

enum Plane { kW = 0, kY = 1, kG = 2 };

class CpuFista final : public CpuSolverBase {
 public:
  CpuFista(MatrixView<const float> atoms, const SolveOptions& options)
      : CpuSolverBase(atoms, options), lipschitz_(2.0 * spectral_norm_squared(atoms)) {}
  std::string name() const override { return "cpu/fista"; }

 protected:
  void solve_rows(RowProblem& p) override;

 private:
  void gather_z(const RowProblem& p, const BatchState& s, std::vector<float>& z) const {
    const std::int64_t d = atoms_.cols;
    z.resize(static_cast<std::size_t>(s.rows() * d));
    for (std::int64_t i = 0; i < s.rows(); ++i)
      std::memcpy(z.data() + i * d, p.z.row(s.row_id(i)), sizeof(float) * static_cast<std::size_t>(d));
  }
  // Certifies the finishing rows against the whole dictionary and writes them out.
  void finish_rows(RowProblem& p, BatchState& s, const std::vector<std::uint8_t>& leaving, std::int32_t iteration);

  double lipschitz_;
};

void CpuFista::finish_rows(RowProblem& p, BatchState& s, const std::vector<std::uint8_t>& leaving,
                           std::int32_t iteration) {
  const std::int64_t c = atoms_.rows, d = atoms_.cols;
  std::vector<std::int64_t> local;
  for (std::int64_t i = 0; i < s.rows(); ++i)
    if (leaving[static_cast<std::size_t>(i)]) local.push_back(i);
  const auto m = static_cast<std::int64_t>(local.size());
  if (m == 0) return;  // nothing to certify (and memcpy of an empty vector's null data is undefined)
  std::vector<float> z(static_cast<std::size_t>(m * d)), w(static_cast<std::size_t>(m * c), 0.0f),
      r(static_cast<std::size_t>(m * d)), g(static_cast<std::size_t>(m * c));
  for (std::int64_t j = 0; j < m; ++j) {
    const std::int64_t row = s.row_id(local[static_cast<std::size_t>(j)]);
    std::memcpy(z.data() + j * d, p.z.row(row), sizeof(float) * static_cast<std::size_t>(d));
    const float* compact = s.plane_row(kW, local[static_cast<std::size_t>(j)]);
    for (std::int64_t k = 0; k < s.atoms(); ++k) w[static_cast<std::size_t>(j * c + s.atom_id(k))] = compact[k];
    store_dense(p, row, compact, s.atoms(), s.atom_ids());
  }
  residuals(z.data(), w.data(), atoms_.data, r.data(), m, c, d);
  gemm_abt(r.data(), atoms_.data, g.data(), m, c, d, 1.0f, 0.0f);
  for (std::int64_t j = 0; j < m; ++j) {
    GapTerms t = residual_terms(z.data() + j * d, r.data() + j * d, d);
    for (std::int64_t k = 0; k < c; ++k) t.sum_w += w[static_cast<std::size_t>(j * c + k)];
    t.max_g = certified_max(g.data() + j * c, c, r.data() + j * d, atoms_.data, d);
    record_iterative(p, s.row_id(local[static_cast<std::size_t>(j)]), certify(t, options_.l1), iteration);
  }
}

void CpuFista::solve_rows(RowProblem& p) {
  const std::int64_t d = atoms_.cols;
  const double step = 1.0 / lipschitz_;
  const auto l1 = options_.l1;
  BatchState s(p.rows, atoms_, 3);
  for (auto& t : s.row_scalars()) t = 1.0;
  std::vector<float> z, r;
  gather_z(p, s, z);

  for (int it = 1; it <= options_.max_iterations && s.rows() > 0; ++it) {
    const std::int64_t na = s.rows(), ca = s.atoms();
    r.resize(static_cast<std::size_t>(na * d));
    residuals(z.data(), s.plane(kY), s.dictionary(), r.data(), na, ca, d);
    gemm_abt(r.data(), s.dictionary(), s.plane(kG), na, ca, d, 1.0f, 0.0f);

#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < na; ++i) {
      float* w = s.plane_row(kW, i);
      float* y = s.plane_row(kY, i);
      float* g = s.plane_row(kG, i);  // becomes the new iterate
      const std::uint8_t* screened = s.screened_row(i);
      const auto gain = static_cast<float>(2.0 * step), shrink = static_cast<float>(step * l1);
      double restart = 0;
      for (std::int64_t k = 0; k < ca; ++k) {
        const float next = screened[k] ? 0.0f : std::max(0.0f, y[k] + gain * g[k] - shrink);
        restart += static_cast<double>(y[k] - next) * (next - w[k]);
        g[k] = next;
      }
      double& t = s.row_scalars()[static_cast<std::size_t>(i)];
      if (restart > 0) {
        t = 1.0;
        std::memcpy(y, g, sizeof(float) * static_cast<std::size_t>(ca));
      } else {
        const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
        const auto beta = static_cast<float>((t - 1.0) / t_next);
        for (std::int64_t k = 0; k < ca; ++k) y[k] = g[k] + beta * (g[k] - w[k]);
        t = t_next;
      }
      std::memcpy(w, g, sizeof(float) * static_cast<std::size_t>(ca));
    }

    const bool last = it == options_.max_iterations;
    if (it % options_.check_every != 0 && !last) continue;
    residuals(z.data(), s.plane(kW), s.dictionary(), r.data(), na, ca, d);
    gemm_abt(r.data(), s.dictionary(), s.plane(kG), na, ca, d, 1.0f, 0.0f);
    std::vector<std::uint8_t> leaving(static_cast<std::size_t>(na), 0);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < na; ++i) {
      const float* w = s.plane_row(kW, i);
      const float* g = s.plane_row(kG, i);
      GapTerms t = residual_terms(z.data() + i * d, r.data() + i * d, d);
      for (std::int64_t k = 0; k < ca; ++k) t.sum_w += w[k];
      t.max_g = certified_max(g, ca, r.data() + i * d, s.dictionary(), d);
      const Certificate cert = certify(t, l1);
      if (cert.converged(options_.tol) || last) {
        leaving[static_cast<std::size_t>(i)] = 1;
      } else if (options_.screening) {
        const double radius = std::sqrt(cert.gap);
        std::uint8_t* screened = s.screened_row(i);
        float* y = s.plane_row(kY, i);
        float* wm = s.plane_row(kW, i);
        for (std::int64_t k = 0; k < ca; ++k) {
          if (!screened[k] && screened_out(g[k], atom_norms_[static_cast<std::size_t>(s.atom_id(k))], cert, radius, l1)) {
            screened[k] = 1;
            wm[k] = y[k] = 0.0f;
          }
        }
      }
    }
    finish_rows(p, s, leaving, it);
    s.drop_rows(leaving);
    if (options_.screening) s.compact_atoms();
    gather_z(p, s, z);
  }
}

}  // namespace

std::unique_ptr<Decomposer> make_cpu_fista(MatrixView<const float> atoms, const SolveOptions& options) {
  return std::make_unique<CpuFista>(atoms, options);
}

}  // namespace concise::cpu
