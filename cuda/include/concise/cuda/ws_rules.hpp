#pragma once
// The GPU working set's per-row decisions, written once for the host and the device:
// the kernels call them, and the CPU unit tests (tests/cpp/test_device_rules.cpp) run
// them in CI. Thresholds, margins and the certificate themselves come from
// concise/solvers/rules.hpp, shared with the CPU fast path.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "concise/solvers/host_device.hpp"
#include "concise/solvers/rules.hpp"

namespace concise::cuda::ws {

// A row's set holds at most the batch's capacity of atoms, with its Gram block
// (capacity x capacity) grown from the atoms as they enter; no c x c matrix exists.
// The capacity doubles when a row that still has violators fills its set.
constexpr int kInitialCapacity = 128;
constexpr int kMaxCapacity = 1024;
// As the CPU fast path: the first set takes the 64 best violators; later the set at
// least doubles (at least 64 atoms) while violators remain.
constexpr int kInitialAtoms = 64;
constexpr int kGrowth = 64;

CONCISE_HOST_DEVICE inline int next_capacity(int capacity) {
  const int doubled = 2 * capacity;
  return doubled < kMaxCapacity ? doubled : kMaxCapacity;
}

// How many atoms a row with `size` atoms (after pruning) asks for.
CONCISE_HOST_DEVICE inline int atoms_wanted(int size, bool first_pass) {
  if (first_pass) return kInitialAtoms;
  return size > kGrowth ? size : kGrowth;
}

// The atoms a row adds: what it wants, as far as its capacity has room.
CONCISE_HOST_DEVICE inline int atoms_to_add(int size, int capacity, bool first_pass) {
  const int room = capacity > size ? capacity - size : 0;
  const int wanted = atoms_wanted(size, first_pass);
  return wanted < room ? wanted : room;
}

// Candidates for the set: above the violation threshold lambda/2 on the first pass
// (as the CPU), above the near-violation threshold afterwards. Only a violator above
// lambda/2 makes the row grow at all.
CONCISE_HOST_DEVICE inline double candidate_threshold(double l1, bool first_pass) {
  return first_pass ? rules::violation_threshold(l1) : rules::near_violation_threshold(l1);
}

// Target sparsity (l0 > 0), as the CPU fast path: a set keeps at least 2 l0 of the
// best-correlated atoms, so that its walk down the lambda grid can pass l0. The first
// pass takes the max(64, 2 l0) best; later passes grow as with a lambda while
// violators remain (by at most the `near` atoms above the near-violation threshold,
// as the CPU takes them) and top the set up to 2 l0 in any case. Every atom of
// positive correlation is a candidate, the best first, so the atoms taken are those
// the CPU takes. Sets start large enough for 2 l0 atoms and their growth.
CONCISE_HOST_DEVICE inline double candidates_above(double l1, int l0, bool first_pass) {
  return l0 > 0 ? 0.0 : candidate_threshold(l1, first_pass);
}
CONCISE_HOST_DEVICE inline int target_atoms_to_add(int size, int capacity, bool first_pass, bool violated, int l0,
                                                   int near) {
  const int room = capacity > size ? capacity - size : 0;
  int wanted = 0;
  if (first_pass) {
    wanted = kInitialAtoms > 2 * l0 ? kInitialAtoms : 2 * l0;
  } else {
    const int most = atoms_wanted(size, false);
    const int grow = violated ? (near < most ? near : most) : 0, top_up = 2 * l0 - size;
    wanted = grow > top_up ? grow : top_up;
  }
  return wanted < room ? wanted : room;
}
// The largest target sparsity the GPU takes: 2 l0 atoms and a growth step fit the
// largest capacity.
constexpr int kMaxTargetAtoms = (kMaxCapacity - kGrowth) / 2;
CONCISE_HOST_DEVICE inline int initial_capacity(int l0) {
  int capacity = kInitialCapacity;
  while (capacity < 2 * l0 + kGrowth && capacity < kMaxCapacity) capacity *= 2;
  return capacity;
}

// A key whose unsigned order is the order of the floats (negative ones included), so
// that the k-th largest correlation is found by bisection on integers: exact, and
// tied correlations (duplicate atoms) are resolved, never skipped.
CONCISE_HOST_DEVICE inline std::uint32_t order_key(float x) {
#if defined(__CUDA_ARCH__)
  const std::uint32_t bits = __float_as_uint(x);
#else
  std::uint32_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
#endif
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// Which of two candidates enters first: the larger correlation, and on a tie the lower
// atom index, so the chosen set never depends on thread timing.
CONCISE_HOST_DEVICE inline bool ranks_before(float g_a, std::int32_t a, float g_b, std::int32_t b) {
  return g_a > g_b || (g_a == g_b && a < b);
}

// The TF32 candidate pass (SolveOptions::gpu_tf32): g = C r from TF32 tensor cores is
// within bound = rules::tf32_dot_error(d) A ||r|| of the exact C r (A the largest atom
// norm), and is refined before anything reads it: every atom whose TF32 value reaches
// the floor below gets its value recomputed in float64 (stored as float). Then every
// atom that may be a candidate (exactly above `lowest`) or the row's maximum holds its
// exact value, and every other atom lies below both, so selection and certificate
// are those of exact correlations. Why 2 bounds: the TF32 maximum may overstate the
// exact one by a bound, and the atom of the exact maximum may read a bound low.
CONCISE_HOST_DEVICE inline double tf32_pass_bound(std::int64_t d, double max_atom_norm, double rr) {
  return rules::tf32_dot_error(d) * max_atom_norm * sqrt(rr) * (1.0 + 1e-6);
}
CONCISE_HOST_DEVICE inline double refine_floor(double lowest, float tf32_max, double bound) {
  const double candidates = lowest - bound, maximum = static_cast<double>(tf32_max) - 2.0 * bound;
  return candidates < maximum ? candidates : maximum;
}

// The certificate's dual point comes from the float64 residual r64 (its terms), the
// certified maximum from r64 stored in float32 for the GEMM: |<C_k, r - r64>| <=
// ||C_k|| 2^-24 ||r64||, which the maximum takes on so that the gap stays an upper bound.
CONCISE_HOST_DEVICE inline double float_residual_slack(double max_atom_norm, double rr) {
  return max_atom_norm * sqrt(rr) * 5.9604644775390625e-8;
}

// Coordinate descent on the set's problem  min w^T G w - 2 b^T w + l1 sum(w), w >= 0:
// the minimizer in w_j with the others fixed, given gram_w = (G w)_j.
CONCISE_HOST_DEVICE inline float coordinate_step(float w, float gram_w, float b, float diagonal, float l1) {
  const float d = diagonal > 1e-12f ? diagonal : 1e-12f;
  const float next = w - (gram_w - b + 0.5f * l1) / d;
  return next > 0.0f ? next : 0.0f;
}

// Sweeps stop when no weight moved by more than tol times the largest weight. The
// tolerance starts loose and tightens while the set stays the same, down to what
// float32 resolves (24 bits: 6e-8 relative; 1e-6 leaves room for the sums' rounding).
constexpr float kFirstSweepTol = 1e-4f;
constexpr float kFinestSweepTol = 1e-6f;
CONCISE_HOST_DEVICE inline bool sweep_settled(float largest_step, float largest_weight, float tol) {
  return largest_step <= tol * largest_weight;
}
CONCISE_HOST_DEVICE inline float tighter_sweep_tol(float tol) {
  const float next = 0.01f * tol;
  return next > kFinestSweepTol ? next : kFinestSweepTol;
}
CONCISE_HOST_DEVICE inline bool at_finest_sweep_tol(float tol) { return tol <= kFinestSweepTol; }
// Sweeps per solve. Large, correlated sets converge slowly: at the finest tolerance a
// set gets a longer budget before its row is judged stalled.
constexpr int kSweeps = 1000;
constexpr int kFinestSweeps = 20000;
CONCISE_HOST_DEVICE inline int max_sweeps(float tol) { return at_finest_sweep_tol(tol) ? kFinestSweeps : kSweeps; }

// What a row that is not certified does after its violators were looked for. Every
// row progresses (grows, or solves its set tighter) or stops with its honest gap.
enum class RowStep : std::uint8_t {
  Grow,          // atoms were added: solve the larger set
  NeedCapacity,  // violators remain but the set is full: the batch's capacity must grow
  Tighten,       // no violator: the set is right, solve it to a tighter tolerance
  StopFull,      // violators remain, the set is full at the largest capacity: stop, at limit
  StopStalled,   // no violator at the finest tolerance, yet not certified: stop, at limit
};

CONCISE_HOST_DEVICE inline RowStep next_step(bool violated, int added, int capacity, float sweep_tol) {
  if (violated) {
    if (added > 0) return RowStep::Grow;
    return capacity < kMaxCapacity ? RowStep::NeedCapacity : RowStep::StopFull;
  }
  return at_finest_sweep_tol(sweep_tol) ? RowStep::StopStalled : RowStep::Tighten;
}

CONCISE_HOST_DEVICE inline bool stops(RowStep step) {
  return step == RowStep::StopFull || step == RowStep::StopStalled;
}

// Target sparsity. The sets are solved by float32 coordinate descent, not exactly as
// on the CPU: stopped at a loose sweep tolerance, a solution may keep atoms of tiny
// weight that the exact one has not. A count beyond K sends a row back only once its
// set was solved at the finest tolerance.
CONCISE_HOST_DEVICE inline bool support_count_settled(float sweep_tol) { return at_finest_sweep_tol(sweep_tol); }
// A row that stops (stalled, or full) at a point whose solution holds more than K
// atoms is beyond K there: it goes back towards its best point instead of ending with
// it, since float32 cannot certify every point a large set reaches.
CONCISE_HOST_DEVICE inline bool stalled_beyond_target(double support, int l0) { return support > l0; }

// Device bytes of one row's set at `capacity` (atoms, weights, correlations, size and
// Gram block), twice: dropping rows gathers into a spare of the same size.
CONCISE_HOST_DEVICE inline std::int64_t set_bytes(std::int64_t capacity) {
  return 2 * (12 * capacity + 4 * capacity * capacity + 4);
}
// Device bytes a batch row holds: z and its spare, r (d floats each), the correlations
// g (c floats), its set at `capacity`, and per-row numbers.
CONCISE_HOST_DEVICE inline std::int64_t bytes_per_row(std::int64_t c, std::int64_t d, std::int64_t capacity) {
  return 4 * (c + 3 * d) + set_bytes(capacity) + 64;
}

}  // namespace concise::cuda::ws
