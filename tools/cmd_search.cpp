#include <algorithm>
#include <cstdio>

#include "commands.hpp"
#include "concise/clip/embed.hpp"
#include "concise/clip/encoder.hpp"
#include "concise/clip/tokenizer.hpp"
#include "concise/core/embedding_source.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "concise/index/index_file.hpp"
#include "concise/index/query.hpp"
#include "encoder_flags.hpp"

namespace concise::cli {

namespace {

struct SearchArgs {
  std::string index, concepts, embedding, text, dictionary;
  std::int64_t like = -1;
  std::int64_t k = 10;
  double l1 = 0.25;
  EncoderFlags encoder;
};

std::string describe(const SparseQuery& q, const SparseIndex& index) {
  std::string out;
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (i == 8) return out + ", ... (" + std::to_string(q.size()) + " concepts)";
    char weight[32];
    std::snprintf(weight, sizeof weight, ":%.3g", static_cast<double>(q.weights[i]));
    const auto k = static_cast<std::size_t>(q.concepts[i]);
    out += (i ? ", " : "") + (k < index.concept_names().size() ? index.concept_names()[k] : std::to_string(k)) + weight;
  }
  return out.empty() ? "(no concepts)" : out;
}

// Dense query rows -> codes over the index's dictionary.
std::vector<SparseQuery> decompose_queries(const SearchArgs& args, const SparseIndex& index, const Matrix<float>& rows) {
  if (args.dictionary.empty())
    throw InputError("--embedding and --text queries need --dictionary, the dictionary the index's codes were made with");
  const Dictionary dict = Dictionary::load(args.dictionary);
  check_same_dictionary(index, args.index, dict, args.dictionary);
  SolveOptions options;
  options.l1 = args.l1;
  options.validate();
  return queries_from_embeddings(dict, rows.view(), options, "cpu");
}

// Rows of query embeddings; a 1-D .npy is one query.
Matrix<float> read_query_embeddings(const std::string& path) {
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0 && inspect_npy(path).shape.size() == 1) {
    std::vector<float> row = read_npy_vector(path);
    Matrix<float> one(1, static_cast<std::int64_t>(row.size()));
    std::copy(row.begin(), row.end(), one.data());
    return one;
  }
  const auto source = open_embeddings(path);
  Matrix<float> rows(source->rows(), source->dim());
  source->read(0, source->rows(), rows.data());
  return rows;
}

Matrix<float> encode_text(const SearchArgs& args) {
  if (args.encoder.model.empty()) throw InputError("--text needs --model, the CLIP encoder that made the embeddings");
  const clip::Tokenizer tokenizer(clip::find_merges_file(args.encoder.bpe, args.encoder.model));
  auto encoder = load_encoder(args.encoder.model, args.encoder.device);
  clip::EmbedSettings settings;
  settings.progress = false;
  return clip::embed_texts(*encoder, tokenizer, {args.text}, settings);
}

void run_search(const SearchArgs& args) {
  check_top_k(args.k);
  const int given = !args.concepts.empty() + !args.embedding.empty() + !args.text.empty() + (args.like >= 0);
  if (given != 1) throw InputError("search needs exactly one of --concepts, --embedding, --text or --like");
  const SparseIndex index = load_index(args.index);
  std::vector<SparseQuery> queries;
  if (!args.concepts.empty()) queries.push_back(parse_concept_query(args.concepts, index.concept_names()));
  if (args.like >= 0) queries.push_back(index.row_query(args.like));
  if (!args.embedding.empty()) {
    const Matrix<float> rows = read_query_embeddings(args.embedding);
    if (!args.dictionary.empty()) {
      const Dictionary dict = Dictionary::load(args.dictionary);
      if (rows.cols() != dict.dim())
        throw InputError("file " + in_quotes(args.embedding) + " has " + std::to_string(rows.cols()) +
                         "-dimensional rows, expected " + std::to_string(dict.dim()) + " like dictionary " +
                         in_quotes(args.dictionary));
    }
    queries = decompose_queries(args, index, rows);
  }
  if (!args.text.empty()) queries = decompose_queries(args, index, encode_text(args));
  const auto results = index.search_many(queries, args.k);
  for (std::size_t q = 0; q < queries.size(); ++q) {
    std::printf("%squery%s: %s\n", q ? "\n" : "", queries.size() > 1 ? (" " + std::to_string(q)).c_str() : "",
                describe(queries[q], index).c_str());
    if (results[q].empty()) std::printf("  no row shares a concept with the query\n");
    else std::printf("  %4s  %10s  %12s  %s\n", "rank", "row", "score", "name");
    for (std::size_t i = 0; i < results[q].size(); ++i) {
      const auto& hit = results[q][i];
      const auto row = static_cast<std::size_t>(hit.row);
      std::printf("  %4zu  %10lld  %12.7g  %s\n", i + 1, static_cast<long long>(hit.row), hit.score,
                  row < index.row_names().size() ? index.row_names()[row].c_str() : "");
    }
  }
}

}  // namespace

void add_search_command(CLI::App& app) {
  auto args = std::make_shared<SearchArgs>();
  auto* cmd = app.add_subcommand("search", "top-k rows of an index by exact sparse inner product with a query");
  cmd->add_option("index", args->index, "index file (.h5) from `concise index build`")->required();
  cmd->add_option("--concepts", args->concepts, "query as concept weights, e.g. \"cat:1,kitten:0.5\"");
  cmd->add_option("--embedding", args->embedding, "query embeddings (.npy or HDF5 /embeddings), one query per row, "
                                                   "decomposed with --dictionary first");
  cmd->add_option("--text", args->text, "query text, embedded with --model and decomposed with --dictionary");
  cmd->add_option("--like", args->like, "query with the code of this row of the index");
  cmd->add_option("-k,--top", args->k, "rows to return")->capture_default_str();
  cmd->add_option("--dictionary", args->dictionary, "the index's dictionary (for --embedding and --text)");
  cmd->add_option("--l1", args->l1, "l1 penalty of the query's decomposition")->capture_default_str();
  add_encoder_flags(*cmd, args->encoder, false);
  cmd->callback([args] { run_search(*args); });
}

}  // namespace concise::cli
