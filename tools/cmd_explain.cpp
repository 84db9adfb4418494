#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>

#include "commands.hpp"
#include "concise/core/codes_file.hpp"
#include "concise/core/error.hpp"
#include "explain.hpp"
#include "names_file.hpp"
#include "python_delegate.hpp"
#include "shard_manifest.hpp"

namespace concise::cli {
namespace {

// "A:B", "A:" or "A" (one row).
std::pair<std::int64_t, std::int64_t> parse_rows(const std::string& text) {
  try {
    const auto colon = text.find(':');
    if (colon == std::string::npos) {
      const std::int64_t row = std::stoll(text);
      return {row, row + 1};
    }
    const std::int64_t first = colon == 0 ? 0 : std::stoll(text.substr(0, colon));
    const std::int64_t last = colon + 1 == text.size() ? -1 : std::stoll(text.substr(colon + 1));
    return {first, last};
  } catch (const std::exception&) {
    throw InputError("rows " + in_quotes(text) + " are malformed, expected A:B, A: or A");
  }
}

// Rows [first, last) of a codes file, refused when the file was made with another dictionary.
CodesFile load_rows(const std::string& codes_path, std::int64_t first, std::int64_t last, const Dictionary* dictionary) {
  if (first < 0) throw InputError("rows must start at 0 or later");
  CodesFile codes = CodesFile::load(codes_path, first, last < 0 ? -1 : std::max<std::int64_t>(0, last - first));
  if (dictionary != nullptr && !codes.info.dictionary_fingerprint.empty() &&
      codes.info.dictionary_fingerprint != dictionary->fingerprint)
    throw InputError("file " + in_quotes(codes_path) + ": was made with another dictionary (fingerprint " +
                     codes.info.dictionary_fingerprint + ", this one is " + dictionary->fingerprint + ")");
  return codes;
}

std::string concept_name(const CodesFile& codes, std::size_t k, const Dictionary* dictionary) {
  if (dictionary != nullptr && static_cast<std::int64_t>(k) < dictionary->size())
    return dictionary->describe_atom(static_cast<std::int64_t>(k));
  if (k < codes.descriptions.size()) return codes.descriptions[k];
  if (k < codes.concepts.size()) return codes.concepts[k];
  return "concept_" + std::to_string(k);
}

// Rows are printed, and labels indexed, as row_number_offset + the file's row.
void print_rows(const CodesFile& codes, std::int64_t row_number_offset, int top,
                const std::vector<std::string>& labels, const Dictionary* dictionary) {
  for (std::int64_t r = 0; r < codes.codes.rows(); ++r) {
    const std::int64_t row = row_number_offset + codes.first_row + r;
    const auto i = static_cast<std::size_t>(r);
    std::string label;
    if (static_cast<std::size_t>(row) < labels.size()) label = "  " + labels[static_cast<std::size_t>(row)];
    else if (i < codes.names.size()) label = "  " + codes.names[i];
    std::printf("row %lld%s  l0 %d  centered cosine %.4f  SpLiCE cosine %.4f  gap %.2e  lambda %.4g%s\n",
                static_cast<long long>(row), label.c_str(), codes.stats.l0[i],
                static_cast<double>(codes.stats.centered_cosine[i]), static_cast<double>(codes.stats.cosine[i]),
                static_cast<double>(codes.stats.gap[i]), static_cast<double>(codes.stats.l1[i]),
                codes.stats.at_limit[i] ? "  (stopped on a limit)" : "");
    const auto begin = codes.codes.indptr[i], end = codes.codes.indptr[i + 1];
    std::vector<std::int64_t> order(static_cast<std::size_t>(end - begin));
    std::iota(order.begin(), order.end(), begin);
    std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      return codes.codes.data[static_cast<std::size_t>(a)] > codes.codes.data[static_cast<std::size_t>(b)];
    });
    if (static_cast<std::int64_t>(order.size()) > top) order.resize(static_cast<std::size_t>(top));
    for (auto p : order) {
      const auto k = static_cast<std::size_t>(codes.codes.indices[static_cast<std::size_t>(p)]);
      std::printf("    %.4f  %s\n", static_cast<double>(codes.codes.data[static_cast<std::size_t>(p)]),
                  concept_name(codes, k, dictionary).c_str());
    }
  }
}

