#include "concise/core/error.hpp"
#include "cuda_solvers.hpp"
#include "gpu_context.hpp"
#include "session.hpp"

namespace concise::cuda {

int device_count(std::string& why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // no driver or no GPU: not an error for a CPU run
    why = std::string("no CUDA driver or GPU was found (") + cudaGetErrorString(status) + ")";
    return 0;
  }
  if (count == 0) why = "no CUDA GPU was found";
  return count;
}

std::string describe_device(int device) {
  cudaDeviceProp props{};
  CONCISE_CUDA_CHECK(cudaGetDeviceProperties(&props, device));
  return std::string(props.name) + " (sm_" + std::to_string(props.major) + std::to_string(props.minor) + ", " +
         std::to_string(props.totalGlobalMem >> 30) + " GiB)";
}

// The factories build on `device` and give the caller its own current device back
// (torch's, say), which the objects' handles and uploads would otherwise leave changed.
std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float> atoms, const SolveOptions& options, int device) {
  const DeviceScope on(device);
  switch (options.solver) {
    case SolverKind::Auto:
      if (options.l0 > 0) return make_working_set(atoms, options, device);  // target sparsity walks in the set
      return make_fista(atoms, options, device);
    case SolverKind::Fista:
      return make_fista(atoms, options, device);
    case SolverKind::Admm:
      return make_admm(atoms, options, device);
    case SolverKind::WorkingSet:
      return make_working_set(atoms, options, device);
  }
  throw InputError("solver " + in_quotes(to_string(options.solver)) + " has no CUDA kernels");
}

std::unique_ptr<DeviceSession> open_session(MatrixView<const float> atoms, const std::vector<float>& image_mean,
                                            int device) {
  const DeviceScope on(device);
  return std::make_unique<Session>(atoms, image_mean, device);
}

}  // namespace concise::cuda
