// Stand-ins used when concise is built without CUDA, so that everything links
// and a request for a GPU gets a clear error instead of a link failure.
#include "concise/core/error.hpp"
#include "concise/cuda/cuda_backend.hpp"

namespace concise::cuda {

bool compiled() { return false; }
int device_count() { return 0; }
std::string describe_device(int) { return "none (built without CUDA)"; }
namespace {
[[noreturn]] void not_compiled() {
  throw Error("this build of concise has no CUDA backend; rebuild with -DCONCISE_CUDA=ON on a machine with nvcc");
}
}  // namespace

std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float>, const SolveOptions&, int) { not_compiled(); }
Matrix<float> recompose(const SparseRows&, MatrixView<const float>, const std::vector<float>&, int) { not_compiled(); }
void decompose_device_rows(Decomposer&, MatrixView<const float>, const std::vector<float>&, MatrixView<const float>,
                           bool, int, const RowNamer&, SolveResult&, std::vector<float>&) {
  not_compiled();
}

}  // namespace concise::cuda
