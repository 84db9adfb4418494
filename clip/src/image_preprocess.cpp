#include <algorithm>
#include <cmath>

#include "concise/clip/image.hpp"
#include "concise/core/error.hpp"

namespace concise::clip {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's fixed-point weights for 8-bit images

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// The taps of one output pixel: first input index and fixed-point weights.
struct Taps {
  int first = 0;
  std::vector<std::int32_t> weights;
};

// PIL's precompute_coeffs + normalize_coeffs_8bpc for a full-image box.
std::vector<Taps> resample_taps(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 2.0 * filter_scale;
  std::vector<Taps> taps(static_cast<std::size_t>(out_size));
  for (int out = 0; out < out_size; ++out) {
    const double center = (out + 0.5) * scale;
    const int first = std::max(static_cast<int>(center - support + 0.5), 0);
    const int last = std::min(static_cast<int>(center + support + 0.5), in_size);
    std::vector<double> weights;
    double total = 0.0;
    for (int x = first; x < last; ++x) {
      weights.push_back(bicubic((x - center + 0.5) / filter_scale));
      total += weights.back();
    }
    Taps& t = taps[static_cast<std::size_t>(out)];
    t.first = first;
    for (double w : weights) {
      if (total != 0.0) w /= total;
      const double fixed = w * (1 << kPrecisionBits);
      t.weights.push_back(static_cast<std::int32_t>(w < 0 ? -0.5 + fixed : 0.5 + fixed));
    }
  }
  return taps;
}

std::uint8_t clip8(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> kPrecisionBits, 0, 255));
}

// One separable pass along x (stride 3 between pixels) or y (stride 3 * width).
Rgb8Image resample_horizontal(const Rgb8Image& in, int out_width) {
  const std::vector<Taps> taps = resample_taps(in.width, out_width);
  Rgb8Image out{out_width, in.height, std::vector<std::uint8_t>(static_cast<std::size_t>(out_width) * in.height * 3)};
  for (int y = 0; y < in.height; ++y) {
    const std::uint8_t* row = &in.pixels[static_cast<std::size_t>(y) * in.width * 3];
    std::uint8_t* out_row = &out.pixels[static_cast<std::size_t>(y) * out_width * 3];
    for (int x = 0; x < out_width; ++x) {
      const Taps& t = taps[static_cast<std::size_t>(x)];
      for (int c = 0; c < 3; ++c) {
        std::int32_t sum = 1 << (kPrecisionBits - 1);
        for (std::size_t k = 0; k < t.weights.size(); ++k) sum += row[(t.first + k) * 3 + c] * t.weights[k];
        out_row[x * 3 + c] = clip8(sum);
      }
    }
  }
  return out;
}

Rgb8Image resample_vertical(const Rgb8Image& in, int out_height) {
  const std::vector<Taps> taps = resample_taps(in.height, out_height);
  const std::size_t stride = static_cast<std::size_t>(in.width) * 3;
  Rgb8Image out{in.width, out_height, std::vector<std::uint8_t>(stride * out_height)};
  for (int y = 0; y < out_height; ++y) {
    const Taps& t = taps[static_cast<std::size_t>(y)];
    std::uint8_t* out_row = &out.pixels[static_cast<std::size_t>(y) * stride];
    for (std::size_t i = 0; i < stride; ++i) {
      std::int32_t sum = 1 << (kPrecisionBits - 1);
      for (std::size_t k = 0; k < t.weights.size(); ++k) sum += in.pixels[(t.first + k) * stride + i] * t.weights[k];
      out_row[i] = clip8(sum);
    }
  }
  return out;
}

}  // namespace

Rgb8Image resize_bicubic(const Rgb8Image& image, int width, int height) {
  if (width < 1 || height < 1) throw InputError("cannot resize an image to " + std::to_string(width) + " x " +
                                                std::to_string(height));
  // PIL: the horizontal pass first (only rows the vertical pass reads), then vertical.
  Rgb8Image result = width != image.width ? resample_horizontal(image, width) : image;
  if (height != image.height) result = resample_vertical(result, height);
  return result;
}

void preprocess(const Rgb8Image& image, const Preprocessing& spec, float* out) {
  const int size = spec.size;
  const bool wide = image.width > image.height;
  const int short_side = wide ? image.height : image.width;
  const int long_side = wide ? image.width : image.height;
  const int resized_long = static_cast<int>(static_cast<double>(size) * long_side / short_side);
  const Rgb8Image resized =
      wide ? resize_bicubic(image, resized_long, size) : resize_bicubic(image, size, resized_long);
  // torchvision: int(round((h - size) / 2.0)), Python's round: half to even.
  const auto offset = [size](int extent) { return static_cast<int>(std::nearbyint((extent - size) / 2.0)); };
  const int top = offset(resized.height);
  const int left = offset(resized.width);
  const std::size_t plane = static_cast<std::size_t>(size) * size;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < size; ++y) {
      const std::uint8_t* row = &resized.pixels[(static_cast<std::size_t>(top + y) * resized.width + left) * 3];
      float* out_row = out + c * plane + static_cast<std::size_t>(y) * size;
      for (int x = 0; x < size; ++x)
        out_row[x] = (static_cast<float>(row[x * 3 + c]) / 255.0f - spec.mean[c]) / spec.std[c];
    }
  }
}

std::vector<float> preprocess_file(const std::string& path, const Preprocessing& spec) {
  std::vector<float> out(static_cast<std::size_t>(3) * spec.size * spec.size);
  preprocess(decode_image(path), spec, out.data());
  return out;
}

}  // namespace concise::clip
