// The encoders in a build without LibTorch: same interface, a clear error.
#include "concise/clip/encoder.hpp"
#include "concise/core/error.hpp"

namespace concise::clip {

std::unique_ptr<Encoder> load_encoder(const std::string& model, const std::string&) {
  throw InputError("cannot load CLIP model " + in_quotes(model) +
                   ": this concise was built without LibTorch (install libtorch-dev or PyTorch, then "
                   "configure with -DCONCISE_TORCH=ON, adding torch.utils.cmake_prefix_path to CMAKE_PREFIX_PATH "
                   "for a pip-installed PyTorch)");
}

bool encoders_available() { return false; }

}  // namespace concise::clip
