// Hugging Face's CLIPModel (transformers/models/clip/modeling_clip.py) rebuilt with
// LibTorch modules whose parameter names are the checkpoint's keys, so loading is a
// name-by-name copy with shapes checked.
#include "hf_clip.hpp"

#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <array>
#include <fstream>
#include <nlohmann/json.hpp>

#include "concise/core/error.hpp"
#include "torch_support.hpp"
#include "safetensors.hpp"

namespace concise::clip::detail {
namespace {

namespace fs = std::filesystem;
namespace nn = torch::nn;

struct TowerConfig {
  std::int64_t hidden = 0, intermediate = 0, layers = 0, heads = 0;
  double layer_norm_eps = 1e-5;
  std::string activation = "quick_gelu";
  // text
  std::int64_t vocab_size = 49408, max_positions = 77, eos_token_id = 49407;
  // vision
  std::int64_t image_size = 224, patch_size = 32, channels = 3;
};

struct ClipConfig {
  TowerConfig text, vision;
  std::int64_t projection_dim = 512;
};

template <typename T>
void read_field(const nlohmann::json& json, const char* key, T& field) {
  if (json.contains(key) && !json.at(key).is_null()) field = json.at(key).get<T>();
}

// Missing fields take transformers' CLIPTextConfig / CLIPVisionConfig defaults.
ClipConfig parse_config(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError("cannot open " + in_quotes(path.string()));
  ClipConfig config;
  config.text = {512, 2048, 12, 8};
  config.vision = {768, 3072, 12, 12};
  try {
    const auto json = nlohmann::json::parse(in);
    const std::string type = json.value("model_type", "");
    if (type != "clip")
      throw InputError(in_quotes(path.string()) + " describes model_type " + in_quotes(type) +
                       "; concise reads Hugging Face CLIP (model_type \"clip\") or TorchScript files");
    read_field(json, "projection_dim", config.projection_dim);
    for (auto* tower : {&config.text, &config.vision}) {
      const char* key = tower == &config.text ? "text_config" : "vision_config";
      const nlohmann::json part = json.contains(key) ? json.at(key) : nlohmann::json::object();
      read_field(part, "hidden_size", tower->hidden);
      read_field(part, "intermediate_size", tower->intermediate);
      read_field(part, "num_hidden_layers", tower->layers);
      read_field(part, "num_attention_heads", tower->heads);
      read_field(part, "layer_norm_eps", tower->layer_norm_eps);
      read_field(part, "hidden_act", tower->activation);
      read_field(part, "vocab_size", tower->vocab_size);
      read_field(part, "max_position_embeddings", tower->max_positions);
      read_field(part, "eos_token_id", tower->eos_token_id);
      read_field(part, "image_size", tower->image_size);
      read_field(part, "patch_size", tower->patch_size);
      read_field(part, "num_channels", tower->channels);
      if (tower->heads <= 0 || tower->hidden % tower->heads != 0)
        throw InputError(in_quotes(path.string()) + ": " + key + " hidden_size " + std::to_string(tower->hidden) +
                         " is not a multiple of num_attention_heads " + std::to_string(tower->heads));
      if (tower->activation != "quick_gelu" && tower->activation != "gelu" && tower->activation != "gelu_new" &&
          tower->activation != "gelu_pytorch_tanh")
        throw InputError(in_quotes(path.string()) + ": " + key + " hidden_act " + in_quotes(tower->activation) +
                         " is not supported (quick_gelu, gelu, gelu_new, gelu_pytorch_tanh)");
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(in_quotes(path.string()) + " is not a readable CLIP config: " + e.what());
  }
  return config;
}

torch::Tensor activate(const torch::Tensor& x, const std::string& activation) {
  if (activation == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (activation == "gelu") return torch::gelu(x);
  return torch::gelu(x, "tanh");
}

struct AttentionImpl : nn::Module {
  AttentionImpl(std::int64_t dim, std::int64_t head_count)
      : heads(head_count),
        q_proj(register_module("q_proj", nn::Linear(dim, dim))),
        k_proj(register_module("k_proj", nn::Linear(dim, dim))),
        v_proj(register_module("v_proj", nn::Linear(dim, dim))),
        out_proj(register_module("out_proj", nn::Linear(dim, dim))) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask) {
    const auto batch = x.size(0), length = x.size(1), dim = x.size(2), head_dim = dim / heads;
    const auto split = [&](const torch::Tensor& t) { return t.view({batch, length, heads, head_dim}).transpose(1, 2); };
    const torch::Tensor q = split(q_proj(x) * (1.0 / std::sqrt(static_cast<double>(head_dim))));
    torch::Tensor scores = torch::matmul(q, split(k_proj(x)).transpose(-2, -1));
    if (mask.defined()) scores = scores + mask;
    const torch::Tensor mixed = torch::matmul(torch::softmax(scores, -1), split(v_proj(x)));
    return out_proj(mixed.transpose(1, 2).reshape({batch, length, dim}));
  }

  std::int64_t heads;
  nn::Linear q_proj, k_proj, v_proj, out_proj;
};
TORCH_MODULE(Attention);

struct MlpImpl : nn::Module {
  MlpImpl(std::int64_t dim, std::int64_t hidden, std::string activation_name)
      : activation(std::move(activation_name)),
        fc1(register_module("fc1", nn::Linear(dim, hidden))),
        fc2(register_module("fc2", nn::Linear(hidden, dim))) {}
  torch::Tensor forward(const torch::Tensor& x) { return fc2(activate(fc1(x), activation)); }
  std::string activation;
  nn::Linear fc1, fc2;
};
TORCH_MODULE(Mlp);

nn::LayerNorm layer_norm(std::int64_t dim, double eps) {
  return nn::LayerNorm(nn::LayerNormOptions({dim}).eps(eps));
}

struct EncoderLayerImpl : nn::Module {
  explicit EncoderLayerImpl(const TowerConfig& c)
      : layer_norm1(register_module("layer_norm1", layer_norm(c.hidden, c.layer_norm_eps))),
        self_attn(register_module("self_attn", Attention(c.hidden, c.heads))),
        layer_norm2(register_module("layer_norm2", layer_norm(c.hidden, c.layer_norm_eps))),
        mlp(register_module("mlp", Mlp(c.hidden, c.intermediate, c.activation))) {}
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask) {
    x = x + self_attn(layer_norm1(x), mask);
    return x + mlp(layer_norm2(x));
  }
  nn::LayerNorm layer_norm1;
  Attention self_attn;
  nn::LayerNorm layer_norm2;
  Mlp mlp;
};
TORCH_MODULE(EncoderLayer);

struct TransformerEncoderImpl : nn::Module {
  explicit TransformerEncoderImpl(const TowerConfig& c) : layers(register_module("layers", nn::ModuleList())) {
    for (std::int64_t i = 0; i < c.layers; ++i) layers->push_back(EncoderLayer(c));
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask) {
    for (const auto& layer : *layers) x = layer->as<EncoderLayer>()->forward(x, mask);
    return x;
  }
  nn::ModuleList layers;
};
TORCH_MODULE(TransformerEncoder);

struct TextEmbeddingsImpl : nn::Module {
  explicit TextEmbeddingsImpl(const TowerConfig& c)
      : token_embedding(register_module("token_embedding", nn::Embedding(c.vocab_size, c.hidden))),
        position_embedding(register_module("position_embedding", nn::Embedding(c.max_positions, c.hidden))) {}
  nn::Embedding token_embedding, position_embedding;
};
TORCH_MODULE(TextEmbeddings);

struct TextTransformerImpl : nn::Module {
  explicit TextTransformerImpl(const TowerConfig& c)
      : config(c),
        embeddings(register_module("embeddings", TextEmbeddings(c))),
        encoder(register_module("encoder", TransformerEncoder(c))),
        final_layer_norm(register_module("final_layer_norm", layer_norm(c.hidden, c.layer_norm_eps))) {}

