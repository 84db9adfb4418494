#include "concise/core/codes_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <type_traits>
#include <utility>

#include "concise/core/error.hpp"
#include "concise/core/output_file.hpp"
#include "hdf5_io.hpp"

namespace concise {
namespace {

namespace fs = std::filesystem;
constexpr hsize_t kChunk = 1 << 16;

// One per-row stats dataset: its name, its types on file and in memory, and its column of CodeStats.
struct StatsColumn {
  const char* name;
  hid_t file_type;
  hid_t mem_type;
  std::size_t bytes;  // of one value
  const void* (*values)(const CodeStats&);
  void* (*values_to_fill)(CodeStats&);
};

template <auto member>
StatsColumn stats_column(const char* name, hid_t file_type, hid_t mem_type) {
  using Column = std::remove_reference_t<decltype(std::declval<CodeStats&>().*member)>;
  return {name, file_type, mem_type, sizeof(typename Column::value_type),
          [](const CodeStats& stats) -> const void* { return (stats.*member).data(); },
          [](CodeStats& stats) -> void* { return (stats.*member).data(); }};
}

// Every stats dataset, for the writer, the resume copy and the reader alike.
std::vector<StatsColumn> stats_columns() {
  return {stats_column<&CodeStats::l0>("/stats/l0", H5T_STD_I32LE, H5T_NATIVE_INT32),
          stats_column<&CodeStats::cosine>("/stats/cosine", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT),
          stats_column<&CodeStats::centered_cosine>("/stats/centered_cosine", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT),
          stats_column<&CodeStats::gap>("/stats/gap", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT),
          stats_column<&CodeStats::objective>("/stats/objective", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT),
          stats_column<&CodeStats::iterations>("/stats/iterations", H5T_STD_I32LE, H5T_NATIVE_INT32),
          stats_column<&CodeStats::l1>("/stats/l1", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT),
          stats_column<&CodeStats::at_limit>("/stats/at_limit", H5T_STD_U8LE, H5T_NATIVE_UINT8)};
}

void write_run_info(const detail::H5File& file, const CodesRunInfo& info) {
  hid_t root = file.id.get();
  detail::set_attr(file, root, "l1", info.l1);
  detail::set_attr(file, root, "tol", info.tol);
  detail::set_attr(file, root, "solver", info.solver);
  detail::set_attr(file, root, "device", info.device);
  detail::set_attr(file, root, "l0", info.l0);
  detail::set_attr(file, root, "l0_ratio", info.l0_ratio);
  detail::set_attr(file, root, "max_rounds", info.max_rounds);
  detail::set_attr(file, root, "dictionary_fingerprint", info.dictionary_fingerprint);
  detail::set_attr(file, root, "source", info.source);
  detail::set_attr(file, root, "n_rows", info.rows);
  detail::set_attr(file, root, "n_concepts", info.concepts);
}

CodesRunInfo read_run_info(const detail::H5File& file) {
  hid_t root = file.id.get();
  CodesRunInfo info;
  info.l1 = detail::get_attr_double(root, "l1").value_or(-1);
  info.tol = detail::get_attr_double(root, "tol").value_or(-1);
  info.solver = detail::get_attr_string(root, "solver").value_or("");
  info.device = detail::get_attr_string(root, "device").value_or("");
  info.l0 = detail::get_attr_int64(root, "l0").value_or(0);
  info.l0_ratio = detail::get_attr_double(root, "l0_ratio").value_or(0);
  info.max_rounds = detail::get_attr_int64(root, "max_rounds").value_or(0);
  info.dictionary_fingerprint = detail::get_attr_string(root, "dictionary_fingerprint").value_or("");
  info.source = detail::get_attr_string(root, "source").value_or("");
  info.rows = detail::get_attr_int64(root, "n_rows").value_or(-1);
  info.concepts = detail::get_attr_int64(root, "n_concepts").value_or(-1);
  return info;
}

// Why a .partial cannot be resumed by this run, or "" when it can.
std::string mismatch(const CodesRunInfo& found, const CodesRunInfo& wanted) {
  auto num = [](double v) {
    char text[32];
    std::snprintf(text, sizeof(text), "%g", v);
    return std::string(text);
  };
  if (found.source != wanted.source) return "input " + found.source + ", this run reads " + wanted.source;
  if (found.dictionary_fingerprint != wanted.dictionary_fingerprint) return "another dictionary";
  if (found.l1 != wanted.l1) return "l1 " + num(found.l1) + ", this run uses " + num(wanted.l1);
  if (found.tol != wanted.tol) return "tol " + num(found.tol) + ", this run uses " + num(wanted.tol);
  if (found.solver != wanted.solver) return "solver " + found.solver + ", this run uses " + wanted.solver;
  if (found.l0 != wanted.l0) return "l0 " + std::to_string(found.l0) + ", this run uses " + std::to_string(wanted.l0);
  if (found.l0 > 0 && found.l0_ratio != wanted.l0_ratio)
    return "l0 ratio " + num(found.l0_ratio) + ", this run uses " + num(wanted.l0_ratio);
  if (found.max_rounds != wanted.max_rounds)
    return "max rounds " + std::to_string(found.max_rounds) + ", this run uses " + std::to_string(wanted.max_rounds);
  if (found.rows != wanted.rows || found.concepts != wanted.concepts) return "another shape";
  return "";
}


// Copies the committed rows of an interrupted run's file into `to`, a fresh file, and
// checks them on the way. Returns their nonzeros; throws Error when they do not read
// back whole (a run killed mid-write can tear what it had not committed yet).
std::int64_t copy_committed_rows(const detail::H5File& from, const detail::H5File& to, std::int64_t rows,
                                 std::int64_t concepts) {
  constexpr std::int64_t kBlock = 1 << 20;
  const auto damaged = [&](const std::string& what) { return Error("dataset " + in_quotes(what) + " is inconsistent"); };
  std::vector<std::int64_t> indptr;
  std::int64_t nnz = 0;
  for (std::int64_t first = 0; first <= rows; first += kBlock) {
    const std::int64_t n = std::min(kBlock, rows + 1 - first);
    indptr.resize(static_cast<std::size_t>(n));
    detail::read_slice(from, "/codes/indptr", H5T_NATIVE_INT64, first, n, indptr.data());
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t value = indptr[static_cast<std::size_t>(i)];
      if ((first + i == 0 && value != 0) || value < nnz) throw damaged("/codes/indptr");
      nnz = value;
    }
    if (first > 0) detail::write_at(to, "/codes/indptr", H5T_NATIVE_INT64, first, n, indptr.data());
    else if (n > 1) detail::write_at(to, "/codes/indptr", H5T_NATIVE_INT64, 1, n - 1, indptr.data() + 1);
  }
  detail::H5Id data = detail::open_dataset(from, "/codes/data");
  const auto stored = detail::dataset_shape(from, "/codes/data", data.get());
  if (stored.size() != 1 || static_cast<std::uint64_t>(nnz) > stored[0]) throw damaged("/codes/data");
  detail::resize_1d(to, "/codes/data", nnz);
  detail::resize_1d(to, "/codes/indices", nnz);
  std::vector<float> values;
  std::vector<std::int32_t> indices;
  for (std::int64_t first = 0; first < nnz; first += kBlock) {
    const std::int64_t n = std::min(kBlock, nnz - first);
    values.resize(static_cast<std::size_t>(n));
    indices.resize(static_cast<std::size_t>(n));
    detail::read_slice(from, "/codes/data", H5T_NATIVE_FLOAT, first, n, values.data());
    detail::read_slice(from, "/codes/indices", H5T_NATIVE_INT32, first, n, indices.data());
    for (std::int64_t i = 0; i < n; ++i) {
      if (!(values[static_cast<std::size_t>(i)] >= 0.0f) || !std::isfinite(values[static_cast<std::size_t>(i)]))
        throw damaged("/codes/data");
      const std::int32_t index = indices[static_cast<std::size_t>(i)];
      if (index < 0 || index >= concepts) throw damaged("/codes/indices");
    }
    detail::write_at(to, "/codes/data", H5T_NATIVE_FLOAT, first, n, values.data());
    detail::write_at(to, "/codes/indices", H5T_NATIVE_INT32, first, n, indices.data());
  }
  std::vector<unsigned char> buffer;
  for (const StatsColumn& column : stats_columns()) {
    for (std::int64_t first = 0; first < rows; first += kBlock) {
      const std::int64_t n = std::min(kBlock, rows - first);
      buffer.resize(static_cast<std::size_t>(n) * column.bytes);
      detail::read_slice(from, column.name, column.mem_type, first, n, buffer.data());
      detail::write_at(to, column.name, column.mem_type, first, n, buffer.data());
    }
  }
  return nnz;
}
}  // namespace

