#include "hdf5_io.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "concise/core/error.hpp"

namespace concise::detail {
namespace {

std::string where(const H5File& file, const std::string& dataset) {
  return "file " + in_quotes(file.path) + ", dataset " + in_quotes(dataset);
}

[[noreturn]] void fail(const H5File& file, const std::string& what) {
  const std::string reason = hdf5_system_reason();
  throw Error("file " + in_quotes(file.path) + ": HDF5 failed to " + what + (reason.empty() ? "" : ": " + reason));
}

void check(herr_t status, const H5File& file, const std::string& what) {
  if (status < 0) fail(file, what);
}

hid_t checked_id(hid_t id, const H5File& file, const std::string& what) {
  if (id < 0) fail(file, what);
  return id;
}

H5Id string_type() {
  H5Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  return type;
}

H5Id link_creation_props() {
  H5Id props(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(props.get(), 1);
  return props;
}


template <class T>
std::vector<T> read_vector(const H5File& file, const std::string& dataset, hid_t mem_type) {
  H5Id ds = open_dataset(file, dataset);
  auto shape = dataset_shape(file, dataset, ds.get());
  if (shape.size() != 1) throw InputError(where(file, dataset) + ": expected a 1-D dataset");
  std::vector<T> out(shape[0]);
  if (!out.empty()) {
    H5QuietScope quiet;
    check(H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), file,
          "read dataset " + in_quotes(dataset) + " (truncated or corrupt?)");
  }
  return out;
}

void write_dataset(const H5File& file, const std::string& dataset, hid_t file_type, hid_t mem_type,
                   const std::vector<hsize_t>& dims, const void* data) {
  H5QuietScope quiet;
  H5Id space(checked_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), file,
                        "create a dataspace"),
             H5Sclose);
  H5Id lcpl = link_creation_props();
  H5Id dcpl = untimed(H5Pcreate(H5P_DATASET_CREATE));
  H5Id ds(checked_id(H5Dcreate2(file.id.get(), dataset.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(),
                                H5P_DEFAULT),
                     file, "create dataset " + in_quotes(dataset)),
          H5Dclose);
  bool empty = false;
  for (auto d : dims) empty = empty || d == 0;
  if (!empty) check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), file, "write " + in_quotes(dataset));
}

H5Id open_attr_for_write(const H5File& file, hid_t object, const std::string& name, hid_t type, hid_t space) {
  H5QuietScope quiet;
  if (H5Aexists(object, name.c_str()) > 0) check(H5Adelete(object, name.c_str()), file, "replace attribute " + name);
  return H5Id(checked_id(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), file,
                         "create attribute " + name),
              H5Aclose);
}

// The attribute `name` of object when it holds exactly one value (a file may store
// an array under a name concise reads as one value: it is then ignored, not overrun).
std::optional<H5Id> open_single_attr(hid_t object, const std::string& name) {
  if (H5Aexists(object, name.c_str()) <= 0) return std::nullopt;
  H5Id attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) return std::nullopt;
  H5Id space(H5Aget_space(attr.get()), H5Sclose);
  if (!space.valid() || H5Sget_simple_extent_npoints(space.get()) != 1) return std::nullopt;
  return attr;
}

}  // namespace

H5Id untimed(hid_t property_list) {
  H5Id props(property_list, H5Pclose);
  H5Pset_obj_track_times(props.get(), 0);
  return props;
}

// The operating system's reason behind the error on HDF5's stack, as its file
// drivers record it ("..., error message = 'No space left on device', ..."), or "".
std::string hdf5_system_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* entry, void* out) -> herr_t {
        auto& found = *static_cast<std::string*>(out);
        const std::string desc = entry->desc != nullptr ? entry->desc : "";
        const std::string key = "error message = '";
        const auto at = desc.find(key);
        if (found.empty() && at != std::string::npos) {
          const auto end = desc.find('\'', at + key.size());
          found = desc.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
        }
        return 0;
      },
      &reason);
  return reason;
}

