#pragma once
// Small checked helpers over HDF5's C API, shared by the dictionary, embedding
// and codes readers and writers. Every call is checked and errors name the file
// and dataset.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "concise/core/matrix.hpp"
#include "hdf5_handle.hpp"

namespace concise::detail {

struct H5File {
  H5Id id;
  std::string path;  // for messages
};

H5File open_h5(const std::string& path, bool writable);
H5File create_h5(const std::string& path);
void flush_h5(const H5File& file);
// Writes every object and attribute of `from` to a new file to_path, in name order
// and without timestamps, so that equal contents give equal bytes (hdf5_copy.cpp).
void write_compact_copy(const H5File& from, const std::string& to_path);

// The operating system's reason behind the last HDF5 failure ("No space left on
// device"), read from HDF5's error stack; "" when it holds none.
std::string hdf5_system_reason();

// Turns off HDF5's own error printing for the process (done by open_h5 and create_h5).
void silence_hdf5_error_printing();

bool h5_exists(const H5File& file, const std::string& object_path);
// Every dataset's path ("/codes/data", ...), and "the file has 2 datasets: /a, /b" for messages.
std::vector<std::string> list_datasets(const H5File& file);
std::string datasets_found(const H5File& file);
// Takes over a property list and makes the objects it creates carry no creation or
// modification times, so the same run writes the same bytes.
H5Id untimed(hid_t property_list);
H5Id open_dataset(const H5File& file, const std::string& dataset);
H5Id open_or_create_group(const H5File& file, const std::string& group);
std::vector<hsize_t> dataset_shape(const H5File& file, const std::string& dataset, hid_t ds);
bool dataset_is_float(hid_t ds);

Matrix<float> read_matrix_f32(const H5File& file, const std::string& dataset);
std::vector<float> read_vector_f32(const H5File& file, const std::string& dataset);
std::vector<std::int32_t> read_vector_i32(const H5File& file, const std::string& dataset);
std::vector<std::int64_t> read_vector_i64(const H5File& file, const std::string& dataset);
std::vector<std::string> read_strings(const H5File& file, const std::string& dataset);
// Rows [first, first + count) of a 2-D dataset of `cols` columns: the file's dataspace
// with them selected and a memory dataspace of their shape; `selected` is false when
// HDF5 refused either (the caller names the file and what it was doing).
struct RowSlab {
  H5Id file_space, memory;
  bool selected = false;
};
RowSlab select_rows(hid_t dataset, std::int64_t first, std::int64_t count, std::int64_t cols);

// Reads rows [first, first + count) of a 1-D dataset into out (converted by HDF5).
void read_slice(const H5File& file, const std::string& dataset, hid_t mem_type, std::int64_t first,
                std::int64_t count, void* out);

void write_matrix_f32(const H5File& file, const std::string& dataset, const float* data, std::int64_t rows,
                      std::int64_t cols);
void write_vector_f32(const H5File& file, const std::string& dataset, const std::vector<float>& values);
void write_strings(const H5File& file, const std::string& dataset, const std::vector<std::string>& values);

void set_attr(const H5File& file, hid_t object, const std::string& name, const std::string& value);
void set_attr(const H5File& file, hid_t object, const std::string& name, double value);
void set_attr(const H5File& file, hid_t object, const std::string& name, std::int64_t value);
void set_attr(const H5File& file, hid_t object, const std::string& name, const std::vector<std::int64_t>& value);
std::optional<std::string> get_attr_string(hid_t object, const std::string& name);
std::optional<double> get_attr_double(hid_t object, const std::string& name);
std::optional<std::int64_t> get_attr_int64(hid_t object, const std::string& name);

}  // namespace concise::detail

namespace concise::detail {

// 1-D datasets that grow by appending (the CSR data and indices).
void create_growable(const H5File& file, const std::string& dataset, hid_t file_type, hsize_t chunk);
// 1-D fixed-size datasets written piecewise (indptr and the per-row stats).
void create_fixed(const H5File& file, const std::string& dataset, hid_t file_type, hsize_t size, hsize_t chunk);
void write_at(const H5File& file, const std::string& dataset, hid_t mem_type, std::int64_t offset, std::int64_t count,
              const void* data);
// Sets a growable dataset's length (appending first grows it, resuming shrinks it).
void resize_1d(const H5File& file, const std::string& dataset, std::int64_t size);
// Growable UTF-8 string datasets (/names written as rows arrive).
void create_growable_strings(const H5File& file, const std::string& dataset, hsize_t chunk);
void write_strings_at(const H5File& file, const std::string& dataset, std::int64_t offset,
                      const std::vector<std::string>& values);

}  // namespace concise::detail
