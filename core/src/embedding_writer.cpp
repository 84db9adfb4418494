#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "concise/core/embedding_source.hpp"
#include "concise/core/error.hpp"
#include "concise/core/output_file.hpp"
#include "hdf5_io.hpp"

namespace concise {

struct EmbeddingWriter::State {
  std::string path, partial, dataset, run_key;
  std::unique_ptr<PartialLock> lock;  // declared before file: closed after it
  detail::H5File file;
  std::int64_t rows = 0, dim = 0, done = 0, inputs = 0;
  bool finished = false;
};

EmbeddingWriter::EmbeddingWriter(std::unique_ptr<State> state) : state_(std::move(state)) {}

namespace {

// The writer's file at file_path: the rows x dim dataset and, for a resumable run,
// the growing /names, the run's key and zero counters.
void start_file(EmbeddingWriter::State& s, const std::string& file_path) {
  s.file = detail::create_h5(file_path);
  detail::H5QuietScope quiet;
  hsize_t dims[2] = {static_cast<hsize_t>(s.rows), static_cast<hsize_t>(s.dim)};
  hsize_t chunk[2] = {static_cast<hsize_t>(std::max<std::int64_t>(1, std::min<std::int64_t>(s.rows, 1024))), dims[1]};
  detail::H5Id space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  detail::H5Id props(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (s.rows > 0) H5Pset_chunk(props.get(), 2, chunk);
  detail::H5Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  detail::H5Id ds(H5Dcreate2(s.file.id.get(), s.dataset.c_str(), H5T_IEEE_F32LE, space.get(), lcpl.get(), props.get(),
                             H5P_DEFAULT),
                  H5Dclose);
  if (!ds.valid()) throw Error("file " + in_quotes(file_path) + ": cannot create dataset " + in_quotes(s.dataset));
  if (!s.run_key.empty()) {
    detail::create_growable_strings(s.file, "/names", 1024);
    detail::set_attr(s.file, s.file.id.get(), "run_key", s.run_key);
    detail::set_attr(s.file, s.file.id.get(), "rows_done", std::int64_t{0});
    detail::set_attr(s.file, s.file.id.get(), "inputs_done", std::int64_t{0});
    detail::flush_h5(s.file);
  }
}

// Rows [first, first + count) of a rows x dim float dataset.
void read_rows(const detail::H5File& file, const std::string& dataset, std::int64_t first, std::int64_t count,
               std::int64_t dim, float* out) {
  detail::H5Id ds = detail::open_dataset(file, dataset);
  detail::H5QuietScope quiet;
  const detail::RowSlab slab = detail::select_rows(ds.get(), first, count, dim);
  if (!slab.selected ||
      H5Dread(ds.get(), H5T_NATIVE_FLOAT, slab.memory.get(), slab.file_space.get(), H5P_DEFAULT, out) < 0)
    throw Error("dataset " + in_quotes(dataset) + " does not read back");
}

// Writes rows [first, first + count) of a rows x dim float dataset.
void write_rows(const detail::H5File& file, const std::string& dataset, std::int64_t first, std::int64_t count,
                std::int64_t dim, const float* rows) {
  detail::H5Id ds = detail::open_dataset(file, dataset);
  detail::H5QuietScope quiet;
  const detail::RowSlab slab = detail::select_rows(ds.get(), first, count, dim);
  if (!slab.selected ||
      H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, slab.memory.get(), slab.file_space.get(), H5P_DEFAULT, rows) < 0)
    throw Error("file " + in_quotes(file.path) + ": writing rows failed: " +
                (detail::hdf5_system_reason().empty() ? "HDF5 write error" : detail::hdf5_system_reason()));
}

// Copies an interrupted run's committed rows and their names into the writer's fresh
// file, checking them on the way; throws Error when they do not read back whole (a run
// killed mid-write can tear what it had not committed yet).
void copy_committed_rows(const detail::H5File& from, EmbeddingWriter::State& to) {
  constexpr std::int64_t kBlockRows = 4096;
  std::vector<float> rows;
  for (std::int64_t first = 0; first < to.done; first += kBlockRows) {
    const std::int64_t n = std::min(kBlockRows, to.done - first);
    rows.resize(static_cast<std::size_t>(n * to.dim));
    read_rows(from, to.dataset, first, n, to.dim, rows.data());
    for (float v : rows)
      if (!std::isfinite(v)) throw Error("dataset " + in_quotes(to.dataset) + " is inconsistent");
    write_rows(to.file, to.dataset, first, n, to.dim, rows.data());
  }
  std::vector<std::string> names = detail::read_strings(from, "/names");
  names.resize(static_cast<std::size_t>(to.done));  // names past the last commit were never committed
  detail::resize_1d(to.file, "/names", to.done);
  if (to.done > 0) detail::write_strings_at(to.file, "/names", 0, names);
  detail::set_attr(to.file, to.file.id.get(), "rows_done", to.done);
  detail::set_attr(to.file, to.file.id.get(), "inputs_done", to.inputs);
  detail::flush_h5(to.file);
}

}  // namespace

EmbeddingWriter::EmbeddingWriter(const std::string& path, std::int64_t rows, std::int64_t dim,
                                 const std::string& dataset, const std::string& run_key)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = path;
  s.partial = path + ".partial";
  s.dataset = dataset;
  s.run_key = run_key;
  s.rows = rows;
  s.dim = dim;
  s.lock = std::make_unique<PartialLock>(s.partial);
  start_file(s, s.partial);
}