void silence_hdf5_error_printing() {
  // HDF5 prints its error stacks to stderr by default; concise reports errors in its
  // own words. Turned off for the whole process, not per call: HDF5 also prints
  // from the library's shutdown ("infinite loop closing library") after a failed
  // close, e.g. on a full disk, long after any scope has ended.
  //
  // The library's shutdown is also left out (when concise is the first to use
  // HDF5): every file concise opens is closed by its owner, and the only ones left
  // at exit are those whose close failed (a full disk), which HDF5's shutdown would
  // retry and, in HDF5 1.10, crash on. The operating system closes them instead.
  static const bool silenced = [] {
    H5dont_atexit();
    return H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0;
  }();
  (void)silenced;
}

H5File open_h5(const std::string& path, bool writable) {
  silence_hdf5_error_printing();
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) throw InputError("file " + in_quotes(path) + ": no such file");
  H5QuietScope quiet;
  if (H5Fis_hdf5(path.c_str()) <= 0)
    throw InputError("file " + in_quotes(path) + ": not an HDF5 file, or it is truncated or corrupt");
  hid_t id = H5Fopen(path.c_str(), writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw InputError("file " + in_quotes(path) + ": cannot be opened as HDF5 (truncated, corrupt or locked)");
  return H5File{H5Id(id, H5Fclose), path};
}

H5File create_h5(const std::string& path) {
  silence_hdf5_error_printing();
  H5Id fcpl = untimed(H5Pcreate(H5P_FILE_CREATE));
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT);
  if (id < 0) {
    const std::string reason = hdf5_system_reason();
    throw Error("file " + in_quotes(path) + ": cannot be created" + (reason.empty() ? "" : " (" + reason + ")"));
  }
  return H5File{H5Id(id, H5Fclose), path};
}

void flush_h5(const H5File& file) { check(H5Fflush(file.id.get(), H5F_SCOPE_GLOBAL), file, "flush"); }

