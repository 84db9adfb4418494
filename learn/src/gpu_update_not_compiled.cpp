// Stand-in for the GPU dictionary update in a build without CUDA.
#include "concise/core/error.hpp"
#include "concise/cuda/dictionary_update.hpp"

namespace concise::cuda {

std::unique_ptr<DictionaryUpdater> make_dictionary_updater(std::int64_t, std::int64_t, std::int64_t, int) {
  throw Error("this build of concise has no CUDA backend; rebuild with -DCONCISE_CUDA=ON on a machine with nvcc");
}

}  // namespace concise::cuda
