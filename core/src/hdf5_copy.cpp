// A finished file is written afresh from its .partial: the objects in name order,
// each attribute in name order, no timestamps. Its bytes then depend only on its
// contents, not on how many times the run was interrupted and resumed (a resumed
// .partial carries freed space and moved object headers an uninterrupted one lacks).
#include <algorithm>
#include <vector>

#include "concise/core/error.hpp"
#include "hdf5_io.hpp"

namespace concise::detail {
namespace {

constexpr std::size_t kBlockBytes = std::size_t{32} << 20;

struct Copy {
  const H5File& from;
  const H5File& to;
};

void check(bool ok, const Copy& copy, const std::string& what) {
  if (!ok) throw Error("file " + in_quotes(copy.to.path) + ": HDF5 failed to " + what);
}

bool has_variable_parts(hid_t type) {
  return H5Tis_variable_str(type) > 0 || H5Tdetect_class(type, H5T_VLEN) > 0;
}

void copy_attributes(const Copy& copy, hid_t src, hid_t dst) {
  H5O_info_t info{};
  check(H5Oget_info2(src, &info, H5O_INFO_NUM_ATTRS) >= 0, copy, "list attributes");
  for (hsize_t i = 0; i < info.num_attrs; ++i) {
    H5Id attr(H5Aopen_by_idx(src, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    check(attr.valid(), copy, "open an attribute");
    std::string name(static_cast<std::size_t>(std::max<ssize_t>(H5Aget_name(attr.get(), 0, nullptr), 0)) + 1, '\0');
    H5Aget_name(attr.get(), name.size(), name.data());
    name.resize(name.size() - 1);
    H5Id type(H5Aget_type(attr.get()), H5Tclose);
    H5Id space(H5Aget_space(attr.get()), H5Sclose);
    const auto points = static_cast<std::size_t>(std::max<hssize_t>(H5Sget_simple_extent_npoints(space.get()), 0));
    std::vector<unsigned char> values(std::max<std::size_t>(points * H5Tget_size(type.get()), 1));
    check(H5Aread(attr.get(), type.get(), values.data()) >= 0, copy, "read attribute " + name);
    H5Id out(H5Acreate2(dst, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const bool written = out.valid() && H5Awrite(out.get(), type.get(), values.data()) >= 0;
    if (has_variable_parts(type.get())) H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, values.data());
    check(written, copy, "write attribute " + name);
  }
}

void copy_dataset(const Copy& copy, const char* path) {
  H5Id src(H5Dopen2(copy.from.id.get(), path, H5P_DEFAULT), H5Dclose);
  check(src.valid(), copy, std::string("open ") + path);
  H5Id type(H5Dget_type(src.get()), H5Tclose);
  H5Id space(H5Dget_space(src.get()), H5Sclose);
  H5Id dcpl = untimed(H5Dget_create_plist(src.get()));
  H5Id dst(H5Dcreate2(copy.to.id.get(), path, type.get(), space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  check(dst.valid(), copy, std::string("create ") + path);
  copy_attributes(copy, src.get(), dst.get());

  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  if (H5Sget_simple_extent_npoints(space.get()) == 0) return;
  std::size_t row_bytes = H5Tget_size(type.get());
  for (std::size_t i = 1; i < dims.size(); ++i) row_bytes *= dims[i];
  const hsize_t rows = dims.empty() ? 1 : dims[0];
  const hsize_t block = std::max<hsize_t>(1, std::min<hsize_t>(rows, kBlockBytes / std::max<std::size_t>(row_bytes, 1)));
  std::vector<unsigned char> values(static_cast<std::size_t>(block) * row_bytes);
  for (hsize_t first = 0; first < rows; first += block) {
    std::vector<hsize_t> start(dims.size(), 0), count = dims;
    H5Id file_space(H5Scopy(space.get()), H5Sclose);
    H5Id mem_space(H5Scopy(space.get()), H5Sclose);
    if (!dims.empty()) {
      start[0] = first;
      count[0] = std::min(block, rows - first);
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
      mem_space = H5Id(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
    }
    check(H5Dread(src.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, values.data()) >= 0, copy,
          std::string("read ") + path);
    const bool written = H5Dwrite(dst.get(), type.get(), mem_space.get(), file_space.get(), H5P_DEFAULT, values.data()) >= 0;
    if (has_variable_parts(type.get())) H5Dvlen_reclaim(type.get(), mem_space.get(), H5P_DEFAULT, values.data());
    check(written, copy, std::string("write ") + path);
  }
}

herr_t copy_object(hid_t, const char* name, const H5O_info_t* info, void* data) {
  const Copy& copy = *static_cast<const Copy*>(data);
  if (std::string(name) == ".") return 0;
  try {
    if (info->type == H5O_TYPE_GROUP) {
      H5Id gcpl = untimed(H5Pcreate(H5P_GROUP_CREATE));
      H5Id group(H5Gcreate2(copy.to.id.get(), name, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose);
      H5Id src(H5Gopen2(copy.from.id.get(), name, H5P_DEFAULT), H5Gclose);
      check(group.valid() && src.valid(), copy, std::string("copy group ") + name);
      copy_attributes(copy, src.get(), group.get());
    } else if (info->type == H5O_TYPE_DATASET) {
      copy_dataset(copy, name);
    }
  } catch (const Error&) {
    return -1;
  }
  return 0;
}

}  // namespace

void write_compact_copy(const H5File& from, const std::string& to_path) {
  H5QuietScope quiet;
  H5File to = create_h5(to_path);
  const Copy copy{from, to};
  check(H5Ovisit2(from.id.get(), H5_INDEX_NAME, H5_ITER_INC, copy_object, const_cast<Copy*>(&copy), H5O_INFO_BASIC) >= 0,
        copy, "copy the objects of " + in_quotes(from.path));
  copy_attributes(copy, from.id.get(), to.id.get());
  check(H5Fflush(to.id.get(), H5F_SCOPE_GLOBAL) >= 0, copy, "flush");
}

}  // namespace concise::detail
