#pragma once
// Builds an HDF5 file from a fuzz input. The harness names the datasets and root
// attributes its reader expects; the input decides, for each, whether to write it
// as expected, drop it, or give it another type, rank or shape, and supplies every
// value. An empty input gives the expected layout filled with zeros.
//
// Structure-aware on purpose: random bytes would mostly exercise libhdf5's own
// parser, which is not ours to fix; concise's readers must survive any well-formed
// file whose contents are not what they expect.
#include <hdf5.h>

#include <cstdint>
#include <fuzzer/FuzzedDataProvider.h>
#include <string>
#include <variant>
#include <vector>

namespace concise::fuzz {

enum class Kind { F16, F32, F64, I32, I64, VarString, FixedString };

struct DatasetSpec {
  std::string path;
  Kind kind;
  std::vector<hsize_t> dims;
};

struct AttrSpec {
  std::string name;
  std::variant<std::int64_t, double, std::string, std::vector<std::int64_t>> value;
};

void build_h5(const std::string& path, FuzzedDataProvider& input, const std::vector<DatasetSpec>& datasets,
              const std::vector<AttrSpec>& attrs);

}  // namespace concise::fuzz