bool h5_exists(const H5File& file, const std::string& object_path) {
  H5QuietScope quiet;
  std::string partial;
  std::size_t start = 0;
  while (start < object_path.size()) {
    std::size_t slash = object_path.find('/', start);
    if (slash == std::string::npos) slash = object_path.size();
    if (slash > start) {
      partial += "/" + object_path.substr(start, slash - start);
      if (H5Lexists(file.id.get(), partial.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    start = slash + 1;
  }
  return !partial.empty();
}

std::vector<std::string> list_datasets(const H5File& file) {
  H5QuietScope quiet;
  std::vector<std::string> names;
  // A generic lambda converts to the callback type of whichever HDF5 version this builds against.
  H5Lvisit(
      file.id.get(), H5_INDEX_NAME, H5_ITER_INC,
      [](hid_t group, const char* name, const auto*, void* out) -> herr_t {
        H5Id object(H5Oopen(group, name, H5P_DEFAULT), H5Oclose);
        if (object.valid() && H5Iget_type(object.get()) == H5I_DATASET)
          static_cast<std::vector<std::string>*>(out)->push_back(std::string("/") + name);
        return 0;
      },
      &names);
  return names;
}

std::string datasets_found(const H5File& file) {
  const std::vector<std::string> names = list_datasets(file);
  if (names.empty()) return "the file has no datasets";
  std::string text = "the file has " + std::to_string(names.size()) + (names.size() == 1 ? " dataset: " : " datasets: ");
  const std::size_t shown = std::min<std::size_t>(names.size(), 12);
  for (std::size_t i = 0; i < shown; ++i) text += (i ? ", " : "") + names[i];
  if (shown < names.size()) text += ", ...";
  return text;
}

H5Id open_dataset(const H5File& file, const std::string& dataset) {
  if (!h5_exists(file, dataset)) throw InputError(where(file, dataset) + ": not found; " + datasets_found(file));
  H5QuietScope quiet;
  hid_t id = H5Dopen2(file.id.get(), dataset.c_str(), H5P_DEFAULT);
  if (id < 0) throw InputError(where(file, dataset) + ": is not a dataset, or it is corrupt");
  return H5Id(id, H5Dclose);
}

H5Id open_or_create_group(const H5File& file, const std::string& group) {
  H5QuietScope quiet;
  if (h5_exists(file, group))
    return H5Id(checked_id(H5Gopen2(file.id.get(), group.c_str(), H5P_DEFAULT), file, "open group " + group),
                H5Gclose);
  H5Id lcpl = link_creation_props();
  H5Id gcpl = untimed(H5Pcreate(H5P_GROUP_CREATE));
  return H5Id(checked_id(H5Gcreate2(file.id.get(), group.c_str(), lcpl.get(), gcpl.get(), H5P_DEFAULT), file,
                         "create group " + group),
              H5Gclose);
}

std::vector<hsize_t> dataset_shape(const H5File& file, const std::string& dataset, hid_t ds) {
  H5Id space(checked_id(H5Dget_space(ds), file, "read the shape of " + in_quotes(dataset)), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) throw InputError(where(file, dataset) + ": unreadable shape");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

bool dataset_is_float(hid_t ds) {
  H5Id type(H5Dget_type(ds), H5Tclose);
  return type.valid() && H5Tget_class(type.get()) == H5T_FLOAT;
}

Matrix<float> read_matrix_f32(const H5File& file, const std::string& dataset) {
  H5Id ds = open_dataset(file, dataset);
  auto shape = dataset_shape(file, dataset, ds.get());
  if (shape.size() != 2) throw InputError(where(file, dataset) + ": expected a 2-D float dataset");
  if (!dataset_is_float(ds.get())) throw InputError(where(file, dataset) + ": expected floating-point values");
  Matrix<float> out(static_cast<std::int64_t>(shape[0]), static_cast<std::int64_t>(shape[1]));
  if (out.rows() * out.cols() > 0) {
    H5QuietScope quiet;
    check(H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), file,
          "read dataset " + in_quotes(dataset) + " (truncated or corrupt?)");
  }
  return out;
}

std::vector<float> read_vector_f32(const H5File& file, const std::string& dataset) {
  return read_vector<float>(file, dataset, H5T_NATIVE_FLOAT);
}
std::vector<std::int32_t> read_vector_i32(const H5File& file, const std::string& dataset) {
  return read_vector<std::int32_t>(file, dataset, H5T_NATIVE_INT32);
}
std::vector<std::int64_t> read_vector_i64(const H5File& file, const std::string& dataset) {
  return read_vector<std::int64_t>(file, dataset, H5T_NATIVE_INT64);
}

std::vector<std::string> read_strings(const H5File& file, const std::string& dataset) {
  H5Id ds = open_dataset(file, dataset);
  auto shape = dataset_shape(file, dataset, ds.get());
  if (shape.size() != 1) throw InputError(where(file, dataset) + ": expected a 1-D string dataset");
  H5Id file_type(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(file_type.get()) != H5T_STRING) throw InputError(where(file, dataset) + ": expected strings");
  std::vector<std::string> out(shape[0]);
  if (out.empty()) return out;
  H5QuietScope quiet;
  if (H5Tis_variable_str(file_type.get()) > 0) {
    H5Id mem_type = string_type();
    std::vector<char*> raw(out.size(), nullptr);
    check(H5Dread(ds.get(), mem_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), file,
          "read strings " + in_quotes(dataset));
    for (std::size_t i = 0; i < raw.size(); ++i) out[i] = raw[i] ? raw[i] : "";
    H5Id space(H5Dget_space(ds.get()), H5Sclose);
    H5Dvlen_reclaim(mem_type.get(), space.get(), H5P_DEFAULT, raw.data());
  } else {
    std::size_t width = H5Tget_size(file_type.get());
    H5Id mem_type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem_type.get(), width);
    std::vector<char> raw(width * out.size());
    check(H5Dread(ds.get(), mem_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), file,
          "read strings " + in_quotes(dataset));
    for (std::size_t i = 0; i < out.size(); ++i) {
      const char* s = raw.data() + i * width;
      std::size_t n = 0;
      while (n < width && s[n] != '\0') ++n;
      out[i].assign(s, n);
    }
  }
  return out;
}

RowSlab select_rows(hid_t dataset, std::int64_t first, std::int64_t count, std::int64_t cols) {
  RowSlab slab;
  slab.file_space = H5Id(H5Dget_space(dataset), H5Sclose);
  hsize_t start[2] = {static_cast<hsize_t>(first), 0}, n[2] = {static_cast<hsize_t>(count), static_cast<hsize_t>(cols)};
  slab.memory = H5Id(H5Screate_simple(2, n, nullptr), H5Sclose);
  slab.selected = slab.file_space.valid() && slab.memory.valid() &&
                  H5Sselect_hyperslab(slab.file_space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr) >= 0;
  return slab;
}

void read_slice(const H5File& file, const std::string& dataset, hid_t mem_type, std::int64_t first,
                std::int64_t count, void* out) {
  if (count <= 0) return;
  H5Id ds = open_dataset(file, dataset);
  H5Id space(checked_id(H5Dget_space(ds.get()), file, "read the shape of " + in_quotes(dataset)), H5Sclose);
  hsize_t start[1] = {static_cast<hsize_t>(first)};
  hsize_t n[1] = {static_cast<hsize_t>(count)};
  H5QuietScope quiet;
  check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr), file,
        "select rows of " + in_quotes(dataset));
  H5Id mem(H5Screate_simple(1, n, nullptr), H5Sclose);
  check(H5Dread(ds.get(), mem_type, mem.get(), space.get(), H5P_DEFAULT, out), file,
        "read " + in_quotes(dataset) + " (truncated or corrupt?)");
}

