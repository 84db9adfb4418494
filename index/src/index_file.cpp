#include "concise/index/index_file.hpp"

#include <cstdio>
#include <filesystem>

#include "concise/core/codes_file.hpp"
#include "concise/core/error.hpp"
#include "hdf5_io.hpp"

namespace concise {

namespace {

constexpr const char* kFormat = "concise-sparse-index";
constexpr std::int64_t kVersion = 1;
constexpr hsize_t kChunk = 1 << 16;

template <class T>
void write_1d(const detail::H5File& f, const std::string& dataset, hid_t file_type, hid_t mem_type, const std::vector<T>& v) {
  detail::create_fixed(f, dataset, file_type, v.size(), kChunk);
  detail::write_at(f, dataset, mem_type, 0, static_cast<std::int64_t>(v.size()), v.data());
}

void write_sparse_group(const detail::H5File& f, const std::string& group, const std::string& encoding,
                        std::int64_t rows, std::int64_t cols, const std::vector<std::int64_t>& indptr,
                        const std::vector<std::int32_t>& indices, const std::vector<float>& data) {
  detail::H5Id g = detail::open_or_create_group(f, group);
  detail::set_attr(f, g.get(), "encoding-type", encoding);
  detail::set_attr(f, g.get(), "encoding-version", std::string("0.1.0"));
  detail::set_attr(f, g.get(), "shape", std::vector<std::int64_t>{rows, cols});
  write_1d(f, group + "/indptr", H5T_STD_I64LE, H5T_NATIVE_INT64, indptr);
  write_1d(f, group + "/indices", H5T_STD_I32LE, H5T_NATIVE_INT32, indices);
  write_1d(f, group + "/data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data);
}

}  // namespace

SparseIndex build_index_from_codes(const std::string& codes_path) {
  CodesFile codes = CodesFile::load(codes_path);
  if (!codes.complete)
    throw InputError("codes file " + in_quotes(codes_path) + " is incomplete (" + std::to_string(codes.codes.rows()) +
                     " of " + std::to_string(codes.info.rows) + " rows); finish the decomposition first");
  if (codes.info.dictionary_fingerprint.empty())
    throw InputError("codes file " + in_quotes(codes_path) + " does not name its dictionary (no dictionary_fingerprint)");
  return SparseIndex::build(std::move(codes.codes), std::move(codes.concepts), codes.info.dictionary_fingerprint,
                            std::move(codes.names));
}

void save_index(const SparseIndex& index, const std::string& path, const std::string& source) {
  const std::string partial = path + ".partial";
  {
    const detail::H5File f = detail::create_h5(partial);
    const hid_t root = f.id.get();
    detail::set_attr(f, root, "format", std::string(kFormat));
    detail::set_attr(f, root, "version", kVersion);
    detail::set_attr(f, root, "block_size", SparseIndex::kBlockSize);
    detail::set_attr(f, root, "n_rows", index.rows());
    detail::set_attr(f, root, "n_concepts", index.concepts());
    detail::set_attr(f, root, "dictionary_fingerprint", index.dictionary_fingerprint());
    detail::set_attr(f, root, "source", source);
    write_sparse_group(f, "/postings", "csc_matrix", index.rows(), index.concepts(), index.posting_ptr(),
                       index.posting_rows(), index.posting_weights());
    {
      detail::H5Id g = detail::open_or_create_group(f, "/postings");
      detail::set_attr(f, g.get(), "order", std::string("weight-descending"));
    }
    {
      detail::H5Id g = detail::open_or_create_group(f, "/blocks");
      detail::set_attr(f, g.get(), "block_size", SparseIndex::kBlockSize);
    }
    write_1d(f, "/blocks/ptr", H5T_STD_I64LE, H5T_NATIVE_INT64, index.block_ptr());
    write_1d(f, "/blocks/max", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, index.block_max());
    const SparseRows& codes = index.forward();
    write_sparse_group(f, "/codes", "csr_matrix", index.rows(), index.concepts(), codes.indptr, codes.indices, codes.data);
    detail::write_strings(f, "/concepts", index.concept_names());
    if (!index.row_names().empty()) detail::write_strings(f, "/names", index.row_names());
    detail::flush_h5(f);
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error("cannot rename " + in_quotes(partial) + " to " + in_quotes(path) + ": " + ec.message());
}

SparseIndex load_index(const std::string& path) {
  const detail::H5File f = detail::open_h5(path, false);
  const hid_t root = f.id.get();
  if (detail::get_attr_string(root, "format").value_or("") != kFormat)
    throw InputError("file " + in_quotes(path) + " is not a concise index (build one with `concise index build`)");
  const auto version = detail::get_attr_int64(root, "version").value_or(0);
  if (version != kVersion)
    throw InputError("index " + in_quotes(path) + " has format version " + std::to_string(version) + ", expected " +
                     std::to_string(kVersion) + "; rebuild it");
  if (detail::get_attr_int64(root, "block_size").value_or(0) != SparseIndex::kBlockSize)
    throw InputError("index " + in_quotes(path) + " has another block size; rebuild it");
  SparseRows forward;
  forward.cols = detail::get_attr_int64(root, "n_concepts").value_or(-1);
  forward.indptr = detail::read_vector_i64(f, "/codes/indptr");
  forward.indices = detail::read_vector_i32(f, "/codes/indices");
  forward.data = detail::read_vector_f32(f, "/codes/data");
  const auto rows = detail::get_attr_int64(root, "n_rows").value_or(-1);
  if (forward.cols < 0 || forward.rows() != rows || forward.indptr.front() != 0 || forward.indptr.back() != forward.nnz())
    throw InputError("index " + in_quotes(path) + ": /codes does not match n_rows and n_concepts");
  std::vector<std::string> names;
  if (detail::h5_exists(f, "/names")) names = detail::read_strings(f, "/names");
  return SparseIndex::from_parts(std::move(forward), detail::read_vector_i64(f, "/postings/indptr"),
                                 detail::read_vector_i32(f, "/postings/indices"),
                                 detail::read_vector_f32(f, "/postings/data"), detail::read_vector_i64(f, "/blocks/ptr"),
                                 detail::read_vector_f32(f, "/blocks/max"), detail::read_strings(f, "/concepts"),
                                 detail::get_attr_string(root, "dictionary_fingerprint").value_or(""), std::move(names),
                                 path);
}

void check_same_dictionary(const SparseIndex& index, const std::string& index_path, const Dictionary& dict,
                           const std::string& dictionary_path) {
  if (dict.fingerprint == index.dictionary_fingerprint() && dict.size() == index.concepts()) return;
  throw InputError("index " + in_quotes(index_path) + " was built with dictionary " + index.dictionary_fingerprint() +
                   " (" + std::to_string(index.concepts()) + " concepts), but dictionary " + in_quotes(dictionary_path) +
                   " is " + dict.fingerprint + " (" + std::to_string(dict.size()) +
                   " concepts): queries must be decomposed with the index's own dictionary");
}

}  // namespace concise
