#pragma once
// Streams rows of embeddings from an HDF5 dataset, a .npy file, or a folder of
// .npy shards (clip-retrieval's img_emb_0.npy, img_emb_1.npy, ... layout).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace concise {

class EmbeddingSource {
 public:
  virtual ~EmbeddingSource() = default;
  virtual std::int64_t rows() const = 0;
  virtual std::int64_t dim() const = 0;
  // Reads rows [first, first + count) as float32 into out (count x dim).
  virtual void read(std::int64_t first, std::int64_t count, float* out) const = 0;
  // Where the data comes from, e.g. "file 'x.h5', dataset '/embeddings'".
  virtual std::string describe() const = 0;
  // Where one row comes from, e.g. "file 'img_emb_3.npy', row 17".
  virtual std::string describe_row(std::int64_t row) const;
  // The rows' names (image files, texts) when the input carries them (/names), else empty.
  virtual std::vector<std::string> row_names() const { return {}; }
};

inline constexpr const char* kDefaultEmbeddingDataset = "/embeddings";

// Opens path by its kind (folder, .npy, HDF5). Empty inputs are rejected.
std::unique_ptr<EmbeddingSource> open_embeddings(const std::string& path,
                                                 const std::string& dataset = kDefaultEmbeddingDataset);

}  // namespace concise

namespace concise {

// Writes a float32 [rows, dim] dataset row block by row block to path.partial and
// renames it to path when every row is in (recomposed embeddings, encoder output).
// Files it writes carry an optional /names dataset (one string per row).
//
// A resumable writer (run_key not empty: what identifies the run, e.g. the inputs
// and the model) commits its rows, their names and how many inputs it has consumed
// after every append, and keeps path.partial when it stops early; a later writer
// with the same run_key continues it.
class EmbeddingWriter {
 public:
  EmbeddingWriter(const std::string& path, std::int64_t rows, std::int64_t dim,
                  const std::string& dataset = kDefaultEmbeddingDataset, const std::string& run_key = "");
  ~EmbeddingWriter();
  EmbeddingWriter(const EmbeddingWriter&) = delete;
  EmbeddingWriter& operator=(const EmbeddingWriter&) = delete;

  // The resumable writer that path.partial holds for run_key, or null when there is
  // none (or it belongs to another run: it is then left to be replaced).
  static std::unique_ptr<EmbeddingWriter> resume(const std::string& path, const std::string& run_key,
                                                 const std::string& dataset = kDefaultEmbeddingDataset);

  // Whether `path` is a finished file of the run run_key (nothing left to do).
  static bool finished_run(const std::string& path, const std::string& run_key);

  void append(const float* rows, std::int64_t count);
  // Resumable writers: rows with their names, and the inputs consumed so far.
  void append(const float* rows, std::int64_t count, const std::vector<std::string>& names, std::int64_t inputs_done);
  std::int64_t rows_written() const;
  std::int64_t inputs_done() const;
  // Drops announced rows that were never appended (inputs that could not be read).
  void truncate_to_written();
  void set_attribute(const std::string& name, const std::string& value);
  // row_names, when given, are stored as /names (one per row).
  void finish(const std::vector<std::string>& row_names = {});

  struct State;  // the file and its counters (embedding_writer.cpp)

 private:
  explicit EmbeddingWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace concise