void write_matrix_f32(const H5File& file, const std::string& dataset, const float* data, std::int64_t rows,
                      std::int64_t cols) {
  write_dataset(file, dataset, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)}, data);
}

void write_vector_f32(const H5File& file, const std::string& dataset, const std::vector<float>& values) {
  write_dataset(file, dataset, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {values.size()}, values.data());
}

void write_strings(const H5File& file, const std::string& dataset, const std::vector<std::string>& values) {
  std::vector<const char*> raw(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) raw[i] = values[i].c_str();
  H5Id type = string_type();
  write_dataset(file, dataset, type.get(), type.get(), {values.size()}, raw.data());
}

void set_attr(const H5File& file, hid_t object, const std::string& name, const std::string& value) {
  H5Id type = string_type();
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr = open_attr_for_write(file, object, name, type.get(), space.get());
  const char* raw = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &raw), file, "write attribute " + name);
}

void set_attr(const H5File& file, hid_t object, const std::string& name, double value) {
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr = open_attr_for_write(file, object, name, H5T_IEEE_F64LE, space.get());
  check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), file, "write attribute " + name);
}

void set_attr(const H5File& file, hid_t object, const std::string& name, std::int64_t value) {
  H5Id space(H5Screate(H5S_SCALAR), H5Sclose);
  H5Id attr = open_attr_for_write(file, object, name, H5T_STD_I64LE, space.get());
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file, "write attribute " + name);
}

void set_attr(const H5File& file, hid_t object, const std::string& name, const std::vector<std::int64_t>& value) {
  hsize_t n[1] = {value.size()};
  H5Id space(H5Screate_simple(1, n, nullptr), H5Sclose);
  H5Id attr = open_attr_for_write(file, object, name, H5T_STD_I64LE, space.get());
  check(H5Awrite(attr.get(), H5T_NATIVE_INT64, value.data()), file, "write attribute " + name);
}

std::optional<std::string> get_attr_string(hid_t object, const std::string& name) {
  H5QuietScope quiet;
  auto found = open_single_attr(object, name);
  if (!found) return std::nullopt;
  const H5Id& attr = *found;
  H5Id type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) return std::nullopt;
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Id mem = string_type();
    char* raw = nullptr;
    if (H5Aread(attr.get(), mem.get(), &raw) < 0) return std::nullopt;
    std::string out = raw ? raw : "";
    H5free_memory(raw);
    return out;
  }
  std::size_t width = H5Tget_size(type.get());
  std::string out(width, '\0');
  H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem.get(), width);
  if (H5Aread(attr.get(), mem.get(), out.data()) < 0) return std::nullopt;
  out.resize(out.find('\0') == std::string::npos ? width : out.find('\0'));
  return out;
}