struct CodesWriter::State {
  std::string path;
  std::string partial;
  std::unique_ptr<PartialLock> lock;  // declared before file: closed after it
  detail::H5File file;
  CodesRunInfo info;
  std::int64_t rows_done = 0;
  std::int64_t nnz = 0;
  bool resumed = false;
  bool finished = false;
};

CodesWriter::CodesWriter(const std::string& path, const CodesRunInfo& info, const std::vector<std::string>& concepts)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.path = path;
  s.partial = path + ".partial";
  s.info = info;
  s.lock = std::make_unique<PartialLock>(s.partial);
  if (s.lock->existed() && fs::file_size(s.partial) > 0) {
    std::optional<detail::H5File> old;
    try {
      old = detail::open_h5(s.partial, false);
    } catch (const Error&) {
      std::fprintf(stderr, "concise: %s is unreadable (interrupted mid-write); starting over\n", s.partial.c_str());
    }
    if (old && !detail::get_attr_int64(old->id.get(), "rows_done")) {
      std::fprintf(stderr, "concise: %s was cut short while being created; starting over\n", s.partial.c_str());
      old.reset();
    }
    if (old) {
      std::string why = detail::h5_exists(*old, "/stats/l1") && detail::h5_exists(*old, "/stats/centered_cosine")
                            ? mismatch(read_run_info(*old), info)
                            : "an older version of concise";
      if (!why.empty())
        throw InputError("file " + in_quotes(s.partial) + ": left by an interrupted run with " + why +
                         "; delete it to start over, or rerun with the same settings to resume");
      s.rows_done = detail::get_attr_int64(old->id.get(), "rows_done").value_or(0);
      const auto corrupt = [&] {
        return InputError("file " + in_quotes(s.partial) + ": left by an interrupted run, but its rows_done (" +
                          std::to_string(s.rows_done) + ") does not fit its rows; delete it to start over");
      };
      if (s.rows_done < 0 || s.rows_done > info.rows) throw corrupt();
      // The old file is only read: extending it in place could trip over metadata torn by the kill.
      const std::string fresh = s.partial + ".resume";
      try {
        auto fresh_lock = std::make_unique<PartialLock>(fresh);
        start_file(fresh, concepts);
        s.nnz = copy_committed_rows(*old, s.file, s.rows_done, info.concepts);
        detail::set_attr(s.file, s.file.id.get(), "rows_done", s.rows_done);
        detail::flush_h5(s.file);
        old.reset();
        std::error_code ec;
        fs::rename(fresh, s.partial, ec);
        if (ec) throw Error("file " + in_quotes(fresh) + ": cannot be renamed (" + ec.message() + ")");
        s.file.path = s.partial;
        s.lock = std::move(fresh_lock);
        s.resumed = true;
        return;
      } catch (const Error& e) {
        std::fprintf(stderr, "concise: %s is damaged (%s); starting over\n", s.partial.c_str(), e.what());
        s.file.id.reset();
        std::error_code ec;
        fs::remove(fresh, ec);
        s.rows_done = 0;
        s.nnz = 0;
      }
    }
  }
  try {
    start(concepts);
  } catch (...) {
    s.file.id.reset();
    std::error_code ec;
    fs::remove(s.partial, ec);
    throw;
  }
}

