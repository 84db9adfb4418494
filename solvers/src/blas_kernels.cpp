#include "concise/solvers/blas_kernels.hpp"

#include <cstdlib>

namespace concise::cpu {

const char* openblas_core_for_this_cpu() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

void choose_openblas_kernels() {
  const char* core = openblas_core_for_this_cpu();
  if (core != nullptr) setenv("OPENBLAS_CORETYPE", core, 0);  // 0: a user's choice stands
}

}  // namespace concise::cpu
