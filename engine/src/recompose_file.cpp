#include <algorithm>

#include "concise/core/codes_file.hpp"
#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/engine/jobs.hpp"
#include "concise/engine/resources.hpp"

namespace concise {

void recompose_file(const std::string& codes_path, const Dictionary& dict, const std::vector<std::string>& zero,
                    const std::string& output, const std::string& device) {
  std::vector<std::uint8_t> zeroed(static_cast<std::size_t>(dict.size()), 0);
  for (const auto& name : zero) {
    zeroed[static_cast<std::size_t>(dict.require(name, "zeroed"))] = 1;
  }
  const CodesFile head = CodesFile::load(codes_path, 0, 0);
  if (!head.complete)
    throw InputError("file " + in_quotes(codes_path) + ": is incomplete (an interrupted run), expected finished codes");
  if (!head.info.dictionary_fingerprint.empty() && head.info.dictionary_fingerprint != dict.fingerprint)
    throw InputError("file " + in_quotes(codes_path) + ": was made with another dictionary (fingerprint " +
                     head.info.dictionary_fingerprint + ", this one is " + dict.fingerprint + ")");
  if (head.codes.cols != dict.size())
    throw InputError("file " + in_quotes(codes_path) + ": has " + std::to_string(head.codes.cols) + " concepts, expected " +
                     std::to_string(dict.size()) + " (the dictionary's)");
  const std::int64_t rows = head.info.rows >= 0 ? head.info.rows : 0;
  Resources resources(device);
  EmbeddingWriter writer(output, rows, dict.dim());
  const std::int64_t chunk = 16384;
  for (std::int64_t first = 0; first < rows; first += chunk) {
    CodesFile part = CodesFile::load(codes_path, first, std::min(chunk, rows - first));
    for (std::size_t p = 0; p < part.codes.data.size(); ++p)
      if (zeroed[static_cast<std::size_t>(part.codes.indices[p])]) part.codes.data[p] = 0.0f;
    const Matrix<float> dense = resources.recompose(dict, part.codes);
    writer.append(dense.data(), dense.rows());
  }
  writer.finish();
}

}  // namespace concise