  torch::Tensor forward(const torch::Tensor& ids) {
    const auto length = ids.size(1);
    torch::Tensor x = embeddings->token_embedding(ids) +
                      embeddings->position_embedding->weight.slice(0, 0, length).unsqueeze(0);
    const torch::Tensor causal =
        torch::full({length, length}, std::numeric_limits<float>::lowest(), x.options()).triu(1);
    x = final_layer_norm(encoder(x, causal));
    // transformers: configs from before its PR #24773 carry eos_token_id 2 and pool at
    // the largest id (CLIP's end token); newer ones pool at the first end token.
    const torch::Tensor end = config.eos_token_id == 2 ? ids.argmax(-1)
                                                       : (ids == config.eos_token_id).to(torch::kInt).argmax(-1);
    return x.index({torch::arange(x.size(0), ids.options()), end});
  }
  TowerConfig config;
  TextEmbeddings embeddings;
  TransformerEncoder encoder;
  nn::LayerNorm final_layer_norm;
};
TORCH_MODULE(TextTransformer);

struct VisionEmbeddingsImpl : nn::Module {
  explicit VisionEmbeddingsImpl(const TowerConfig& c)
      : class_embedding(register_parameter("class_embedding", torch::zeros({c.hidden}))),
        patch_embedding(register_module(
            "patch_embedding",
            nn::Conv2d(nn::Conv2dOptions(c.channels, c.hidden, c.patch_size).stride(c.patch_size).bias(false)))),
        position_embedding(register_module(
            "position_embedding",
            nn::Embedding((c.image_size / c.patch_size) * (c.image_size / c.patch_size) + 1, c.hidden))) {}
  torch::Tensor class_embedding;
  nn::Conv2d patch_embedding;
  nn::Embedding position_embedding;
};
TORCH_MODULE(VisionEmbeddings);

struct VisionTransformerImpl : nn::Module {
  explicit VisionTransformerImpl(const TowerConfig& c)
      : embeddings(register_module("embeddings", VisionEmbeddings(c))),
        pre_layrnorm(register_module("pre_layrnorm", layer_norm(c.hidden, c.layer_norm_eps))),
        encoder(register_module("encoder", TransformerEncoder(c))),
        post_layernorm(register_module("post_layernorm", layer_norm(c.hidden, c.layer_norm_eps))) {}

