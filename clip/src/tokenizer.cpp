#include "concise/clip/tokenizer.hpp"

#include <unicode/regex.h>
#include <unicode/unistr.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "concise/clip/text_cleaning.hpp"
#include "concise/core/data_dir.hpp"
#include "concise/core/error.hpp"

namespace concise::clip {
namespace {

constexpr int kMergeCount = 49152 - 256 - 2;  // the merges CLIP's vocabulary uses

std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw InputError("cannot open BPE merges file " + in_quotes(path));
  std::string text;
  char buffer[1 << 16];
  int got = 0;
  while ((got = gzread(file, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(got));
  const bool failed = got < 0;
  gzclose(file);
  if (failed) throw InputError("BPE merges file " + in_quotes(path) + " is not a readable gzip file");
  return text;
}

std::string read_merges_text(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) return read_gzip(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open BPE merges file " + in_quotes(path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void append_codepoint_utf8(std::string& out, UChar32 c) {
  std::string piece;
  icu::UnicodeString(c).toUTF8String(piece);
  out += piece;
}

// CLIP's bytes_to_unicode: printable Latin-1 bytes map to themselves, the others to
// U+0100 onwards, in this order (the order of the first 256 vocabulary entries).
std::vector<std::pair<int, std::string>> byte_unicode_table() {
  std::vector<int> bytes;
  for (int b = '!'; b <= '~'; ++b) bytes.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bytes.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bytes.push_back(b);
  std::vector<int> codepoints = bytes;
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    if (std::find(bytes.begin(), bytes.end(), b) == bytes.end()) {
      bytes.push_back(b);
      codepoints.push_back(256 + extra++);
    }
  }
  std::vector<std::pair<int, std::string>> table;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string symbol;
    append_codepoint_utf8(symbol, codepoints[i]);
    table.emplace_back(bytes[i], symbol);
  }
  return table;
}

}  // namespace

struct Tokenizer::Pattern {
  std::unique_ptr<icu::RegexPattern> regex;
};

Tokenizer::Tokenizer(const std::string& merges_path) : source_(merges_path), pattern_(std::make_unique<Pattern>()) {
  const std::string text = read_merges_text(merges_path);
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);  // version header
  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int>(merges.size()) < kMergeCount && std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == line.size())
      throw InputError("BPE merges file " + in_quotes(merges_path) + ", line " + std::to_string(merges.size() + 2) +
                       ": expected two symbols separated by a space, found " + in_quotes(line));
    merges.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  if (static_cast<int>(merges.size()) < kMergeCount)
    throw InputError("BPE merges file " + in_quotes(merges_path) + " has " + std::to_string(merges.size()) +
                     " merges; CLIP's vocabulary needs " + std::to_string(kMergeCount));

  byte_symbols_.assign(256, {});
  std::vector<std::string> vocab;
  for (const auto& [byte, symbol] : byte_unicode_table()) {
    byte_symbols_[static_cast<std::size_t>(byte)] = symbol;
    vocab.push_back(symbol);
  }
  for (std::size_t i = 0; i < 256; ++i) vocab.push_back(vocab[i] + "</w>");
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    vocab.push_back(merges[rank].first + merges[rank].second);
    merge_ranks_.emplace(merges[rank].first + ' ' + merges[rank].second, static_cast<int>(rank));
  }
  vocab.emplace_back("<|startoftext|>");
  vocab.emplace_back("<|endoftext|>");
  for (std::size_t id = 0; id < vocab.size(); ++id) vocab_.emplace(vocab[id], static_cast<std::int64_t>(id));
  start_token_ = vocab_.at("<|startoftext|>");
  end_token_ = vocab_.at("<|endoftext|>");

  UErrorCode status = U_ZERO_ERROR;
  UParseError parse_error{};
  pattern_->regex.reset(icu::RegexPattern::compile(
      u"<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
      UREGEX_CASE_INSENSITIVE, parse_error, status));
  if (U_FAILURE(status)) throw Error(std::string("ICU failed to compile CLIP's token pattern: ") + u_errorName(status));
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

