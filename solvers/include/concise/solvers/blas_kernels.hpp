#pragma once
// OpenBLAS (0.3.21, as Debian ships it) picks its kernels once, when it loads, from
// the CPU model; on CPUs newer than it knows it falls back to its SSE3 (Prescott)
// kernels, three times slower here. choose_openblas_kernels() names the kernels
// the CPU's features allow in OPENBLAS_CORETYPE (unless the user set it), and must
// run before OpenBLAS initializes: binaries that link OpenBLAS statically (the
// default) link concise::openblas_early, a constructor of higher priority than
// OpenBLAS's own. (A shared libopenblas initializes before any constructor of the
// executable, and glibc resets the environment after .preinit_array runs, so
// only OPENBLAS_CORETYPE set by the user helps there.)
namespace concise::cpu {

// "SkylakeX" (AVX-512), "Haswell" (AVX2 + FMA) or nullptr.
const char* openblas_core_for_this_cpu();
void choose_openblas_kernels();

}  // namespace concise::cpu
