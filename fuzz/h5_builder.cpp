#include "h5_builder.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace concise::fuzz {
namespace {

constexpr int kKinds = 7;
constexpr hsize_t kLargestExtent = hsize_t{1} << 14;

[[noreturn]] void fail() {
  H5Eprint2(H5E_DEFAULT, stderr);
  std::abort();
}

// hid_t owner that aborts on failure: the builder writes only well-formed files.
class Id {
 public:
  Id(hid_t id, herr_t (*closer)(hid_t)) : id_(id), closer_(closer) {
    if (id_ < 0) fail();
  }
  ~Id() { closer_(id_); }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*closer_)(hid_t);
};

void check(herr_t status) {
  if (status < 0) fail();
}

hid_t float16_type() {
  hid_t type = H5Tcopy(H5T_IEEE_F32LE);
  check(H5Tset_fields(type, 15, 10, 5, 0, 10));
  check(H5Tset_size(type, 2));
  check(H5Tset_ebias(type, 15));
  return type;
}

// A file type for kind; string widths come from the input.
hid_t file_type(Kind kind, FuzzedDataProvider& input) {
  switch (kind) {
    case Kind::F16: return float16_type();
    case Kind::F32: return H5Tcopy(H5T_IEEE_F32LE);
    case Kind::F64: return H5Tcopy(H5T_IEEE_F64LE);
    case Kind::I32: return H5Tcopy(H5T_STD_I32LE);
    case Kind::I64: return H5Tcopy(H5T_STD_I64LE);
    case Kind::VarString: {
      hid_t type = H5Tcopy(H5T_C_S1);
      check(H5Tset_size(type, H5T_VARIABLE));
      check(H5Tset_cset(type, H5T_CSET_UTF8));
      return type;
    }
    case Kind::FixedString: {
      hid_t type = H5Tcopy(H5T_C_S1);
      check(H5Tset_size(type, input.ConsumeIntegralInRange<std::size_t>(1, 12)));
      return type;
    }
  }
  std::abort();
}

hsize_t element_count(const std::vector<hsize_t>& dims) {
  hsize_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

void write_values(hid_t ds, hid_t type, Kind kind, hsize_t count, FuzzedDataProvider& input) {
  if (count == 0) return;
  if (kind == Kind::VarString) {
    std::vector<std::string> text(count);
    std::vector<const char*> raw(count);
    for (hsize_t i = 0; i < count; ++i) {
      text[i] = input.ConsumeRandomLengthString(24);
      raw[i] = text[i].c_str();
    }
    check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()));
    return;
  }
  const std::size_t bytes = count * H5Tget_size(type);
  std::vector<std::uint8_t> values = input.ConsumeBytes<std::uint8_t>(bytes);
  values.resize(bytes);
  check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()));
}

void add_dataset(hid_t file, const DatasetSpec& spec, FuzzedDataProvider& input) {
  Kind kind = spec.kind;
  std::vector<hsize_t> dims = spec.dims;
  bool huge = false;
  switch (input.ConsumeIntegralInRange<int>(0, 6)) {
    case 0: break;
    case 1: return;  // missing
    case 2: kind = static_cast<Kind>(input.ConsumeIntegralInRange<int>(0, kKinds - 1)); break;
    case 3:
      dims.resize(input.ConsumeIntegralInRange<std::size_t>(0, 3));
      for (auto& d : dims) d = input.ConsumeIntegralInRange<hsize_t>(0, 12);
      break;
    case 4:
      for (auto& d : dims) d = input.ConsumeIntegralInRange<hsize_t>(0, 12);
      break;
    case 5: {  // a group where a dataset belongs
      Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
      check(H5Pset_create_intermediate_group(lcpl.get(), 1));
      Id group(H5Gcreate2(file, spec.path.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
      return;
    }
    case 6:  // a large, unwritten (fill-value) extent: a tiny file announcing many rows
      huge = true;
      if (!dims.empty()) dims.front() = input.ConsumeIntegralInRange<hsize_t>(0, kLargestExtent);
      break;
  }
  Id type(file_type(kind, input), H5Tclose);
  huge = huge && !dims.empty();
  // Chunked (growable, like the writers' datasets) when large: unwritten chunks cost nothing.
  const std::vector<hsize_t> max_dims(dims.size(), H5S_UNLIMITED);
  Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                        : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), huge ? max_dims.data() : nullptr),
           H5Sclose);
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  if (huge) {
    std::vector<hsize_t> chunk(dims.size());
    for (std::size_t i = 0; i < dims.size(); ++i) chunk[i] = i == 0 ? 1024 : std::max<hsize_t>(dims[i], 1);
    check(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()));
  }
  Id lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  check(H5Pset_create_intermediate_group(lcpl.get(), 1));
  Id ds(H5Dcreate2(file, spec.path.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT), H5Dclose);
  if (!huge) write_values(ds.get(), type.get(), kind, element_count(dims), input);
}

void write_attr(hid_t object, const std::string& name, hid_t type, hid_t space, const void* value) {
  Id attr(H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  check(H5Awrite(attr.get(), type, value));
}

void add_attr(hid_t object, const AttrSpec& spec, FuzzedDataProvider& input) {
  auto value = spec.value;
  switch (input.ConsumeIntegralInRange<int>(0, 5)) {
    case 0: break;
    case 1: return;  // missing
    case 2: value = input.ConsumeIntegral<std::int64_t>(); break;
    case 3: value = input.ConsumeFloatingPoint<double>(); break;
    case 4: value = input.ConsumeRandomLengthString(24); break;
    case 5: {
      std::vector<std::int64_t> values(input.ConsumeIntegralInRange<std::size_t>(1, 4));
      for (auto& v : values) v = input.ConsumeIntegral<std::int64_t>();
      value = values;
      break;
    }
  }
  Id scalar(H5Screate(H5S_SCALAR), H5Sclose);
  if (const auto* i = std::get_if<std::int64_t>(&value)) {
    write_attr(object, spec.name, H5T_NATIVE_INT64, scalar.get(), i);
  } else if (const auto* d = std::get_if<double>(&value)) {
    write_attr(object, spec.name, H5T_NATIVE_DOUBLE, scalar.get(), d);
  } else if (const auto* s = std::get_if<std::string>(&value)) {
    Id type(file_type(Kind::VarString, input), H5Tclose);
    const char* raw = s->c_str();
    write_attr(object, spec.name, type.get(), scalar.get(), &raw);
  } else {
    const auto& values = std::get<std::vector<std::int64_t>>(value);
    hsize_t n[1] = {values.size()};
    Id space(H5Screate_simple(1, n, nullptr), H5Sclose);
    write_attr(object, spec.name, H5T_NATIVE_INT64, space.get(), values.data());
  }
}

}  // namespace

void build_h5(const std::string& path, FuzzedDataProvider& input, const std::vector<DatasetSpec>& datasets,
              const std::vector<AttrSpec>& attrs) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Id file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  for (const auto& spec : datasets) add_dataset(file.get(), spec, input);
  for (const auto& spec : attrs) add_attr(file.get(), spec, input);
}

}  // namespace concise::fuzz
