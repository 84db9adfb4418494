#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>

#include "commands.hpp"
#include "concise/core/codes_file.hpp"
#include "concise/core/error.hpp"
#include "explain.hpp"
#include "names_file.hpp"

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

}  // namespace

void print_explanation(const std::string& codes_path, std::int64_t first, std::int64_t last, int top,
                       const std::vector<std::string>& labels, const Dictionary* dictionary) {
  if (first < 0) throw InputError("rows must start at 0 or later");
  const CodesFile codes = CodesFile::load(codes_path, first, last < 0 ? -1 : std::max<std::int64_t>(0, last - first));
  if (dictionary != nullptr && !codes.info.dictionary_fingerprint.empty() &&
      codes.info.dictionary_fingerprint != dictionary->fingerprint)
    throw InputError("file " + in_quotes(codes_path) + ": was made with another dictionary (fingerprint " +
                     codes.info.dictionary_fingerprint + ", this one is " + dictionary->fingerprint + ")");
  for (std::int64_t r = 0; r < codes.codes.rows(); ++r) {
    const std::int64_t row = codes.first_row + r;
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
      const std::string name = dictionary != nullptr && static_cast<std::int64_t>(k) < dictionary->size()
                                   ? dictionary->describe_atom(static_cast<std::int64_t>(k))
                               : k < codes.descriptions.size() ? codes.descriptions[k]
                               : k < codes.concepts.size()     ? codes.concepts[k]
                                                               : "concept_" + std::to_string(k);
      std::printf("    %.4f  %s\n", static_cast<double>(codes.codes.data[static_cast<std::size_t>(p)]), name.c_str());
    }
  }
}

void add_explain_command(CLI::App& app) {
  struct Args {
    std::string codes, rows = "0:10", labels, dictionary;
    int top = 10;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("explain", "print each row's concepts and weights, l0, the two cosines and the gap");
  cmd->add_option("codes", args->codes, "codes file (.h5) from `concise decompose`")->required();
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
    print_explanation(args->codes, first, last, args->top, labels, dictionary ? &*dictionary : nullptr);
  });
}

}  // namespace concise::cli
