// The LibTorch CLIP encoders against Hugging Face transformers on a tiny random
// CLIPModel (tests/fixtures/make_tiny_clip.py): Hugging Face folder and TorchScript.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "concise/engine/encoders.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"

namespace fs = std::filesystem;

namespace {

const fs::path kFixture = fs::path(CONCISE_FIXTURE_DIR) / "tiny_clip";

std::vector<std::int64_t> fixture_token_ids(std::int64_t& rows) {
  std::ifstream in(fs::path(CONCISE_FIXTURE_DIR) / "tokenizer_cases.json");
  const auto cases = nlohmann::json::parse(in);
  std::vector<std::int64_t> ids(cases.size() * 77, 0);
  for (std::size_t r = 0; r < cases.size(); ++r) {
    const std::vector<std::int64_t> row = cases[r]["ids"];
    std::copy(row.begin(), row.end(), ids.begin() + static_cast<std::ptrdiff_t>(r * 77));
  }
  rows = static_cast<std::int64_t>(cases.size());
  return ids;
}

void expect_close(const concise::Matrix<float>& got, const concise::Matrix<float>& expected, const char* what) {
  ASSERT_EQ(got.rows(), expected.rows()) << what;
  ASSERT_EQ(got.cols(), expected.cols()) << what;
  for (std::int64_t r = 0; r < got.rows(); ++r) {
    double diff = 0, norm = 0;
    for (std::int64_t c = 0; c < got.cols(); ++c) {
      diff += std::pow(static_cast<double>(got.row(r)[c]) - expected.row(r)[c], 2);
      norm += std::pow(static_cast<double>(expected.row(r)[c]), 2);
    }
    EXPECT_LE(std::sqrt(diff / norm), 1e-4) << what << " row " << r;
  }
}

class EncoderParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!concise::encoders_available()) GTEST_SKIP() << "built without LibTorch (CONCISE_TORCH=OFF or not found)";
    if (!fs::exists(fs::path(CONCISE_DATA_DIR) / "clip-vit-b32" / "image_inputs.npy"))
      GTEST_SKIP() << "no public test data";
  }
};

}  // namespace

TEST_P(EncoderParity, MatchesTransformersOnTextAndImages) {
  auto encoder = concise::load_encoder((kFixture / GetParam()).string(), "cpu");
  ASSERT_EQ(encoder->preprocessing().size, 224);
  ASSERT_FLOAT_EQ(encoder->preprocessing().mean[0], 0.48145466f);

  std::int64_t rows = 0;
  const std::vector<std::int64_t> ids = fixture_token_ids(rows);
  expect_close(encoder->encode_texts(ids.data(), rows, 77),
               concise::read_npy_matrix((kFixture / "text_embeds.npy").string()), "text");

  const auto info = concise::inspect_npy((fs::path(CONCISE_DATA_DIR) / "clip-vit-b32" / "image_inputs.npy").string());
  std::vector<float> pixels(static_cast<std::size_t>(7) * 3 * 224 * 224);
  concise::read_npy_rows(info, 0, 7, pixels.data());
  expect_close(encoder->encode_images(pixels.data(), 7),
               concise::read_npy_matrix((kFixture / "image_embeds.npy").string()), "image");
}

INSTANTIATE_TEST_SUITE_P(HuggingFaceAndTorchScript, EncoderParity,
                         ::testing::Values(std::string("."), std::string("model.torchscript.pt")));

TEST(EncoderErrors, MissingAndMismatchedModelFilesAreClearInputErrors) {
  if (!concise::encoders_available()) {
    EXPECT_THROW(concise::load_encoder(kFixture.string()), concise::InputError);
    GTEST_SKIP() << "built without the LibTorch encoder plugin: its error was checked";
  }
  const fs::path dir = fs::temp_directory_path() / "concise_bad_model";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto message_of = [](const std::string& model) {
    try {
      concise::load_encoder(model, "cpu");
    } catch (const concise::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message_of("no/such/model").find("does not exist"), std::string::npos);
  EXPECT_NE(message_of(dir.string()).find("neither config.json"), std::string::npos);

  std::ifstream config_in(kFixture / "config.json");
  auto config = nlohmann::json::parse(config_in);
  config["model_type"] = "siglip";
  std::ofstream(dir / "config.json") << config.dump();
  EXPECT_NE(message_of(dir.string()).find("model_type 'siglip'"), std::string::npos) << message_of(dir.string());

  config["model_type"] = "clip";
  std::ofstream(dir / "config.json") << config.dump();
  EXPECT_NE(message_of(dir.string()).find("no model.safetensors"), std::string::npos);

  config["vision_config"]["hidden_size"] = 32;  // the weights hold 16
  std::ofstream(dir / "config.json") << config.dump();
  fs::copy_file(kFixture / "model.safetensors", dir / "model.safetensors");
  const std::string mismatch = message_of(dir.string());
  EXPECT_NE(mismatch.find("has shape"), std::string::npos) << mismatch;

  std::ofstream(dir / "model.safetensors", std::ios::trunc) << "garbage";
  EXPECT_NE(message_of(dir.string()).find("not a safetensors file"), std::string::npos) << message_of(dir.string());
  fs::remove_all(dir);
}

TEST(EncoderPreprocessing, ReadsTheHuggingFacePreprocessorConfig) {
  if (!concise::encoders_available()) GTEST_SKIP() << "built without LibTorch";
  const fs::path dir = fs::temp_directory_path() / "concise_model_with_preprocessor";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* name : {"config.json", "model.safetensors"}) fs::copy_file(kFixture / name, dir / name);
  std::ofstream(dir / "preprocessor_config.json")
      << R"({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "crop_size": {"height": 224, "width": 224},
            "size": {"shortest_edge": 224}})";
  const auto spec = concise::load_encoder(dir.string(), "cpu")->preprocessing();
  EXPECT_EQ(spec.size, 224);
  EXPECT_FLOAT_EQ(spec.mean[1], 0.5f);
  EXPECT_FLOAT_EQ(spec.std[2], 0.25f);

  std::ofstream(dir / "preprocessor_config.json", std::ios::trunc) << R"({"crop_size": 288, "size": 320})";
  try {
    concise::load_encoder(dir.string(), "cpu");
    ADD_FAILURE() << "a crop other than the model's size must be refused";
  } catch (const concise::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("crops 288"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
