#pragma once
// The dictionary step of online dictionary learning, one interface with a CPU
// reference (here) and a GPU twin (cuda/dictionary_update.hpp, which declares the
// interface so that the CUDA backend needs nothing from this library).
#include <cstdint>
#include <memory>

#include "concise/cuda/dictionary_update.hpp"
#include "concise/engine/resources.hpp"

namespace concise::learn {

using AtomUpdater = cuda::DictionaryUpdater;

// A's learned block with at most this share of nonzero entries (a few mini-batches per atom: each
// row's code adds l0^2 entries) is swept by its nonzeros, else by GEMMs; the two ways agree to
// rounding. The choice depends on A alone, so a resumed run and distributed learning make it alike.
inline constexpr double kSparseSweepDensity = 0.125;

std::unique_ptr<AtomUpdater> make_cpu_atom_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim,
                                                   double sparse_density = kSparseSweepDensity);
// The CPU reference or the GPU twin, by the resources' device.
std::unique_ptr<AtomUpdater> make_atom_updater(std::int64_t fixed, std::int64_t learned, std::int64_t dim,
                                               const Resources& resources);
// The CPU updater keeps R = B - A D from batch to batch; this makes its next update recompute
// R from the statistics and atoms (a resumed run recomputes it too, so both go on bit for bit).
// The GPU twin recomputes R every sweep and has nothing to forget.
void forget_kept_residual(AtomUpdater& updater);

}  // namespace concise::learn