// Every codes file holding rows [first, last) against the manifest's sha256 and row count,
// in Python (hashlib): a missing or changed file stops the command, named, before any output.
void verify_codes_files(const ShardManifest& manifest, std::int64_t first, std::int64_t last) {
  run_python_module_to_completion(
      "dask", {"verify", manifest.path, "--rows", std::to_string(first) + ":" + std::to_string(last), "--quiet"},
      "concise explain", {"h5py", "h5py", "."});
}

// The rows of a folder of shards (or its manifest.json), numbered across the shards in
// order. Every shard's rows are read before the first is printed.
void print_manifest_explanation(const std::string& path, std::int64_t first, std::int64_t last, int top,
                                const std::vector<std::string>& labels, const Dictionary* dictionary) {
  if (first < 0) throw InputError("rows must start at 0 or later");
  const ShardManifest manifest = ShardManifest::read(path);
  if (first > manifest.rows)
    throw InputError("manifest " + in_quotes(manifest.path) + ": row " + std::to_string(first) +
                     " is out of range, its shards hold " + std::to_string(manifest.rows) + " rows");
  const std::int64_t end = last < 0 ? manifest.rows : std::min(last, manifest.rows);
  const std::vector<ManifestShard> shards = manifest.shards_with_rows(first, end);
  if (shards.empty()) return;
  verify_codes_files(manifest, first, end);
  std::vector<CodesFile> parts;
  for (const ManifestShard& shard : shards)
    parts.push_back(load_rows(shard.codes_path, std::max(first, shard.first_row) - shard.first_row,
                              std::min(end, shard.first_row + shard.rows) - shard.first_row, dictionary));
  for (std::size_t i = 0; i < shards.size(); ++i) print_rows(parts[i], shards[i].first_row, top, labels, dictionary);
}

}  // namespace

void print_explanation(const std::string& codes_path, std::int64_t first, std::int64_t last, int top,
                       const std::vector<std::string>& labels, const Dictionary* dictionary) {
  print_rows(load_rows(codes_path, first, last, dictionary), 0, top, labels, dictionary);
}

void add_explain_command(CLI::App& app) {
  struct Args {
    std::string codes, rows = "0:10", labels, dictionary;
    int top = 10;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("explain", "print each row's concepts and weights, l0, the two cosines and the gap");
  cmd->add_option("codes", args->codes,
                  "codes file (.h5) from `concise decompose`, or the folder (or its manifest.json) from `concise "
                  "decompose --scheduler`: its shards as one codes set, rows numbered across them")
      ->required();
  cmd->add_option("--rows", args->rows, "rows to show: A:B, A: or A")->capture_default_str();
  cmd->add_option("--top", args->top, "concepts per row")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--labels", args->labels, "a name per row, one per line (default: the file's /names, e.g. image file names)");
  cmd->add_option("--dictionary", args->dictionary,
                  "the codes' dictionary (.h5); learned atoms show their nearest concepts without it too, from the "
                  "descriptions decompose keeps in the codes file");
  cmd->footer("centered cosine: between the concepts' sum C^T w and the embedding minus the image mean, the part "
              "the solver explains (0 for an empty code). SpLiCE cosine: between the recomposition "
              "normalize(normalize(C^T w) + image mean) and the embedding, as SpLiCE reports it; the image mean "
              "alone scores about 0.7 on CLIP ViT-B/32.");
  cmd->callback([args] {
    const auto [first, last] = parse_rows(args->rows);
    const std::vector<std::string> labels = args->labels.empty() ? std::vector<std::string>{} : read_names(args->labels);
    std::optional<Dictionary> dictionary;
    if (!args->dictionary.empty()) dictionary = Dictionary::load(args->dictionary);
    const Dictionary* chosen = dictionary ? &*dictionary : nullptr;
    if (ShardManifest::is_manifest(args->codes))
      print_manifest_explanation(args->codes, first, last, args->top, labels, chosen);
    else
      print_explanation(args->codes, first, last, args->top, labels, chosen);
  });
}

}  // namespace concise::cli
