// CLIP's inputs for Python: the exact tokenizer and image preprocessing of the C++
// front end, without torch, PIL, ftfy or regex.
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>

#include "arrays.hpp"
#include "bindings.hpp"
#include "concise/clip/image.hpp"
#include "concise/clip/tokenizer.hpp"
#include "concise/core/error.hpp"

namespace concise::python {

namespace {

nb::ndarray<nb::numpy, std::int64_t> tokenize(const clip::Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                              int context) {
  std::vector<std::int64_t> ids;
  ids.reserve(texts.size() * static_cast<std::size_t>(context));
  {
    nb::gil_scoped_release released;
    for (const auto& text : texts) {
      const std::vector<std::int64_t> row = tokenizer.tokenize(text, context);
      ids.insert(ids.end(), row.begin(), row.end());
    }
  }
  return to_numpy(std::move(ids), {texts.size(), static_cast<std::size_t>(context)});
}

nb::ndarray<nb::numpy, float> preprocess_images(const std::vector<std::string>& paths, int size,
                                                const std::vector<float>& mean, const std::vector<float>& std) {
  if (mean.size() != 3 || std.size() != 3) throw InputError("mean and std need 3 values each (R, G, B)");
  if (size < 1) throw InputError("size must be positive, not " + std::to_string(size));
  clip::Preprocessing spec;
  spec.size = size;
  std::copy(mean.begin(), mean.end(), spec.mean.begin());
  std::copy(std.begin(), std.end(), spec.std.begin());
  const std::size_t per_image = static_cast<std::size_t>(3) * size * size;
  std::vector<float> out(paths.size() * per_image);
  {
    nb::gil_scoped_release released;
    for (std::size_t i = 0; i < paths.size(); ++i)
      clip::preprocess(clip::decode_image(paths[i]), spec, out.data() + i * per_image);
  }
  const auto side = static_cast<std::size_t>(size);
  return to_numpy(std::move(out), {paths.size(), 3, side, side});
}

}  // namespace

void bind_clip(nb::module_& m) {
  nb::class_<clip::Tokenizer>(m, "Tokenizer", "CLIP's byte-level BPE tokenizer (exact ids).")
      .def("__init__", [](clip::Tokenizer* t, const std::string& merges) { new (t) clip::Tokenizer(merges); },
           nb::arg("merges"), "merges: bpe_simple_vocab_16e6.txt.gz or a Hugging Face merges.txt")
      .def("encode", &clip::Tokenizer::encode, nb::arg("text"), "Token ids of the cleaned text, without start/end.")
      .def("tokenize", &tokenize, nb::arg("texts"), nb::arg("context") = clip::Tokenizer::kContextLength,
           "int64 [len(texts), context]: start, ids, end, cut keeping the end token, padded with 0.")
      .def_prop_ro("vocab_size", &clip::Tokenizer::vocab_size)
      .def_prop_ro("source", &clip::Tokenizer::source);
  m.def("preprocess_images", &preprocess_images, nb::arg("paths"), nb::arg("size") = 224,
        nb::arg("mean") = std::vector<float>{0.48145466f, 0.4578275f, 0.40821073f},
        nb::arg("std") = std::vector<float>{0.26862954f, 0.26130258f, 0.27577711f},
        "float32 [len(paths), 3, size, size]: CLIP's preprocessing, equal to PIL + torchvision's.");
}

}  // namespace concise::python