void CodesWriter::start(const std::vector<std::string>& concepts) { start_file(state_->partial, concepts); }

void CodesWriter::start_file(const std::string& file_path, const std::vector<std::string>& concepts) {
  State& s = *state_;
  const CodesRunInfo& info = s.info;
  s.file = detail::create_h5(file_path);
  const auto& f = s.file;
  {
    detail::H5Id group = detail::open_or_create_group(f, "/codes");
    detail::set_attr(f, group.get(), "encoding-type", std::string("csr_matrix"));
    detail::set_attr(f, group.get(), "encoding-version", std::string("0.1.0"));
    detail::set_attr(f, group.get(), "shape", std::vector<std::int64_t>{info.rows, info.concepts});
  }
  detail::create_growable(f, "/codes/data", H5T_IEEE_F32LE, kChunk);
  detail::create_growable(f, "/codes/indices", H5T_STD_I32LE, kChunk);
  const auto n = static_cast<hsize_t>(info.rows);
  detail::create_fixed(f, "/codes/indptr", H5T_STD_I64LE, n + 1, kChunk);
  detail::open_or_create_group(f, "/stats");  // created here, untimed, not as an intermediate group
  for (const StatsColumn& column : stats_columns()) detail::create_fixed(f, column.name, column.file_type, n, kChunk);
  detail::write_strings(f, "/concepts", concepts);
  const std::int64_t zero = 0;
  detail::write_at(f, "/codes/indptr", H5T_NATIVE_INT64, 0, 1, &zero);
  write_run_info(f, info);
  detail::set_attr(f, f.id.get(), "rows_done", zero);
  detail::set_attr(f, f.id.get(), "complete", zero);
  detail::flush_h5(f);
}

