#include "concise/core/error.hpp"
#include "cuda_solvers.hpp"

namespace concise::cuda {

bool compiled() { return true; }

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no GPU: not an error for a CPU run
    return 0;
  }
  return count;
}

std::string describe_device(int device) {
  cudaDeviceProp props{};
  CONCISE_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
  return std::string(props.name) + " (sm_" + std::to_string(props.major) + std::to_string(props.minor) + ", " +
         std::to_string(props.totalGlobalMem >> 30) + " GiB)";
}

std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float> atoms, const SolveOptions& options, int device) {
  switch (options.solver) {
    case SolverKind::Auto:
    case SolverKind::Fista:
      return make_fista(atoms, options, device);
    case SolverKind::Admm:
      return make_admm(atoms, options, device);
    case SolverKind::WorkingSet:
      return make_working_set(atoms, options, device);
  }
  throw InputError("solver " + in_quotes(to_string(options.solver)) + " has no CUDA kernels");
}

}  // namespace concise::cuda
