// Linked as an object into every executable and the Python module, which link
// OpenBLAS statically: a constructor of higher priority than OpenBLAS's own picks
// its kernels before it loads them (see blas_kernels.hpp).
#include "concise/solvers/blas_kernels.hpp"

namespace {
__attribute__((constructor(101))) void choose_openblas_kernels_early() { concise::cpu::choose_openblas_kernels(); }
}  // namespace