  torch::Tensor forward(const torch::Tensor& pixels) {
    const torch::Tensor patches = embeddings->patch_embedding(pixels).flatten(2).transpose(1, 2);
    const torch::Tensor cls = embeddings->class_embedding.expand({pixels.size(0), 1, -1});
    torch::Tensor x = torch::cat({cls, patches}, 1) + embeddings->position_embedding->weight.unsqueeze(0);
    x = encoder(pre_layrnorm(x), torch::Tensor());
    return post_layernorm(x.select(1, 0));
  }
  VisionEmbeddings embeddings;
  nn::LayerNorm pre_layrnorm;
  TransformerEncoder encoder;
  nn::LayerNorm post_layernorm;
};
TORCH_MODULE(VisionTransformer);

struct ClipModelImpl : nn::Module {
  explicit ClipModelImpl(const ClipConfig& c)
      : text_model(register_module("text_model", TextTransformer(c.text))),
        vision_model(register_module("vision_model", VisionTransformer(c.vision))),
        visual_projection(register_module(
            "visual_projection", nn::Linear(nn::LinearOptions(c.vision.hidden, c.projection_dim).bias(false)))),
        text_projection(register_module(
            "text_projection", nn::Linear(nn::LinearOptions(c.text.hidden, c.projection_dim).bias(false)))),
        logit_scale(register_parameter("logit_scale", torch::zeros({}))) {}
  TextTransformer text_model;
  VisionTransformer vision_model;
  nn::Linear visual_projection, text_projection;
  torch::Tensor logit_scale;
};
TORCH_MODULE(ClipModel);

void copy_weights(ClipModel& model, const TensorMap& weights, const std::string& source) {
  torch::NoGradGuard no_grad;
  for (auto& item : model->named_parameters(true)) {
    const std::string& name = item.key();
    torch::Tensor& parameter = item.value();
    const auto found = weights.find(name);
    if (found == weights.end())
      throw InputError("weights " + in_quotes(source) + " lack tensor " + in_quotes(name) +
                       " (expected shape " + c10::str(parameter.sizes()) + "); is this a CLIPModel checkpoint?");
    if (!found->second.sizes().equals(parameter.sizes()))
      throw InputError("weights " + in_quotes(source) + ": tensor " + in_quotes(name) + " has shape " +
                       c10::str(found->second.sizes()) + ", config.json implies " + c10::str(parameter.sizes()));
    parameter.copy_(found->second);
  }
}

// transformers' CLIPImageProcessor settings: resize the shortest edge, center crop, mean
// and std. concise crops to the size it resizes to, as CLIP does.
Preprocessing read_preprocessing(const fs::path& path, std::int64_t image_size) {
  Preprocessing spec;
  spec.size = static_cast<int>(image_size);
  if (!fs::exists(path)) return spec;
  std::ifstream in(path);
  try {
    const auto json = nlohmann::json::parse(in);
    if (json.contains("image_mean")) spec.mean = json.at("image_mean").get<std::array<float, 3>>();
    if (json.contains("image_std")) spec.std = json.at("image_std").get<std::array<float, 3>>();
    int crop = spec.size, edge = spec.size;
    if (json.contains("crop_size")) {
      const auto& c = json.at("crop_size");
      crop = c.is_number() ? c.get<int>() : c.at("height").get<int>();
    }
    if (json.contains("size")) {
      const auto& s = json.at("size");
      edge = s.is_number() ? s.get<int>() : s.value("shortest_edge", crop);
    }
    if (crop != edge || crop != spec.size)
      throw InputError(in_quotes(path.string()) + " resizes to " + std::to_string(edge) + " and crops " +
                       std::to_string(crop) + " for a model of image size " + std::to_string(spec.size) +
                       "; concise resizes the short side to the model's size and crops it square");
  } catch (const nlohmann::json::exception& e) {
    throw InputError(in_quotes(path.string()) + " is not a readable preprocessor config: " + e.what());
  }
  return spec;
}

std::string folder_name(const std::string& folder) {
  fs::path path = fs::absolute(folder).lexically_normal();
  if (path.filename().empty()) path = path.parent_path();
  return path.filename().string();
}

class HfClipEncoder final : public Encoder {
 public:
  HfClipEncoder(const std::string& folder, int cuda_device)
      : device_(torch_device(cuda_device)), name_(folder_name(folder)) {
    const fs::path root(folder);
    config_ = parse_config(root / "config.json");
    fs::path weights = root / "model.safetensors";
    if (!fs::exists(weights) && fs::exists(root / "model.safetensors.index.json"))
      weights = root / "model.safetensors.index.json";
    if (!fs::exists(weights))
      throw InputError("model folder " + in_quotes(folder) + " has config.json but no model.safetensors");
    preprocessing_ = read_preprocessing(root / "preprocessor_config.json", config_.vision.image_size);
    model_ = ClipModel(config_);
    copy_weights(model_, load_safetensors(weights.string()), weights.string());
    model_->eval();
    model_->to(device_);
  }

