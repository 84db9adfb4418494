// The dictionary reader: atoms, concept names, means and metadata.
#include <cstdint>

#include "concise/core/dictionary.hpp"
#include "expect_errors.hpp"
#include "h5_builder.hpp"
#include "temp_file.hpp"

using namespace concise::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const hsize_t concepts = input.ConsumeIntegralInRange<hsize_t>(1, 8);
  const hsize_t dim = input.ConsumeIntegralInRange<hsize_t>(1, 8);
  const std::string path = scratch().file("dictionary.h5");
  build_h5(path, input,
           {{"/atoms", Kind::F32, {concepts, dim}},
            {"/concepts", Kind::VarString, {concepts}},
            {"/image_mean", Kind::F32, {dim}},
            {"/text_mean", Kind::F32, {dim}}},
           {{"model", std::string("ViT-B-32")},
            {"vocabulary", std::string("laion")},
            {"fingerprint", std::string("0123456789abcdef")},
            {"dim", static_cast<std::int64_t>(dim)},
            {"n_concepts", static_cast<std::int64_t>(concepts)},
            {"version", std::int64_t{1}}});
  return expect_errors([&] {
    const auto dict = concise::Dictionary::load(path);
    dict.find("concept");
  });
}
