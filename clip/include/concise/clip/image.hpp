#pragma once
// Images for CLIP: decoding (JPEG through libjpeg-turbo, PNG through libpng) and CLIP's
// preprocessing, matching torchvision on PIL: bicubic resize of the short side with
// PIL's antialiasing and 8-bit rounding, center crop, scale to [0, 1], normalize.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace concise::clip {

struct Rgb8Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // height x width x 3, row-major
};

// Decodes a JPEG or PNG file (by content, not name) to 8-bit RGB. Grayscale is
// replicated, alpha dropped (as PIL's convert("RGB") does). InputError on failure.
Rgb8Image decode_image(const std::string& path);

// PIL's Image.resize(size, BICUBIC): separable, horizontal pass first, the filter
// widened by the scale when shrinking, 22-bit fixed-point weights, 8-bit rounding
// after each pass.
Rgb8Image resize_bicubic(const Rgb8Image& image, int width, int height);

struct Preprocessing {
  int size = 224;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

// CLIP's preprocessing: short side to `size` (long side int(size * long / short)),
// center crop size x size (offsets rounded half to even, as torchvision does),
// x / 255, then (x - mean) / std. Writes 3 x size x size floats, channel-major.
void preprocess(const Rgb8Image& image, const Preprocessing& spec, float* out);
std::vector<float> preprocess_file(const std::string& path, const Preprocessing& spec = {});

}  // namespace concise::clip