CodesWriter::~CodesWriter() {
  // A run that failed before committing any row leaves nothing behind.
  if (state_ && !state_->finished && !state_->resumed && state_->rows_done == 0) {
    state_->file.id.reset();
    std::error_code ec;
    fs::remove(state_->partial, ec);
  }
}

std::int64_t CodesWriter::rows_done() const { return state_->rows_done; }
bool CodesWriter::resumed() const { return state_->resumed; }
std::string CodesWriter::partial_path() const { return state_->partial; }

void CodesWriter::append(const SparseRows& rows, const CodeStats& stats) {
  State& s = *state_;
  const auto& f = s.file;
  const std::int64_t n = rows.rows();
  if (s.rows_done + n > s.info.rows) throw Error("codes writer: more rows than announced");
  detail::resize_1d(f, "/codes/data", s.nnz + rows.nnz());
  detail::resize_1d(f, "/codes/indices", s.nnz + rows.nnz());
  detail::write_at(f, "/codes/data", H5T_NATIVE_FLOAT, s.nnz, rows.nnz(), rows.data.data());
  detail::write_at(f, "/codes/indices", H5T_NATIVE_INT32, s.nnz, rows.nnz(), rows.indices.data());
  std::vector<std::int64_t> indptr(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) indptr[static_cast<std::size_t>(i)] = s.nnz + rows.indptr[static_cast<std::size_t>(i) + 1];
  detail::write_at(f, "/codes/indptr", H5T_NATIVE_INT64, s.rows_done + 1, n, indptr.data());
  for (const StatsColumn& column : stats_columns())
    detail::write_at(f, column.name, column.mem_type, s.rows_done, n, column.values(stats));
  // Data first, then the commit point: a crash before the flush leaves the old rows_done.
  detail::flush_h5(f);
  s.rows_done += n;
  s.nnz += rows.nnz();
  detail::set_attr(f, f.id.get(), "rows_done", s.rows_done);
  detail::flush_h5(f);
}

void CodesWriter::finish(const std::vector<std::string>& row_names, const std::vector<std::string>& descriptions) {
  State& s = *state_;
  if (s.rows_done != s.info.rows)
    throw Error("codes writer: finished with " + std::to_string(s.rows_done) + " of " + std::to_string(s.info.rows) + " rows");
  if (!row_names.empty()) {
    if (static_cast<std::int64_t>(row_names.size()) != s.info.rows)
      throw Error("codes writer: " + std::to_string(row_names.size()) + " names for " + std::to_string(s.info.rows) + " rows");
    if (!detail::h5_exists(s.file, "/names")) detail::write_strings(s.file, "/names", row_names);
  }
  if (!descriptions.empty()) {
    if (static_cast<std::int64_t>(descriptions.size()) != s.info.concepts)
      throw Error("codes writer: " + std::to_string(descriptions.size()) + " descriptions for " +
                  std::to_string(s.info.concepts) + " concepts");
    if (!detail::h5_exists(s.file, "/concept_descriptions"))
      detail::write_strings(s.file, "/concept_descriptions", descriptions);
  }
  detail::set_attr(s.file, s.file.id.get(), "complete", std::int64_t{1});
  detail::flush_h5(s.file);
  // Written afresh, the file's bytes do not depend on where earlier runs were interrupted.
  const std::string finishing = s.path + ".finishing";
  detail::write_compact_copy(s.file, finishing);
  s.file.id.reset();
  std::error_code ec;
  fs::remove(s.partial, ec);
  fs::rename(finishing, s.path, ec);
  if (ec) throw Error("file " + in_quotes(s.path) + ": cannot be written (" + ec.message() + ")");
  s.finished = true;
}