std::unique_ptr<EmbeddingWriter> EmbeddingWriter::resume(const std::string& path, const std::string& run_key,
                                                         const std::string& dataset) {
  const std::string partial = path + ".partial";
  if (run_key.empty() || !std::filesystem::exists(partial)) return nullptr;
  auto state = std::make_unique<State>();
  state->lock = std::make_unique<PartialLock>(partial);
  std::optional<detail::H5File> old;
  try {
    old = detail::open_h5(partial, false);
  } catch (const InputError&) {
    return nullptr;  // not HDF5 (cut short while being created): start afresh
  }
  const hid_t root = old->id.get();
  if (detail::get_attr_string(root, "run_key").value_or("") != run_key || !detail::h5_exists(*old, dataset) ||
      !detail::h5_exists(*old, "/names"))
    return nullptr;
  const auto corrupt = [&](const std::string& why) {
    return InputError("file " + in_quotes(partial) + ": left by an interrupted run, but " + why +
                      "; delete it to start over");
  };
  detail::H5Id ds = detail::open_dataset(*old, dataset);
  const auto shape = detail::dataset_shape(*old, dataset, ds.get());
  if (shape.size() != 2) throw corrupt("dataset " + in_quotes(dataset) + " is not 2-D");
  detail::H5Id names = detail::open_dataset(*old, "/names");
  const auto names_shape = detail::dataset_shape(*old, "/names", names.get());
  state->path = path;
  state->partial = partial;
  state->dataset = dataset;
  state->run_key = run_key;
  state->rows = static_cast<std::int64_t>(shape[0]);
  state->dim = static_cast<std::int64_t>(shape[1]);
  state->done = detail::get_attr_int64(root, "rows_done").value_or(0);
  state->inputs = detail::get_attr_int64(root, "inputs_done").value_or(0);
  if (state->done < 0 || state->done > state->rows || state->inputs < 0 || names_shape.size() != 1 ||
      static_cast<std::int64_t>(names_shape[0]) < state->done)
    throw corrupt("its rows_done (" + std::to_string(state->done) + ") does not fit its " +
                  std::to_string(state->rows) + " rows and their names");
  // The old file is only read: extending it in place could trip over metadata torn by
  // the kill. Its committed rows go into a fresh file, which then takes its place.
  const std::string fresh = partial + ".resume";
  try {
    auto fresh_lock = std::make_unique<PartialLock>(fresh);
    start_file(*state, fresh);
    copy_committed_rows(*old, *state);
    old.reset();
    std::error_code ec;
    std::filesystem::rename(fresh, partial, ec);
    if (ec) throw Error("file " + in_quotes(fresh) + ": cannot be renamed (" + ec.message() + ")");
    state->file.path = partial;
    state->lock = std::move(fresh_lock);
  } catch (const Error& e) {
    std::fprintf(stderr, "concise: %s is damaged (%s); starting over\n", partial.c_str(), e.what());
    state->file.id.reset();
    std::error_code ec;
    std::filesystem::remove(fresh, ec);
    return nullptr;
  }
  return std::unique_ptr<EmbeddingWriter>(new EmbeddingWriter(std::move(state)));
}

