#include "checkpoint.hpp"

#include <filesystem>

#include "concise/core/error.hpp"
// The checked HDF5 helpers of the core library (not public API, shared on purpose).
#include "hdf5_io.hpp"

namespace concise::learn {
namespace {
constexpr std::int64_t kCheckpointVersion = 1;
}

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string partial = path + ".partial";
  {
    auto file = detail::create_h5(partial);
    const auto& s = c.state;
    detail::write_matrix_f32(file, "/learned_atoms", s.learned_atoms.data(), s.learned_atoms.rows(), s.learned_atoms.cols());
    detail::write_matrix_f32(file, "/statistics_a", s.a.data(), s.a.rows(), s.a.cols());
    detail::write_matrix_f32(file, "/statistics_b", s.b.data(), s.b.rows(), s.b.cols());
    const auto n = c.objective.size();
    detail::create_fixed(file, "/objective", H5T_IEEE_F64LE, n, std::max<hsize_t>(1, n));
    detail::write_at(file, "/objective", H5T_NATIVE_DOUBLE, 0, static_cast<std::int64_t>(n), c.objective.data());
    const hid_t root = file.id.get();
    detail::set_attr(file, root, "run_key", c.run_key);
    detail::set_attr(file, root, "epochs_done", static_cast<std::int64_t>(c.epochs_done));
    detail::set_attr(file, root, "batches_seen", s.batches_seen);
    detail::set_attr(file, root, "version", kCheckpointVersion);
    detail::flush_h5(file);
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error("file " + in_quotes(path) + ": cannot be written (" + ec.message() + ")");
}

std::optional<Checkpoint> read_checkpoint(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  auto file = detail::open_h5(path, false);
  const hid_t root = file.id.get();
  Checkpoint c;
  const auto key = detail::get_attr_string(root, "run_key");
  const auto epochs = detail::get_attr_int64(root, "epochs_done");
  const auto batches = detail::get_attr_int64(root, "batches_seen");
  if (!key || !epochs || !batches)
    throw InputError("file " + in_quotes(path) + ": is not a concise learning checkpoint (no run_key, epochs_done or "
                     "batches_seen attribute); move it away to start afresh");
  c.run_key = *key;
  c.epochs_done = static_cast<int>(*epochs);
  c.state.batches_seen = *batches;
  c.state.learned_atoms = detail::read_matrix_f32(file, "/learned_atoms");
  c.state.a = detail::read_matrix_f32(file, "/statistics_a");
  c.state.b = detail::read_matrix_f32(file, "/statistics_b");
  std::vector<double> objective(static_cast<std::size_t>(c.epochs_done));
  if (c.epochs_done > 0) detail::read_slice(file, "/objective", H5T_NATIVE_DOUBLE, 0, c.epochs_done, objective.data());
  c.objective = std::move(objective);
  return c;
}

}  // namespace concise::learn
