#pragma once
// Batched encoding of image folders and texts with a CLIP Encoder: preprocessing in
// parallel on the CPU, encoding a batch at a time, progress on a terminal.
#include <cstdint>
#include <string>
#include <vector>

#include "concise/clip/encoder.hpp"
#include "concise/clip/tokenizer.hpp"
#include "concise/core/matrix.hpp"

namespace concise::clip {

struct EmbedSettings {
  std::int64_t batch = 64;
  bool progress = true;
  std::int64_t max_batches = 0;  // stop after this many batches (resumable); 0: run to the end
};

// The JPEG and PNG files of a folder (by extension; with `recursive`, of its
// subfolders too), sorted by path.
std::vector<std::string> list_images(const std::string& folder, bool recursive = false);

struct ImageEmbeddingSummary {
  std::int64_t rows = 0;             // rows in the output so far
  std::int64_t images_done = 0;      // images read so far, unreadable ones included
  bool resumed = false;              // continued an interrupted run
  bool complete = false;
  std::vector<std::string> skipped;  // "file: reason" for each unreadable image of this run
};

// Encodes images into `output` (HDF5: /embeddings float32 [N, dim], unit norm, and
// /names, each image's path relative to `root`). Unreadable images are reported on
// stderr and skipped, never written as rows. Atomic and resumable: rows are committed
// to output.partial after every batch, a rerun over the same images with the same
// model continues where the last run stopped, and the file is renamed when complete.
ImageEmbeddingSummary embed_image_files(Encoder& encoder, const std::vector<std::string>& paths,
                                        const std::string& root, const std::string& output,
                                        const EmbedSettings& settings = {});

// Raw (unnormalized) text features, one row per text.
Matrix<float> embed_texts(Encoder& encoder, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                          const EmbedSettings& settings = {});

// Encodes texts batch by batch into `output` (unit-norm /embeddings, /names = the
// texts). Atomic like embed_image_files.
void embed_text_file(Encoder& encoder, const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                     const std::string& output, const EmbedSettings& settings = {});

}  // namespace concise::clip
