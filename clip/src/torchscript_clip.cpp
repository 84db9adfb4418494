#include "torchscript_clip.hpp"

#include <torch/script.h>

#include <algorithm>
#include <filesystem>

#include "concise/core/error.hpp"
#include "torch_support.hpp"

namespace concise::clip::detail {
namespace {

class TorchScriptEncoder final : public Encoder {
 public:
  TorchScriptEncoder(const std::string& file, int cuda_device, int image_size)
      : device_(torch_device(cuda_device)), file_(file) {
    try {
      module_ = torch::jit::load(file, device_);
    } catch (const c10::Error& e) {
      throw InputError("cannot load TorchScript model " + in_quotes(file) + ": " + e.what_without_backtrace());
    }
    for (const char* method : {"encode_image", "encode_text"})
      if (!module_.find_method(method))
        throw InputError("TorchScript model " + in_quotes(file) + " has no " + method +
                         " method; concise needs encode_image(pixels) and encode_text(token_ids)");
    module_.eval();
    preprocessing_.size = image_size;
    // A module may say what it expects: image_size (int), image_mean and image_std (3 floats each).
    if (module_.hasattr("image_size")) preprocessing_.size = static_cast<int>(module_.attr("image_size").toInt());
    for (const auto& [name, target] : {std::pair{"image_mean", &preprocessing_.mean}, std::pair{"image_std", &preprocessing_.std}}) {
      if (!module_.hasattr(name)) continue;
      const std::vector<double> values = module_.attr(name).toDoubleVector();
      if (values.size() != 3)
        throw InputError("TorchScript model " + in_quotes(file) + ": " + name + " has " + std::to_string(values.size()) +
                         " values, expected 3");
      for (int c = 0; c < 3; ++c) (*target)[static_cast<std::size_t>(c)] = static_cast<float>(values[static_cast<std::size_t>(c)]);
    }
  }

  Matrix<float> encode_images(const float* pixels, std::int64_t count) override {
    const int size = preprocessing_.size;
    const torch::Tensor input = torch::from_blob(const_cast<float*>(pixels), {count, 3, size, size}, torch::kFloat32);
    return run("encode_image", input.to(device_), count);
  }

  Matrix<float> encode_texts(const std::int64_t* ids, std::int64_t count, int context) override {
    const torch::Tensor input = torch::from_blob(const_cast<std::int64_t*>(ids), {count, context}, torch::kInt64);
    return run("encode_text", input.to(device_), count);
  }

  const Preprocessing& preprocessing() const override { return preprocessing_; }
  std::string name() const override { return std::filesystem::path(file_).stem().string(); }
  std::string describe() const override { return "TorchScript " + in_quotes(file_) + " on " + device_.str(); }

 private:
  Matrix<float> run(const char* method, const torch::Tensor& input, std::int64_t count) {
    torch::NoGradGuard no_grad;
    torch::Tensor features;
    try {
      features = module_.get_method(method)({input}).toTensor();
    } catch (const c10::Error& e) {
      throw InputError("TorchScript model " + in_quotes(file_) + ": " + method + " failed: " +
                       e.what_without_backtrace());
    }
    if (features.dim() != 2 || features.size(0) != count)
      throw InputError("TorchScript model " + in_quotes(file_) + ": " + method + " returned shape " +
                       c10::str(features.sizes()) + ", expected [" + std::to_string(count) + ", dim]");
    return to_matrix(features);
  }

  torch::Device device_;
  std::string file_;
  Preprocessing preprocessing_;
  torch::jit::Module module_;
};

}  // namespace

std::unique_ptr<Encoder> load_torchscript_clip(const std::string& file, int cuda_device, int image_size) {
  return std::make_unique<TorchScriptEncoder>(file, cuda_device, image_size);
}

}  // namespace concise::clip::detail