  Matrix<float> encode_images(const float* pixels, std::int64_t count) override {
    const auto size = config_.vision.image_size;
    const torch::Tensor input =
        torch::from_blob(const_cast<float*>(pixels), {count, config_.vision.channels, size, size}, torch::kFloat32);
    torch::NoGradGuard no_grad;
    return to_matrix(model_->visual_projection(model_->vision_model(input.to(device_))));
  }

  Matrix<float> encode_texts(const std::int64_t* ids, std::int64_t count, int context) override {
    if (context > config_.text.max_positions)
      throw InputError("token context " + std::to_string(context) + " is longer than the model's " +
                       std::to_string(config_.text.max_positions) + " positions");
    const torch::Tensor input = torch::from_blob(const_cast<std::int64_t*>(ids), {count, context}, torch::kInt64);
    if (input.max().item<std::int64_t>() >= config_.text.vocab_size)
      throw InputError("token id " + std::to_string(input.max().item<std::int64_t>()) + " is outside the model's " +
                       std::to_string(config_.text.vocab_size) + "-token vocabulary");
    torch::NoGradGuard no_grad;
    return to_matrix(model_->text_projection(model_->text_model(input.to(device_))));
  }

  const Preprocessing& preprocessing() const override { return preprocessing_; }
  std::string name() const override { return name_; }
  std::string describe() const override {
    return "Hugging Face CLIP " + in_quotes(name_) + " (vision " + std::to_string(config_.vision.layers) + " x " +
           std::to_string(config_.vision.hidden) + ", patch " + std::to_string(config_.vision.patch_size) + "; text " +
           std::to_string(config_.text.layers) + " x " + std::to_string(config_.text.hidden) + "; dim " +
           std::to_string(config_.projection_dim) + ") on " + device_.str();
  }

 private:
  torch::Device device_;
  std::string name_;
  ClipConfig config_;
  Preprocessing preprocessing_;
  ClipModel model_{nullptr};
};

}  // namespace

std::unique_ptr<Encoder> load_hf_clip(const std::string& folder, int cuda_device) {
  return std::make_unique<HfClipEncoder>(folder, cuda_device);
}

}  // namespace concise::clip::detail
