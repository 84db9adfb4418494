#pragma once
// CLIP's byte-level BPE tokenizer (openai/CLIP simple_tokenizer), exact ids.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace concise::clip {

class Tokenizer {
 public:
  static constexpr int kContextLength = 77;

  // merges_path: CLIP's bpe_simple_vocab_16e6.txt.gz or a Hugging Face merges.txt.
  explicit Tokenizer(const std::string& merges_path);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // Token ids of the cleaned text, without start and end tokens.
  std::vector<std::int64_t> encode(const std::string& text) const;
  // Start token, ids, end token; cut to `context` tokens keeping the end token, padded with 0.
  std::vector<std::int64_t> tokenize(const std::string& text, int context = kContextLength) const;

  std::int64_t start_token() const { return start_token_; }
  std::int64_t end_token() const { return end_token_; }
  std::int64_t vocab_size() const { return static_cast<std::int64_t>(vocab_.size()); }
  const std::string& source() const { return source_; }

 private:
  void bpe(const std::string& word, std::vector<std::int64_t>& ids) const;

  struct Pattern;
  std::string source_;
  std::unordered_map<std::string, std::int64_t> vocab_;
  std::unordered_map<std::string, int> merge_ranks_;  // "first second" -> rank
  std::vector<std::string> byte_symbols_;             // CLIP's bytes_to_unicode, UTF-8
  std::unique_ptr<Pattern> pattern_;
  std::int64_t start_token_ = 0;
  std::int64_t end_token_ = 0;
};

// Where to find the merges: explicit path, else $CONCISE_CLIP_BPE, else merges.txt or
// bpe_simple_vocab_16e6.txt.gz in model_dir, else the merges concise ships. Throws an InputError listing what was tried.
std::string find_merges_file(const std::string& explicit_path, const std::string& model_dir);

}  // namespace concise::clip
