#include <chrono>
#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "concise/core/error.hpp"
#include "concise/index/index_file.hpp"

namespace concise::cli {

void add_index_command(CLI::App& app) {
  auto* index = app.add_subcommand("index", "sparse inverted index over codes (for `concise search`)");
  index->require_subcommand(1);
  struct Args {
    std::string codes, output;
  };
  auto args = std::make_shared<Args>();
  auto* build = index->add_subcommand("build", "codes -> posting lists per concept (rows by weight, block maxima)");
  build->add_option("codes", args->codes, "codes file (.h5) from `concise decompose`")->required();
  build->add_option("-o,--output", args->output, "index file (.h5)")->required();
  build->callback([args] {
    std::error_code ec;
    if (std::filesystem::equivalent(args->codes, args->output, ec))
      throw InputError("the index " + in_quotes(args->output) + " would overwrite its input codes file");
    const auto start = std::chrono::steady_clock::now();
    const SparseIndex built = build_index_from_codes(args->codes);
    save_index(built, args->output, args->codes);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("wrote %s: %lld rows, %lld concepts, %lld postings, %.2f MB in memory (%.2f s)\n", args->output.c_str(),
                static_cast<long long>(built.rows()), static_cast<long long>(built.concepts()),
                static_cast<long long>(built.nnz()), static_cast<double>(built.memory_bytes()) / 1e6, seconds);
  });
}

}  // namespace concise::cli
