#include "concise/core/embedding_source.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <vector>

#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "hdf5_io.hpp"

namespace concise {
namespace {

namespace fs = std::filesystem;

class Hdf5Source final : public EmbeddingSource {
 public:
  Hdf5Source(const std::string& path, std::string dataset)
      : file_(detail::open_h5(path, false)), dataset_(std::move(dataset)) {
    ds_ = detail::open_dataset(file_, dataset_);
    auto shape = detail::dataset_shape(file_, dataset_, ds_.get());
    if (shape.size() != 2)
      throw InputError(describe() + ": expected a 2-D dataset [rows, dim], got shape " +
                       shape_text(std::vector<std::int64_t>(shape.begin(), shape.end())));
    if (!detail::dataset_is_float(ds_.get()))
      throw InputError(describe() + ": expected float16, float32 or float64 values");
    rows_ = static_cast<std::int64_t>(shape[0]);
    dim_ = static_cast<std::int64_t>(shape[1]);
  }
  std::int64_t rows() const override { return rows_; }
  std::int64_t dim() const override { return dim_; }
  std::string describe() const override { return "file " + in_quotes(file_.path) + ", dataset " + in_quotes(dataset_); }

  std::vector<std::string> row_names() const override {
    if (!detail::h5_exists(file_, "/names")) return {};
    std::vector<std::string> names = detail::read_strings(file_, "/names");
    if (static_cast<std::int64_t>(names.size()) != rows_)
      throw InputError("file " + in_quotes(file_.path) + ", dataset '/names': " + std::to_string(names.size()) +
                       " names for " + std::to_string(rows_) + " rows of " + in_quotes(dataset_));
    return names;
  }

  void read(std::int64_t first, std::int64_t count, float* out) const override {
    detail::H5QuietScope quiet;
    const detail::RowSlab slab = detail::select_rows(ds_.get(), first, count, dim_);
    if (!slab.selected ||
        H5Dread(ds_.get(), H5T_NATIVE_FLOAT, slab.memory.get(), slab.file_space.get(), H5P_DEFAULT, out) < 0)
      throw InputError(describe() + ": rows " + std::to_string(first) + " to " + std::to_string(first + count - 1) +
                       " cannot be read (truncated or corrupt file)");
  }

 private:
  detail::H5File file_;
  std::string dataset_;
  detail::H5Id ds_;
  std::int64_t rows_ = 0, dim_ = 0;
};

class NpyShardsSource final : public EmbeddingSource {
 public:
  NpyShardsSource(std::string label, const std::vector<std::string>& paths) : label_(std::move(label)) {
    for (const auto& p : paths) {
      NpyInfo info = inspect_npy(p);
      if (info.shape.size() != 2)
        throw InputError("file " + in_quotes(p) + ": expected a 2-D array [rows, dim], got shape " + shape_text(info.shape));
      if (!shards_.empty() && info.shape[1] != dim_)
        throw InputError("file " + in_quotes(p) + ": has dimension " + std::to_string(info.shape[1]) +
                         ", expected " + std::to_string(dim_) + " like the shards before it");
      dim_ = info.shape[1];
      offsets_.push_back(rows_);
      rows_ += info.shape[0];
      shards_.push_back(std::move(info));
    }
  }
  std::int64_t rows() const override { return rows_; }
  std::int64_t dim() const override { return dim_; }
  std::string describe() const override { return label_; }
  std::string describe_row(std::int64_t row) const override {
    std::size_t s = shard_of(row);
    return "file " + in_quotes(shards_[s].path) + ", row " + std::to_string(row - offsets_[s]);
  }

  void read(std::int64_t first, std::int64_t count, float* out) const override {
    while (count > 0) {
      std::size_t s = shard_of(first);
      std::int64_t local = first - offsets_[s];
      std::int64_t take = std::min(count, shards_[s].shape[0] - local);
      read_npy_rows(shards_[s], local, take, out);
      out += take * dim_;
      first += take;
      count -= take;
    }
  }

 private:
  std::size_t shard_of(std::int64_t row) const {
    auto it = std::upper_bound(offsets_.begin(), offsets_.end(), row);
    return static_cast<std::size_t>(it - offsets_.begin() - 1);
  }
  std::string label_;
  std::vector<NpyInfo> shards_;
  std::vector<std::int64_t> offsets_;
  std::int64_t rows_ = 0, dim_ = 0;
};

// Orders shard files the way clip-retrieval numbers them: img_emb_2 before img_emb_10.
std::vector<std::string> shard_files(const std::string& folder) {
  std::vector<std::pair<std::pair<std::string, long long>, std::string>> keyed;
  std::regex numbered(R"((.*?)(\d+)\.npy)");
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".npy") continue;
    std::string name = entry.path().filename().string();
    std::smatch m;
    if (std::regex_match(name, m, numbered))
      keyed.push_back({{m[1], std::stoll(m[2])}, entry.path().string()});
    else
      keyed.push_back({{name, -1}, entry.path().string()});
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<std::string> out;
  for (auto& k : keyed) out.push_back(k.second);
  return out;
}

bool has_npy_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[6] = {};
  in.read(magic, 6);
  return in.gcount() == 6 && std::string(magic, 6) == "\x93NUMPY";
}

}  // namespace

std::string EmbeddingSource::describe_row(std::int64_t row) const { return describe() + ", row " + std::to_string(row); }

std::unique_ptr<EmbeddingSource> open_embeddings(const std::string& path, const std::string& dataset) {
  std::unique_ptr<EmbeddingSource> source;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto files = shard_files(path);
    if (files.empty()) throw InputError("folder " + in_quotes(path) + ": holds no .npy shards (expected img_emb_0.npy, ...)");
    source = std::make_unique<NpyShardsSource>("folder " + in_quotes(path), files);
  } else if (!fs::exists(path, ec)) {
    throw InputError("file " + in_quotes(path) + ": no such file");
  } else if (fs::path(path).extension() == ".npy" || has_npy_magic(path)) {
    source = std::make_unique<NpyShardsSource>("file " + in_quotes(path), std::vector<std::string>{path});
  } else {
    source = std::make_unique<Hdf5Source>(path, dataset);
  }
  if (source->rows() == 0) throw InputError(source->describe() + ": empty input (0 rows), expected at least one embedding");
  if (source->dim() == 0) throw InputError(source->describe() + ": embeddings have dimension 0");
  return source;
}

}  // namespace concise
