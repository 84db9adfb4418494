#pragma once
#include <cstdint>

#include "concise/core/sparse.hpp"
#include "gpu_context.hpp"

namespace concise::cuda {

// Appends the positive entries of w (rows x c, on the device) to `out` as CSR rows:
// per-row counts, a CUB exclusive scan for the offsets, then an ordered fill.
void append_csr(GpuContext& ctx, const float* w, std::int64_t rows, std::int64_t c, SparseRows& out);

}  // namespace concise::cuda
