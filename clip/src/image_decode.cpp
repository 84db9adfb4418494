#include <png.h>
#include <turbojpeg.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>

#include "concise/clip/image.hpp"
#include "concise/core/error.hpp"

namespace concise::clip {
namespace {

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open image " + in_quotes(path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct TurboJpegDeleter {
  void operator()(void* handle) const { tjDestroy(handle); }
};

Rgb8Image decode_jpeg(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::unique_ptr<void, TurboJpegDeleter> handle(tjInitDecompress());
  if (!handle) throw Error("libjpeg-turbo could not start a decoder");
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  const auto size = static_cast<unsigned long>(bytes.size());
  if (tjDecompressHeader3(handle.get(), bytes.data(), size, &width, &height, &subsampling, &colorspace) != 0)
    throw InputError("image " + in_quotes(path) + " is not a readable JPEG: " + tjGetErrorStr2(handle.get()));
  Rgb8Image image{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * 3)};
  // libjpeg's defaults, as PIL uses them: accurate integer IDCT, fancy upsampling.
  const int flags = TJFLAG_ACCURATEDCT;
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    std::vector<unsigned char> cmyk(static_cast<std::size_t>(width) * height * 4);
    if (tjDecompress2(handle.get(), bytes.data(), size, cmyk.data(), width, 0, height, TJPF_CMYK, flags) != 0)
      throw InputError("image " + in_quotes(path) + " is a damaged JPEG: " + tjGetErrorStr2(handle.get()));
    // PIL's CMYK -> RGB: channel * (255 - K) / 255 on the inverted (Adobe) values.
    for (std::size_t p = 0; p < static_cast<std::size_t>(width) * height; ++p) {
      const int k = cmyk[p * 4 + 3];
      for (int c = 0; c < 3; ++c) image.pixels[p * 3 + c] = static_cast<std::uint8_t>((cmyk[p * 4 + c] * k + 127) / 255);
    }
    return image;
  }
  if (tjDecompress2(handle.get(), bytes.data(), size, image.pixels.data(), width, 0, height, TJPF_RGB, flags) != 0)
    throw InputError("image " + in_quotes(path) + " is a damaged JPEG: " + tjGetErrorStr2(handle.get()));
  return image;
}

Rgb8Image decode_png(const std::string& path, const std::vector<unsigned char>& bytes) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  const auto fail = [&](const char* what) {
    const std::string message = "image " + in_quotes(path) + " " + what + ": " + png.message;
    png_image_free(&png);
    throw InputError(message);
  };
  if (png_image_begin_read_from_memory(&png, bytes.data(), bytes.size()) == 0) fail("is not a readable PNG");
  // 8-bit sRGB with straight alpha; dropping alpha afterwards is what convert("RGB") does.
  png.format = PNG_FORMAT_RGBA;
  std::vector<std::uint8_t> rgba(PNG_IMAGE_SIZE(png));
  if (png_image_finish_read(&png, nullptr, rgba.data(), 0, nullptr) == 0) fail("is a damaged PNG");
  Rgb8Image image{static_cast<int>(png.width), static_cast<int>(png.height), {}};
  image.pixels.resize(static_cast<std::size_t>(image.width) * image.height * 3);
  for (std::size_t p = 0; p < static_cast<std::size_t>(image.width) * image.height; ++p)
    for (int c = 0; c < 3; ++c) image.pixels[p * 3 + c] = rgba[p * 4 + c];
  png_image_free(&png);
  return image;
}

}  // namespace

Rgb8Image decode_image(const std::string& path) {
  const std::vector<unsigned char> bytes = read_bytes(path);
  static const unsigned char kJpeg[] = {0xFF, 0xD8, 0xFF};
  static const unsigned char kPng[] = {0x89, 'P', 'N', 'G'};
  Rgb8Image image;
  if (bytes.size() >= 3 && std::equal(kJpeg, kJpeg + 3, bytes.begin())) {
    image = decode_jpeg(path, bytes);
  } else if (bytes.size() >= 4 && std::equal(kPng, kPng + 4, bytes.begin())) {
    image = decode_png(path, bytes);
  } else {
    throw InputError("image " + in_quotes(path) + " is neither JPEG nor PNG (by its first bytes)");
  }
  if (image.width < 1 || image.height < 1) throw InputError("image " + in_quotes(path) + " has no pixels");
  return image;
}

}  // namespace concise::clip