void Tokenizer::bpe(const std::string& word, std::vector<std::int64_t>& ids) const {
  // Split into byte symbols (each one UTF-8 code point), the last one marked as word end.
  std::vector<std::string> symbols;
  icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(word);
  for (std::int32_t i = 0; i < unicode.length(); i = unicode.moveIndex32(i, 1)) {
    std::string symbol;
    append_codepoint_utf8(symbol, unicode.char32At(i));
    symbols.push_back(std::move(symbol));
  }
  symbols.back() += "</w>";

  while (symbols.size() > 1) {
    int best_rank = INT_MAX;
    std::size_t best = 0;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto found = merge_ranks_.find(symbols[i] + ' ' + symbols[i + 1]);
      if (found != merge_ranks_.end() && found->second < best_rank) {
        best_rank = found->second;
        best = i;
      }
    }
    if (best_rank == INT_MAX) break;
    const std::string first = symbols[best];
    const std::string second = symbols[best + 1];
    std::vector<std::string> merged;
    merged.reserve(symbols.size());
    for (std::size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(symbols[i++]);
      }
    }
    symbols.swap(merged);
  }
  for (const auto& symbol : symbols) ids.push_back(vocab_.at(symbol));
}

std::vector<std::int64_t> Tokenizer::encode(const std::string& text) const {
  const std::string cleaned = clean_text(text);
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(cleaned);
  std::unique_ptr<icu::RegexMatcher> matcher(pattern_->regex->matcher(unicode, status));
  if (U_FAILURE(status)) throw Error(std::string("ICU failed to match CLIP's token pattern: ") + u_errorName(status));
  std::vector<std::int64_t> ids;
  while (matcher->find()) {
    std::string piece;
    matcher->group(status).toUTF8String(piece);
    if (piece.rfind("<|", 0) == 0 && vocab_.count(piece) != 0) {
      ids.push_back(vocab_.at(piece));
      continue;
    }
    std::string symbols;
    for (const unsigned char byte : piece) symbols += byte_symbols_[byte];
    bpe(symbols, ids);
  }
  return ids;
}

std::vector<std::int64_t> Tokenizer::tokenize(const std::string& text, int context) const {
  if (context < 2) throw InputError("the token context must hold at least the start and end tokens (2), not " +
                                    std::to_string(context));
  std::vector<std::int64_t> ids{start_token_};
  const std::vector<std::int64_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(end_token_);
  if (static_cast<int>(ids.size()) > context) {
    ids.resize(static_cast<std::size_t>(context));
    ids.back() = end_token_;
  }
  ids.resize(static_cast<std::size_t>(context), 0);
  return ids;
}

std::string find_merges_file(const std::string& explicit_path, const std::string& model_dir) {
  namespace fs = std::filesystem;
  if (!explicit_path.empty()) {
    if (!fs::is_regular_file(explicit_path)) throw InputError("BPE merges file " + in_quotes(explicit_path) + " does not exist");
    return explicit_path;
  }
  std::vector<std::string> tried;
  if (const char* env = std::getenv("CONCISE_CLIP_BPE"); env != nullptr && *env != '\0') {
    if (fs::is_regular_file(env)) return env;
    tried.push_back(std::string("$CONCISE_CLIP_BPE (") + env + ")");
  }
  if (!model_dir.empty()) {
    for (const char* name : {"merges.txt", "bpe_simple_vocab_16e6.txt.gz"}) {
      const fs::path candidate = fs::path(model_dir) / name;
      if (fs::is_regular_file(candidate)) return candidate.string();
      tried.push_back(candidate.string());
    }
  }
  if (const std::string shipped = shipped_data_dir(); !shipped.empty()) {
    const fs::path candidate = fs::path(shipped) / "bpe_simple_vocab_16e6.txt.gz";
    if (fs::is_regular_file(candidate)) return candidate.string();
    tried.push_back(candidate.string());
  }
  std::string message = "no BPE merges file for the CLIP tokenizer: pass --bpe FILE (bpe_simple_vocab_16e6.txt.gz or "
                        "merges.txt) or set CONCISE_CLIP_BPE";
  if (!tried.empty()) {
    message += "; tried";
    for (const auto& path : tried) message += " " + in_quotes(path);
  }
  throw InputError(message);
}

}  // namespace concise::clip
