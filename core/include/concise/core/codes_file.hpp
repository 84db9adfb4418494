#pragma once
// Sparse codes on disk: CSR in the anndata layout plus per-row stats (docs/DESIGN.md §3).
// A run writes OUT.partial, commits rows_done after every chunk, and renames the
// file to OUT only once every row is in, so an interrupted run resumes where it
// stopped and never leaves a half file that looks whole.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "concise/core/sparse.hpp"

namespace concise {

// Identifies a run: resuming OUT.partial requires the same values.
struct CodesRunInfo {
  std::int64_t rows = 0;
  std::int64_t concepts = 0;
  double l1 = 0;
  double tol = 0;
  std::int64_t l0 = 0;         // > 0: target sparsity; each row's lambda is in /stats/l1
  double l0_ratio = 0;         // the l0 grid's ratio (only with l0 > 0)
  std::int64_t max_rounds = 0; // the working set's round limit
  std::string solver;  // the backend and algorithm that ran, e.g. "cpu/ws", "cuda/fista"
  std::string device;  // the device the file was started on, e.g. "cuda:0" (a resume may use another GPU)
  std::string dictionary_fingerprint;
  std::string source;
};

struct CodeStats {
  std::vector<std::int32_t> l0;
  // SpLiCE's cosine: the recomposition normalize(normalize(C^T w) + mu) against the
  // normalized input. The image mean alone already scores high (docs/DESIGN.md §1).
  std::vector<float> cosine;
  // The cosine between C^T w and the centered input z, the part the solver explains:
  // 0 for an empty code.
  std::vector<float> centered_cosine;
  std::vector<float> gap;        // certified duality gap of each row
  std::vector<float> objective;  // F(w) of each row
  std::vector<std::int32_t> iterations;
  std::vector<float> l1;              // the lambda each row was solved with
  std::vector<std::uint8_t> at_limit; // 1: the row stopped on an iteration, round or grid limit

  void resize(std::size_t n) {
    l1.assign(n, 0.0f);
    at_limit.assign(n, 0);
    l0.assign(n, 0);
    cosine.assign(n, 0.0f);
    centered_cosine.assign(n, 0.0f);
    gap.assign(n, 0.0f);
    objective.assign(n, 0.0f);
    iterations.assign(n, 0);
  }
};

class CodesWriter {
 public:
  // Resumes path.partial when a matching one exists, else starts it afresh.
  // A .partial left by a run with other settings is an InputError, and so is one
  // that another process is writing (the writer holds a lock on it).
  CodesWriter(const std::string& path, const CodesRunInfo& info, const std::vector<std::string>& concepts);
  ~CodesWriter();
  CodesWriter(const CodesWriter&) = delete;
  CodesWriter& operator=(const CodesWriter&) = delete;

  std::int64_t rows_done() const;
  bool resumed() const;
  std::string partial_path() const;
  // Appends the next rows and their stats, then commits rows_done to disk.
  void append(const SparseRows& rows, const CodeStats& stats);
  // Marks the file complete and renames it into place; row_names (image files,
  // texts), when given, are stored as /names, and concept descriptions (how a
  // person reads each concept, e.g. "learned_17 ~ {beach, surfboard, ocean}"), when
  // given, as /concept_descriptions.
  void finish(const std::vector<std::string>& row_names = {}, const std::vector<std::string>& descriptions = {});

 private:
  void start(const std::vector<std::string>& concepts);  // a fresh .partial
  void start_file(const std::string& file_path, const std::vector<std::string>& concepts);
  struct State;
  std::unique_ptr<State> state_;
};

struct CodesFile {
  CodesRunInfo info;
  std::int64_t first_row = 0;
  SparseRows codes;   // rows [first_row, first_row + codes.rows())
  CodeStats stats;
  std::vector<std::string> concepts;
  std::vector<std::string> descriptions;  // /concept_descriptions (one per concept), when the file has them
  std::vector<std::string> names;  // rows [first_row, ...) of /names, when the file has them
  bool complete = false;

  // Reads rows [first, first + count) (count < 0: to the end).
  static CodesFile load(const std::string& path, std::int64_t first = 0, std::int64_t count = -1);
};

}  // namespace concise