bool EmbeddingWriter::finished_run(const std::string& path, const std::string& run_key) {
  if (run_key.empty() || !std::filesystem::exists(path)) return false;
  try {
    const detail::H5File file = detail::open_h5(path, false);
    return detail::get_attr_string(file.id.get(), "run_key").value_or("") == run_key;
  } catch (const InputError&) {
    return false;
  }
}

EmbeddingWriter::~EmbeddingWriter() {
  // A resumable writer keeps what it committed; any other unfinished file goes.
  if (state_ && !state_->finished && state_->run_key.empty()) {
    state_->file.id.reset();
    std::remove(state_->partial.c_str());
  }
}

std::int64_t EmbeddingWriter::rows_written() const { return state_->done; }
std::int64_t EmbeddingWriter::inputs_done() const { return state_->inputs; }

void EmbeddingWriter::append(const float* rows, std::int64_t count) {
  State& s = *state_;
  if (count <= 0) return;
  if (s.done + count > s.rows) throw Error("embedding writer: more rows than announced");
  write_rows(s.file, s.dataset, s.done, count, s.dim, rows);
  s.done += count;
}

void EmbeddingWriter::append(const float* rows, std::int64_t count, const std::vector<std::string>& names,
                             std::int64_t inputs_done) {
  State& s = *state_;
  if (s.run_key.empty()) throw Error("embedding writer: named rows need a resumable writer");
  if (static_cast<std::int64_t>(names.size()) != count)
    throw Error("embedding writer: " + std::to_string(names.size()) + " names for " + std::to_string(count) + " rows");
  const std::int64_t first = s.done;
  append(rows, count);
  detail::resize_1d(s.file, "/names", s.done);
  detail::write_strings_at(s.file, "/names", first, names);
  s.inputs = inputs_done;
  // Commit: the rows and names are written before the counters that point past them.
  detail::flush_h5(s.file);
  detail::set_attr(s.file, s.file.id.get(), "rows_done", s.done);
  detail::set_attr(s.file, s.file.id.get(), "inputs_done", s.inputs);
  detail::flush_h5(s.file);
}

void EmbeddingWriter::truncate_to_written() {
  State& s = *state_;
  if (s.done == s.rows) return;
  detail::H5Id ds = detail::open_dataset(s.file, s.dataset);
  hsize_t dims[2] = {static_cast<hsize_t>(s.done), static_cast<hsize_t>(s.dim)};
  detail::H5QuietScope quiet;
  if (H5Dset_extent(ds.get(), dims) < 0) throw Error("file " + in_quotes(s.partial) + ": cannot shrink " + in_quotes(s.dataset));
  s.rows = s.done;
}

void EmbeddingWriter::set_attribute(const std::string& name, const std::string& value) {
  detail::H5Id ds = detail::open_dataset(state_->file, state_->dataset);
  detail::set_attr(state_->file, ds.get(), name, value);
}

void EmbeddingWriter::finish(const std::vector<std::string>& row_names) {
  State& s = *state_;
  if (!row_names.empty()) {
    if (static_cast<std::int64_t>(row_names.size()) != s.done)
      throw Error("embedding writer: " + std::to_string(row_names.size()) + " names for " + std::to_string(s.done) + " rows");
    detail::write_strings(s.file, "/names", row_names);
  }
  if (s.done != s.rows) throw Error("embedding writer: finished with " + std::to_string(s.done) + " of " + std::to_string(s.rows) + " rows");
  detail::flush_h5(s.file);
  // Written afresh, the file's bytes do not depend on where earlier runs were interrupted.
  const std::string finishing = s.path + ".finishing";
  detail::write_compact_copy(s.file, finishing);
  s.file.id.reset();
  std::error_code ec;
  std::filesystem::remove(s.partial, ec);
  std::filesystem::rename(finishing, s.path, ec);
  if (ec) throw Error("file " + in_quotes(s.path) + ": cannot be written (" + ec.message() + ")");
  s.finished = true;
}

}  // namespace concise