CodesFile CodesFile::load(const std::string& path, std::int64_t first, std::int64_t count) {
  auto file = detail::open_h5(path, false);
  for (const char* needed : {"/codes/data", "/codes/indices", "/codes/indptr"})
    if (!detail::h5_exists(file, needed))
      throw InputError("file " + in_quotes(path) + ", dataset " + in_quotes(needed) + ": not found, expected concise codes; " +
                       detail::datasets_found(file));
  CodesFile out;
  out.info = read_run_info(file);
  out.complete = detail::get_attr_int64(file.id.get(), "complete").value_or(1) != 0;
  const auto length_of = [&](const char* name) {
    detail::H5Id ds = detail::open_dataset(file, name);
    const auto shape = detail::dataset_shape(file, name, ds.get());
    if (shape.size() != 1)
      throw InputError("file " + in_quotes(path) + ", dataset " + in_quotes(name) + ": expected a 1-D dataset");
    return static_cast<std::int64_t>(shape[0]);
  };
  const std::int64_t n_rows = length_of("/codes/indptr") - 1;
  const std::int64_t entries = std::min(length_of("/codes/data"), length_of("/codes/indices"));
  if (first < 0 || first > n_rows)
    throw InputError("file " + in_quotes(path) + ": row " + std::to_string(first) + " is out of range, the file has " +
                     std::to_string(n_rows) + " rows");
  if (count < 0 || first + count > n_rows) count = n_rows - first;
  out.first_row = first;
  out.concepts = detail::h5_exists(file, "/concepts") ? detail::read_strings(file, "/concepts") : std::vector<std::string>{};
  out.codes.cols = out.info.concepts >= 0 ? out.info.concepts : static_cast<std::int64_t>(out.concepts.size());
  if (detail::h5_exists(file, "/concept_descriptions")) {
    out.descriptions = detail::read_strings(file, "/concept_descriptions");
    if (out.descriptions.size() != out.concepts.size()) out.descriptions.clear();  // not this file's: ignored
  }
  if (detail::h5_exists(file, "/names")) {
    std::vector<std::string> names = detail::read_strings(file, "/names");
    if (static_cast<std::int64_t>(names.size()) == n_rows)
      out.names.assign(names.begin() + first, names.begin() + first + count);
  }
  std::vector<std::int64_t> indptr(static_cast<std::size_t>(count) + 1);
  detail::read_slice(file, "/codes/indptr", H5T_NATIVE_INT64, first, count + 1, indptr.data());
  const std::int64_t begin = indptr.front();
  if (!std::is_sorted(indptr.begin(), indptr.end()))
    throw InputError("file " + in_quotes(path) + ", dataset '/codes/indptr': is not monotone (corrupt file)");
  if (begin < 0 || indptr.back() > entries)
    throw InputError("file " + in_quotes(path) + ", dataset '/codes/indptr': points outside the " +
                     std::to_string(entries) + " entries of '/codes/data' and '/codes/indices' (corrupt file)");
  const std::int64_t nnz = indptr.back() - begin;
  out.codes.indptr.resize(indptr.size());
  for (std::size_t i = 0; i < indptr.size(); ++i) out.codes.indptr[i] = indptr[i] - begin;
  out.codes.data.resize(static_cast<std::size_t>(nnz));
  out.codes.indices.resize(static_cast<std::size_t>(nnz));
  detail::read_slice(file, "/codes/data", H5T_NATIVE_FLOAT, begin, nnz, out.codes.data.data());
  detail::read_slice(file, "/codes/indices", H5T_NATIVE_INT32, begin, nnz, out.codes.indices.data());
  for (auto k : out.codes.indices)
    if (k < 0 || (out.codes.cols > 0 && k >= out.codes.cols))
      throw InputError("file " + in_quotes(path) + ", dataset '/codes/indices': index " + std::to_string(k) +
                       " is out of range (corrupt file)");
  out.stats.resize(static_cast<std::size_t>(count));
  // Files from before /stats/l1 existed were solved at one lambda.
  if (!detail::h5_exists(file, "/stats/l1")) out.stats.l1.assign(out.stats.l1.size(), static_cast<float>(out.info.l1));
  for (const StatsColumn& column : stats_columns())
    if (detail::h5_exists(file, column.name))
      detail::read_slice(file, column.name, column.mem_type, first, count, column.values_to_fill(out.stats));
  return out;
}

}  // namespace concise
