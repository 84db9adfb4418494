// CLIP image preprocessing against the reference tensors in the public data
// (PIL + torchvision), and bad images.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <png.h>

#include "concise/clip/image.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

TEST(ImagePreprocess, MatchesPilAndTorchvisionOnTheSevenPhotos) {
  const fs::path data(CONCISE_DATA_DIR);
  const fs::path reference = data / "clip-vit-b32" / "image_inputs.npy";
  if (!fs::exists(reference)) GTEST_SKIP() << "no " << reference << " (the public test data)";
  const auto names = lines_of(data / "clip-vit-b32" / "image_inputs.txt");
  const concise::NpyInfo info = concise::inspect_npy(reference.string());
  ASSERT_EQ(info.shape, (std::vector<std::int64_t>{7, 3, 224, 224}));
  ASSERT_EQ(names.size(), 7u);
  std::vector<float> expected(static_cast<std::size_t>(7) * 3 * 224 * 224);
  concise::read_npy_rows(concise::inspect_npy(reference.string()), 0, 7, expected.data());

  const std::size_t per_image = 3 * 224 * 224;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::vector<float> got = concise::clip::preprocess_file((data / "images" / names[i]).string());
    ASSERT_EQ(got.size(), per_image);
    double max_diff = 0, sum_diff = 0;
    for (std::size_t k = 0; k < per_image; ++k) {
      const double diff = std::fabs(static_cast<double>(got[k]) - expected[i * per_image + k]);
      max_diff = std::max(max_diff, diff);
      sum_diff += diff;
    }
    const double mean_diff = sum_diff / per_image;
    // The bounds are 0.02 and 2e-3; PIL's fixed-point resampling is reproduced
    // exactly, so anything above float rounding is a regression.
    EXPECT_LE(max_diff, 1e-5) << names[i];
    EXPECT_LE(mean_diff, 1e-6) << names[i];
    std::printf("%s: max |diff| %.2e, mean |diff| %.2e\n", names[i].c_str(), max_diff, mean_diff);
  }
}

TEST(ImagePreprocess, ResizeKeepsConstantImagesAndShapes) {
  concise::clip::Rgb8Image flat{37, 19, std::vector<std::uint8_t>(37 * 19 * 3, 0)};
  for (std::size_t p = 0; p < flat.pixels.size(); p += 3) {
    flat.pixels[p] = 200;
    flat.pixels[p + 1] = 17;
    flat.pixels[p + 2] = 255;
  }
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{11, 5}, {224, 113}, {37, 300}}) {
    const auto resized = concise::clip::resize_bicubic(flat, w, h);
    ASSERT_EQ(resized.width, w);
    ASSERT_EQ(resized.height, h);
    for (std::size_t p = 0; p < resized.pixels.size(); p += 3) {
      ASSERT_EQ(resized.pixels[p], 200);
      ASSERT_EQ(resized.pixels[p + 1], 17);
      ASSERT_EQ(resized.pixels[p + 2], 255);
    }
  }
  std::vector<float> out(3 * 224 * 224, NAN);
  concise::clip::preprocess(flat, {}, out.data());
  EXPECT_NEAR(out[0], (200 / 255.0 - 0.48145466) / 0.26862954, 1e-5);
  EXPECT_NEAR(out[224 * 224 + 5], (17 / 255.0 - 0.4578275) / 0.26130258, 1e-5);
  EXPECT_NEAR(out[2 * 224 * 224 + 224 * 224 - 1], (255 / 255.0 - 0.40821073) / 0.27577711, 1e-5);
}

TEST(ImagePreprocess, UnreadableImagesAreInputErrorsNamingTheFile) {
  const fs::path not_image = fs::temp_directory_path() / "concise_not_an_image.jpg";
  { std::ofstream(not_image) << "hello"; }
  try {
    concise::clip::decode_image(not_image.string());
    FAIL() << "expected an InputError";
  } catch (const concise::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("concise_not_an_image.jpg"), std::string::npos) << e.what();
  }
  const fs::path truncated = fs::temp_directory_path() / "concise_truncated.png";
  { std::ofstream(truncated, std::ios::binary) << "\x89PNG\r\n\x1a\n\0\0"; }
  EXPECT_THROW(concise::clip::decode_image(truncated.string()), concise::InputError);
  EXPECT_THROW(concise::clip::decode_image("no/such/image.png"), concise::InputError);
  fs::remove(not_image);
  fs::remove(truncated);
}

TEST(ImagePreprocess, PngWithAlphaDecodesToTheSameRgbAsItsSource) {
  const fs::path photo = fs::path(CONCISE_DATA_DIR) / "images" / "123_456.jpg";
  if (!fs::exists(photo)) GTEST_SKIP() << "no " << photo << " (the public test data)";
  const concise::clip::Rgb8Image rgb = concise::clip::decode_image(photo.string());
  std::vector<std::uint8_t> rgba(static_cast<std::size_t>(rgb.width) * rgb.height * 4);
  for (std::size_t p = 0; p < rgba.size() / 4; ++p) {
    for (int c = 0; c < 3; ++c) rgba[p * 4 + c] = rgb.pixels[p * 3 + c];
    rgba[p * 4 + 3] = static_cast<std::uint8_t>(p % 256);  // PIL's convert("RGB") ignores alpha
  }
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(rgb.width);
  png.height = static_cast<png_uint_32>(rgb.height);
  png.format = PNG_FORMAT_RGBA;
  const fs::path out = fs::temp_directory_path() / "concise_alpha.png";
  ASSERT_NE(png_image_write_to_file(&png, out.string().c_str(), 0, rgba.data(), 0, nullptr), 0) << png.message;
  const concise::clip::Rgb8Image decoded = concise::clip::decode_image(out.string());
  fs::remove(out);
  EXPECT_EQ(decoded.width, rgb.width);
  EXPECT_EQ(decoded.height, rgb.height);
  EXPECT_EQ(decoded.pixels, rgb.pixels);
}
