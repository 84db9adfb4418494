#include "concise/engine/resources.hpp"

#include "concise/core/error.hpp"
#include "cuda_plugin.hpp"

namespace concise {

namespace {

// A decomposer made by the plugin, which keeps the plugin loaded while it lives.
class PluginDecomposer final : public Decomposer {
 public:
  PluginDecomposer(std::shared_ptr<const detail::CudaPlugin> plugin, std::unique_ptr<Decomposer> inner)
      : Decomposer(inner->options()), plugin_(std::move(plugin)), inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  void solve(MatrixView<const float> z, SolveResult& result) override { inner_->solve(z, result); }
  Decomposer& inner() { return *inner_; }

 private:
  std::shared_ptr<const detail::CudaPlugin> plugin_;  // declared first: released after inner_
  std::unique_ptr<Decomposer> inner_;
};

// The GPU atom updater made by the plugin, which keeps the plugin loaded while it lives.
class PluginDictionaryUpdater final : public cuda::DictionaryUpdater {
 public:
  PluginDictionaryUpdater(std::shared_ptr<const detail::CudaPlugin> plugin,
                          std::unique_ptr<cuda::DictionaryUpdater> inner)
      : plugin_(std::move(plugin)), inner_(std::move(inner)) {}
  void accumulate(const SparseRows& codes, MatrixView<const float> z, float beta) override {
    inner_->accumulate(codes, z, beta);
  }
  float update(MatrixView<float> atoms, int sweeps) override { return inner_->update(atoms, sweeps); }
  void reset_atom(std::int64_t j) override { inner_->reset_atom(j); }
  void read_statistics(Matrix<float>& a, Matrix<float>& b) const override { inner_->read_statistics(a, b); }
  void write_statistics(const Matrix<float>& a, const Matrix<float>& b) override { inner_->write_statistics(a, b); }

 private:
  std::shared_ptr<const detail::CudaPlugin> plugin_;  // declared first: released after inner_
  std::unique_ptr<cuda::DictionaryUpdater> inner_;
};

}  // namespace

struct Resources::Cuda {
  std::shared_ptr<const detail::CudaPlugin> plugin;  // declared first: released last
  std::unique_ptr<cuda::DeviceSession> session;
  const Dictionary* session_dictionary = nullptr;
  std::string session_fingerprint;

  // The session holding `dict` on the GPU: opened on first use, kept while the same dictionary comes back.
  cuda::DeviceSession& session_for(const Dictionary& dict, int device) {
    if (!session || session_dictionary != &dict || session_fingerprint != dict.fingerprint) {
      session.reset();
      session = plugin->table().open_session(dict.atoms.view(), dict.image_mean, device);
      session_dictionary = &dict;
      session_fingerprint = dict.fingerprint;
    }
    return *session;
  }
};

std::string solving_device(const std::string& device, int l0) {
  return l0 > 0 && parse_device(device).automatic ? "cpu" : device;
}

Resources::Resources(const std::string& device) {
  const DeviceRequest request = parse_device(device);
  if (!request.automatic && request.device.kind == Device::Kind::Cpu) return;
  if (request.automatic && !detail::CudaPlugin::driver_installed()) return;
  std::shared_ptr<const detail::CudaPlugin> plugin;
  try {
    plugin = detail::CudaPlugin::load();
  } catch (const Error& e) {
    if (request.automatic) return;
    throw InputError("device " + in_quotes(device) + " needs the CUDA backend plugin, which cannot be used: " + e.what());
  }
  std::string why;
  const int count = plugin->table().device_count(why);
  if (request.automatic) {
    if (count == 0) return;
    device_ = {Device::Kind::Cuda, 0};
  } else {
    if (count == 0) throw InputError("device " + in_quotes(device) + " is not available: " + why);
    if (request.device.index >= count)
      throw InputError("device " + in_quotes(device) + " is not available: " + std::to_string(count) + " GPU(s) found");
    device_ = request.device;
  }
  cuda_ = std::make_unique<Cuda>();
  cuda_->plugin = std::move(plugin);
}

Resources::~Resources() = default;
Resources::Resources(Resources&&) noexcept = default;
Resources& Resources::operator=(Resources&&) noexcept = default;

std::string Resources::describe() const {
  if (!on_cuda()) return "cpu";
  return device_.to_string() + " (" + cuda_->plugin->table().describe_device(device_.index) + ")";
}

std::unique_ptr<Decomposer> Resources::make_decomposer(MatrixView<const float> atoms, const SolveOptions& options) const {
  if (!on_cuda()) return make_cpu_decomposer(atoms, options);
  return std::make_unique<PluginDecomposer>(cuda_->plugin,
                                            cuda_->plugin->table().make_decomposer(atoms, options, device_.index));
}

std::unique_ptr<cuda::DictionaryUpdater> Resources::make_dictionary_updater(std::int64_t fixed, std::int64_t learned,
                                                                            std::int64_t dim) const {
  if (!on_cuda()) throw InputError("the GPU dictionary update needs a CUDA device, this one is " + describe());
  return std::make_unique<PluginDictionaryUpdater>(
      cuda_->plugin, cuda_->plugin->table().make_dictionary_updater(fixed, learned, dim, device_.index));
}

Matrix<float> Resources::recompose(const Dictionary& dict, const SparseRows& codes, bool add_image_mean) {
  if (!on_cuda()) {
    const std::vector<float> no_mean;
    return concise::recompose(codes, dict.atoms.view(), add_image_mean ? dict.image_mean : no_mean);
  }
  return cuda_->session_for(dict, device_.index).recompose(codes, add_image_mean);
}

void Resources::decompose_device_rows(Decomposer& decomposer, const Dictionary& dict, MatrixView<const float> rows,
                                      bool preprocess, const RowNamer& name_row, SolveResult& result,
                                      std::vector<float>& cosine, std::uintptr_t caller_stream) {
  auto* gpu = dynamic_cast<PluginDecomposer*>(&decomposer);
  if (!on_cuda() || gpu == nullptr)
    throw InputError("the rows are on a GPU but this decomposer runs on the CPU; pick device='cuda'");
  cuda_->session_for(dict, device_.index).decompose_device_rows(gpu->inner(), rows, preprocess, name_row, result, cosine,
                                                                      caller_stream);
}

std::string resolved_solver(const Decomposer& decomposer) {
  std::string name = decomposer.name();  // "cuda:0/fista"
  const auto colon = name.find(':'), slash = name.find('/');
  if (colon != std::string::npos && slash != std::string::npos && colon < slash) name.erase(colon, slash - colon);
  return name;
}

}  // namespace concise