std::optional<double> get_attr_double(hid_t object, const std::string& name) {
  H5QuietScope quiet;
  auto found = open_single_attr(object, name);
  if (!found) return std::nullopt;
  const H5Id& attr = *found;
  double value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value) < 0) return std::nullopt;
  return value;
}

std::optional<std::int64_t> get_attr_int64(hid_t object, const std::string& name) {
  H5QuietScope quiet;
  auto found = open_single_attr(object, name);
  if (!found) return std::nullopt;
  const H5Id& attr = *found;
  std::int64_t value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, &value) < 0) return std::nullopt;
  return value;
}

}  // namespace concise::detail

namespace concise::detail {

namespace {

void create_chunked_1d(const H5File& file, const std::string& dataset, hid_t file_type, hsize_t size,
                       hsize_t max_size, hsize_t chunk) {
  H5QuietScope quiet;
  hsize_t dims[1] = {size}, max_dims[1] = {max_size}, chunk_dims[1] = {chunk};
  H5Id space(H5Screate_simple(1, dims, max_dims), H5Sclose);
  H5Id props = untimed(H5Pcreate(H5P_DATASET_CREATE));
  check(H5Pset_chunk(props.get(), 1, chunk_dims), file, "set chunking of " + in_quotes(dataset));
  H5Id lcpl = link_creation_props();
  H5Id ds(checked_id(H5Dcreate2(file.id.get(), dataset.c_str(), file_type, space.get(), lcpl.get(), props.get(),
                                H5P_DEFAULT),
                     file, "create dataset " + in_quotes(dataset)),
          H5Dclose);
}

}  // namespace

void create_growable(const H5File& file, const std::string& dataset, hid_t file_type, hsize_t chunk) {
  create_chunked_1d(file, dataset, file_type, 0, H5S_UNLIMITED, chunk);
}

void create_fixed(const H5File& file, const std::string& dataset, hid_t file_type, hsize_t size, hsize_t chunk) {
  create_chunked_1d(file, dataset, file_type, size, size, std::max<hsize_t>(1, std::min(chunk, size)));
}

void write_at(const H5File& file, const std::string& dataset, hid_t mem_type, std::int64_t offset, std::int64_t count,
              const void* data) {
  if (count <= 0) return;
  H5Id ds = open_dataset(file, dataset);
  H5QuietScope quiet;
  H5Id space(checked_id(H5Dget_space(ds.get()), file, "read the shape of " + in_quotes(dataset)), H5Sclose);
  hsize_t start[1] = {static_cast<hsize_t>(offset)}, n[1] = {static_cast<hsize_t>(count)};
  check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, n, nullptr), file,
        "select rows of " + in_quotes(dataset));
  H5Id mem(H5Screate_simple(1, n, nullptr), H5Sclose);
  check(H5Dwrite(ds.get(), mem_type, mem.get(), space.get(), H5P_DEFAULT, data), file, "write " + in_quotes(dataset));
}

void resize_1d(const H5File& file, const std::string& dataset, std::int64_t size) {
  H5Id ds = open_dataset(file, dataset);
  hsize_t dims[1] = {static_cast<hsize_t>(size)};
  H5QuietScope quiet;
  check(H5Dset_extent(ds.get(), dims), file, "resize " + in_quotes(dataset));
}

void create_growable_strings(const H5File& file, const std::string& dataset, hsize_t chunk) {
  H5Id type = string_type();
  create_growable(file, dataset, type.get(), chunk);
}

void write_strings_at(const H5File& file, const std::string& dataset, std::int64_t offset,
                      const std::vector<std::string>& values) {
  std::vector<const char*> raw(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) raw[i] = values[i].c_str();
  H5Id type = string_type();
  write_at(file, dataset, type.get(), offset, static_cast<std::int64_t>(values.size()), raw.data());
}

}  // namespace concise::detail
