// The C++ CLIP tokenizer against ids from the reference tokenizer
// (tests/fixtures/make_tokenizer_cases.py), plus cleaning and bad input.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "concise/clip/text_cleaning.hpp"
#include "concise/clip/tokenizer.hpp"
#include "concise/core/error.hpp"

namespace fs = std::filesystem;
using concise::clip::Tokenizer;

namespace {

const fs::path kMerges = fs::path(CONCISE_DATA_DIR) / "bpe_simple_vocab_16e6.txt.gz";

class TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (fs::exists(kMerges)) tokenizer_ = std::make_unique<Tokenizer>(kMerges.string());
  }
  void SetUp() override {
    if (!tokenizer_) GTEST_SKIP() << "no " << kMerges << " (the public test data)";
  }
  static std::unique_ptr<Tokenizer> tokenizer_;
};
std::unique_ptr<Tokenizer> TokenizerTest::tokenizer_;

}  // namespace

TEST_F(TokenizerTest, KnownAnswerFromTheDataReadme) {
  std::vector<std::int64_t> expected{49406, 320, 1125, 539, 320, 2368, 49407};
  expected.resize(77, 0);
  EXPECT_EQ(tokenizer_->tokenize("a photo of a cat"), expected);
  EXPECT_EQ(tokenizer_->vocab_size(), 49408);
}

TEST_F(TokenizerTest, MatchesTheReferenceOnEveryFixtureText) {
  std::ifstream in(fs::path(CONCISE_FIXTURE_DIR) / "tokenizer_cases.json");
  ASSERT_TRUE(in) << "missing tests/fixtures/tokenizer_cases.json";
  const auto cases = nlohmann::json::parse(in);
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    const std::string text = c["text"];
    std::vector<std::int64_t> expected = c["ids"];
    expected.resize(77, 0);
    EXPECT_EQ(tokenizer_->tokenize(text), expected) << "text: " << text;
  }
}

TEST_F(TokenizerTest, TruncationKeepsTheEndToken) {
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "cat ";
  const auto ids = tokenizer_->tokenize(long_text, 10);
  ASSERT_EQ(ids.size(), 10u);
  EXPECT_EQ(ids.front(), 49406);
  EXPECT_EQ(ids.back(), 49407);
  EXPECT_EQ(ids[1], 2368);
  EXPECT_THROW(tokenizer_->tokenize("cat", 1), concise::InputError);
}

TEST_F(TokenizerTest, InvalidUtf8IsAnInputErrorNamingTheByte) {
  try {
    tokenizer_->encode(std::string("ok \xff bad"));
    FAIL() << "expected an InputError";
  } catch (const concise::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("byte 3"), std::string::npos) << e.what();
  }
}

TEST(TextCleaning, FixesQuotesLigaturesWidthAndEntities) {
  EXPECT_EQ(concise::clip::clean_text("  \u201cHello\u201d\t\n  W\u00d6RLD  "), "\"hello\" w\u00f6rld");
  EXPECT_EQ(concise::clip::clean_text("\ufb01sh \uff21\uff22"), "fish ab");
  EXPECT_EQ(concise::clip::clean_text("fish &amp;amp; chips &#x263A; &eacute;"), "fish & chips \u263a \u00e9");
  EXPECT_EQ(concise::clip::unescape_html("&notanentity; &amp &#65;&#x42;"), "&notanentity; & AB");
}

TEST(TokenizerFiles, MissingOrMalformedMergesAreInputErrors) {
  EXPECT_THROW(Tokenizer("no/such/merges.txt.gz"), concise::InputError);
  const fs::path bad = fs::temp_directory_path() / "concise_bad_merges.txt";
  {
    std::ofstream out(bad);
    out << "#version: 0.2\nth e\nnospace\n";
  }
  try {
    Tokenizer t(bad.string());
    FAIL() << "expected an InputError";
  } catch (const concise::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  fs::remove(bad);
  EXPECT_THROW(concise::clip::find_merges_file("no/such/merges.txt.gz", ""), concise::InputError);
  // Without a file anywhere else, the merges that ship with concise (beside the executables).
  const std::string shipped = concise::clip::find_merges_file("", "no/such/model");
  EXPECT_EQ(fs::path(shipped).filename(), "bpe_simple_vocab_16e6.txt.gz");
  EXPECT_EQ(fs::path(shipped).parent_path().filename(), "concise");
}
