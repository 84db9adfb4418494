#include "concise/clip/embed.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "concise/clip/image.hpp"
#include "concise/core/embedding_source.hpp"
#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/core/progress.hpp"

namespace concise::clip {
namespace {

namespace fs = std::filesystem;

bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

void normalize_rows(Matrix<float>& rows) {
  for (std::int64_t r = 0; r < rows.rows(); ++r) normalize(rows.row(r), rows.cols());
}

}  // namespace

std::vector<std::string> list_images(const std::string& folder, bool recursive) {
  if (!fs::is_directory(folder)) throw InputError("image folder " + in_quotes(folder) + " does not exist");
  std::vector<std::string> paths;
  const auto consider = [&paths](const fs::directory_entry& entry) {
    if (entry.is_regular_file() && has_image_extension(entry.path())) paths.push_back(entry.path().string());
  };
  if (recursive) {
    for (const auto& entry : fs::recursive_directory_iterator(folder, fs::directory_options::follow_directory_symlink))
      consider(entry);
  } else {
    for (const auto& entry : fs::directory_iterator(folder)) consider(entry);
  }
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) throw InputError("image folder " + in_quotes(folder) + " has no .jpg, .jpeg or .png files");
  return paths;
}

ImageEmbeddingSummary embed_image_files(Encoder& encoder, const std::vector<std::string>& paths,
                                        const std::string& root, const std::string& output,
                                        const EmbedSettings& settings) {
  const auto total = static_cast<std::int64_t>(paths.size());
  const std::int64_t batch = std::max<std::int64_t>(1, settings.batch);
  const Preprocessing& spec = encoder.preprocessing();
  const std::size_t per_image = static_cast<std::size_t>(3) * spec.size * spec.size;
  std::vector<std::string> names;
  names.reserve(paths.size());
  for (const auto& path : paths) names.push_back(fs::path(path).lexically_relative(root).generic_string());
  // The run is these images, in this order, through this model.
  std::string listing = encoder.name() + '\n' + std::to_string(spec.size);
  for (const auto& name : names) listing += '\n' + name;
  const std::string run_key = "images " + std::to_string(total) + " " + std::to_string(std::hash<std::string>{}(listing));

  ImageEmbeddingSummary summary;
  if (EmbeddingWriter::finished_run(output, run_key)) {  // the same images, embedded before
    summary.rows = open_embeddings(output)->rows();
    summary.images_done = total;
    summary.resumed = summary.complete = true;
    return summary;
  }
  // Set on resume too: a run killed before its first commit may not have stored them.
  const auto describe = [&](EmbeddingWriter& w) {
    w.set_attribute("model", encoder.name());
    w.set_attribute("normalized", "unit L2 norm");
  };
  std::unique_ptr<EmbeddingWriter> writer = EmbeddingWriter::resume(output, run_key);
  if (writer) describe(*writer);
  const std::int64_t start = writer ? writer->inputs_done() : 0;
  summary.resumed = writer != nullptr;
  Progress progress("embed", total, start, settings.progress);
  std::vector<float> pixels(per_image * static_cast<std::size_t>(batch));
  std::int64_t batches = 0;
  std::int64_t next = start;
  for (; next < total && (settings.max_batches <= 0 || batches < settings.max_batches); ++batches) {
    const std::int64_t first = next, count = std::min(batch, total - first);
    std::vector<std::string> errors(static_cast<std::size_t>(count));
#pragma omp parallel for schedule(dynamic)
    for (std::int64_t i = 0; i < count; ++i) {
      try {
        preprocess(decode_image(paths[static_cast<std::size_t>(first + i)]), spec,
                   pixels.data() + per_image * static_cast<std::size_t>(i));
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(i)] = e.what();
      }
    }
    // Readable images move up to close the gaps the unreadable ones leave.
    std::vector<std::string> batch_names;
    for (std::int64_t i = 0; i < count; ++i) {
      const std::string& error = errors[static_cast<std::size_t>(i)];
      if (!error.empty()) {
        std::fprintf(stderr, "concise: skipped unreadable image: %s\n", error.c_str());
        summary.skipped.push_back(error);
        continue;
      }
      const auto kept = static_cast<std::int64_t>(batch_names.size());
      if (kept != i)
        std::copy_n(pixels.data() + per_image * static_cast<std::size_t>(i), per_image,
                    pixels.data() + per_image * static_cast<std::size_t>(kept));
      batch_names.push_back(names[static_cast<std::size_t>(first + i)]);
    }
    const auto kept = static_cast<std::int64_t>(batch_names.size());
    Matrix<float> features;
    if (kept > 0) {
      features = encoder.encode_images(pixels.data(), kept);
      normalize_rows(features);
    }
    if (!writer && kept > 0) {
      writer = std::make_unique<EmbeddingWriter>(output, total, features.cols(), kDefaultEmbeddingDataset, run_key);
      describe(*writer);
    }
    next = first + count;
    if (writer) writer->append(features.data(), kept, batch_names, next);
    progress.advance(count);
  }
  progress.finish();
  summary.images_done = next;
  summary.rows = writer ? writer->rows_written() : 0;
  if (next < total) return summary;  // stopped early: output.partial holds the rows
  if (!writer) throw InputError("none of the " + std::to_string(total) + " images could be read; nothing was written");
  writer->truncate_to_written();
  writer->finish();
  summary.complete = true;
  return summary;
}

namespace {

// Calls consume(first, features) for each batch of texts, in order.
template <class Consume>
void encode_text_batches(Encoder& encoder, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                         const EmbedSettings& settings, Consume consume) {
  const auto total = static_cast<std::int64_t>(texts.size());
  if (total == 0) throw InputError("no texts to embed");
  const std::int64_t batch = std::max<std::int64_t>(1, settings.batch);
  constexpr int context = Tokenizer::kContextLength;
  Progress progress("embed texts", total, 0, settings.progress);
  std::vector<std::int64_t> ids(static_cast<std::size_t>(batch) * context);
  for (std::int64_t first = 0; first < total; first += batch) {
    const std::int64_t count = std::min(batch, total - first);
    for (std::int64_t i = 0; i < count; ++i) {
      const auto row = tokenizer.tokenize(texts[static_cast<std::size_t>(first + i)], context);
      std::copy(row.begin(), row.end(), ids.begin() + i * context);
    }
    consume(first, encoder.encode_texts(ids.data(), count, context));
    progress.advance(count);
  }
  progress.finish();
}

}  // namespace

Matrix<float> embed_texts(Encoder& encoder, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                          const EmbedSettings& settings) {
  Matrix<float> out;
  encode_text_batches(encoder, tokenizer, texts, settings, [&](std::int64_t first, const Matrix<float>& features) {
    if (out.rows() == 0) out = Matrix<float>(static_cast<std::int64_t>(texts.size()), features.cols());
    std::copy(features.values().begin(), features.values().end(), out.row(first));
  });
  return out;
}

void embed_text_file(Encoder& encoder, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                     const std::string& output, const EmbedSettings& settings) {
  std::unique_ptr<EmbeddingWriter> writer;
  encode_text_batches(encoder, tokenizer, texts, settings, [&](std::int64_t, Matrix<float> features) {
    normalize_rows(features);
    if (!writer) {
      writer = std::make_unique<EmbeddingWriter>(output, static_cast<std::int64_t>(texts.size()), features.cols());
      writer->set_attribute("model", encoder.name());
      writer->set_attribute("normalized", "unit L2 norm");
    }
    writer->append(features.data(), features.rows());
  });
  writer->finish(texts);
}

}  // namespace concise::clip
