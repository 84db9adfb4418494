#include "concise/engine/device.hpp"

#include <cstdlib>

#include "concise/core/error.hpp"
#include "concise/cuda/cuda_backend.hpp"

namespace concise {

std::string Device::to_string() const { return kind == Kind::Cpu ? "cpu" : "cuda:" + std::to_string(index); }

Device parse_device(const std::string& text) {
  if (text == "cpu") return {};
  if (text == "auto") return cuda::device_count() > 0 ? Device{Device::Kind::Cuda, 0} : Device{};
  if (text.rfind("cuda", 0) == 0) {
    int index = 0;
    if (text.size() > 4) {
      char* end = nullptr;
      const long parsed = text[4] == ':' ? std::strtol(text.c_str() + 5, &end, 10) : -1;
      if (text[4] != ':' || end == text.c_str() + 5 || *end != '\0' || parsed < 0)
        throw InputError("device " + in_quotes(text) + " is malformed, expected auto, cpu, cuda or cuda:N");
      index = static_cast<int>(parsed);
    }
    if (!cuda::compiled())
      throw InputError("device " + in_quotes(text) + " needs the CUDA backend, and this build of concise has none");
    const int count = cuda::device_count();
    if (index >= count)
      throw InputError("device " + in_quotes(text) + " is not available: " + std::to_string(count) + " GPU(s) found");
    return {Device::Kind::Cuda, index};
  }
  throw InputError("device " + in_quotes(text) + " is unknown, expected auto, cpu, cuda or cuda:N");
}

std::unique_ptr<Decomposer> make_decomposer(MatrixView<const float> atoms, const SolveOptions& options,
                                            const Device& device) {
  if (device.kind == Device::Kind::Cuda && options.l0 > 0)
    throw InputError("target sparsity (l0) runs on the CPU for now: pass --device cpu (device='cpu')");
  if (device.kind == Device::Kind::Cuda) return cuda::make_decomposer(atoms, options, device.index);
  return make_cpu_decomposer(atoms, options);
}

}  // namespace concise
