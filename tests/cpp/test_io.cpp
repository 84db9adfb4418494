#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "concise/core/codes_file.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/embedding_source.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "concise/core/output_file.hpp"

namespace concise {
namespace {

namespace fs = std::filesystem;

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("concise-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                        "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

void write_raw_npy(const std::string& path, const std::string& descr, const std::string& shape, const void* data,
                   std::size_t bytes) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  header.append((64 - (10 + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const char len[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  out.write(len, 2);
  out << header;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

using Io = TempDir;

Dictionary two_concepts() {
  Matrix<float> text(2, 3, 1.0f);
  text.row(0)[0] = 0.5f;
  return Dictionary::build(std::move(text), {"a", "b"}, {0.1f, 0.2f, 0.3f});
}

TEST_F(Io, NpyReadsFloat16And64AndRoundTripsFloat32) {
  const double f64[4] = {1.5, -2.0, 0.25, 8.0};
  write_raw_npy(path("a.npy"), "<f8", "(2, 2)", f64, sizeof(f64));
  const auto a = read_npy_matrix(path("a.npy"));
  EXPECT_EQ(a.rows(), 2);
  EXPECT_EQ(a.row(1)[1], 8.0f);
  const std::uint16_t f16[3] = {0x3c00, 0xc000, 0x3555};  // 1, -2, 0.33325
  write_raw_npy(path("h.npy"), "<f2", "(1, 3)", f16, sizeof(f16));
  const auto h = read_npy_matrix(path("h.npy"));
  EXPECT_EQ(h.row(0)[0], 1.0f);
  EXPECT_EQ(h.row(0)[1], -2.0f);
  EXPECT_NEAR(h.row(0)[2], 0.33325f, 1e-5f);
  write_npy(path("b.npy"), a.data(), {2, 2});
  EXPECT_EQ(read_npy_matrix(path("b.npy")).values(), a.values());
}

TEST_F(Io, NpyRejectsTruncatedForeignAndFortranFiles) {
  const float v[4] = {1, 2, 3, 4};
  write_raw_npy(path("t.npy"), "<f4", "(2, 4)", v, sizeof(v));
  EXPECT_NE(error_of([&] { open_embeddings(path("t.npy")); }).find("truncated"), std::string::npos);
  write_raw_npy(path("i.npy"), "<i4", "(2, 2)", v, sizeof(v));
  EXPECT_NE(error_of([&] { open_embeddings(path("i.npy")); }).find("expected float16, float32 or float64"), std::string::npos);
  std::ofstream(path("junk.npy")) << "not numpy";
  EXPECT_NE(error_of([&] { open_embeddings(path("junk.npy")); }).find("not a .npy file"), std::string::npos);
}

TEST_F(Io, ShardFolderReadsInNumericOrderAndNamesRows) {
  for (int s : {0, 1, 10, 2}) {
    const float v[2] = {static_cast<float>(s), 1.0f};
    write_npy(path("img_emb_" + std::to_string(s) + ".npy"), v, {1, 2});
  }
  auto source = open_embeddings(dir_.string());
  ASSERT_EQ(source->rows(), 4);
  std::vector<float> rows(8);
  source->read(0, 4, rows.data());
  EXPECT_EQ(rows[0], 0.0f);
  EXPECT_EQ(rows[2], 1.0f);
  EXPECT_EQ(rows[4], 2.0f);
  EXPECT_EQ(rows[6], 10.0f);
  EXPECT_NE(source->describe_row(3).find("img_emb_10.npy', row 0"), std::string::npos);
}

TEST_F(Io, EmptyInputAndMissingDatasetAreErrors) {
  write_raw_npy(path("e.npy"), "<f4", "(0, 4)", nullptr, 0);
  EXPECT_NE(error_of([&] { open_embeddings(path("e.npy")); }).find("empty input"), std::string::npos);
  two_concepts().save(path("d.h5"));
  const auto message = error_of([&] { open_embeddings(path("d.h5"), "/embeddings"); });
  EXPECT_NE(message.find("dataset '/embeddings': not found"), std::string::npos) << message;
  // It lists what the file has.
  EXPECT_NE(message.find("the file has 4 datasets: /atoms, /concepts, /image_mean, /text_mean"), std::string::npos)
      << message;
}

TEST_F(Io, DictionaryRoundTripsAndMissingAtomsIsAnError) {
  Matrix<float> text(3, 4);
  for (std::int64_t k = 0; k < 3; ++k)
    for (std::int64_t i = 0; i < 4; ++i) text.row(k)[i] = static_cast<float>(k == i) + 0.1f * static_cast<float>(i);
  const Dictionary d = Dictionary::build(text, {"cat", "dog", "street sign"}, {0.1f, 0.2f, 0.3f, 0.4f}, "clip", "test");
  d.save(path("d.h5"));
  const Dictionary e = Dictionary::load(path("d.h5"));
  EXPECT_EQ(e.atoms.values(), d.atoms.values());
  EXPECT_EQ(e.concepts, d.concepts);
  EXPECT_EQ(e.image_mean, d.image_mean);
  EXPECT_EQ(e.text_mean, d.text_mean);
  EXPECT_EQ(e.fingerprint, d.fingerprint);
  EXPECT_EQ(e.model, "clip");
  EXPECT_FALSE(fs::exists(path("d.h5.partial")));

  CodesRunInfo info;
  info.rows = 1;
  info.concepts = 3;
  {
    CodesWriter w(path("not_a_dict.h5"), info, {"a", "b", "c"});
    SparseRows rows;
    rows.clear(3);
    rows.append_dense_row(std::vector<float>{0, 1, 0}.data(), 3);
    CodeStats stats;
    stats.resize(1);
    w.append(rows, stats);
    w.finish();
  }
  const auto message = error_of([&] { Dictionary::load(path("not_a_dict.h5")); });
  EXPECT_NE(message.find("dataset '/atoms': not found"), std::string::npos) << message;
}

TEST_F(Io, CorruptHdf5IsAnError) {
  two_concepts().save(path("d.h5"));
  fs::resize_file(path("d.h5"), fs::file_size(path("d.h5")) / 3);
  const auto message = error_of([&] { Dictionary::load(path("d.h5")); });
  EXPECT_NE(message.find("file '" + path("d.h5") + "'"), std::string::npos) << message;
}

TEST_F(Io, CodesWriterResumesAfterInterruptionAndRefusesOtherSettings) {
  CodesRunInfo info;
  info.rows = 5;
  info.concepts = 4;
  info.l1 = 0.25;
  info.tol = 1e-4;
  info.source = "file 'x'";
  auto chunk = [](std::int64_t first, std::int64_t count) {
    SparseRows rows;
    rows.clear(4);
    CodeStats stats;
    stats.resize(static_cast<std::size_t>(count));
    for (std::int64_t r = 0; r < count; ++r) {
      std::vector<float> w(4, 0.0f);
      w[static_cast<std::size_t>((first + r) % 4)] = 0.5f + static_cast<float>(first + r);
      rows.append_dense_row(w.data(), 4);
      stats.cosine[static_cast<std::size_t>(r)] = static_cast<float>(first + r);
    }
    return std::make_pair(rows, stats);
  };
  {
    CodesWriter w(path("c.h5"), info, {"a", "b", "c", "d"});
    auto [rows, stats] = chunk(0, 2);
    w.append(rows, stats);
  }  // interrupted: no finish
  EXPECT_FALSE(fs::exists(path("c.h5")));
  ASSERT_TRUE(fs::exists(path("c.h5.partial")));
  CodesRunInfo other = info;
  other.l1 = 0.3;
  EXPECT_NE(error_of([&] { CodesWriter w(path("c.h5"), other, {"a", "b", "c", "d"}); }).find("l1 0.25"), std::string::npos);
  {
    CodesWriter w(path("c.h5"), info, {"a", "b", "c", "d"});
    EXPECT_TRUE(w.resumed());
    EXPECT_EQ(w.rows_done(), 2);
    auto [rows, stats] = chunk(2, 3);
    w.append(rows, stats);
    w.finish();
  }
  const CodesFile f = CodesFile::load(path("c.h5"));
  EXPECT_TRUE(f.complete);
  EXPECT_EQ(f.codes.indptr, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(f.codes.indices, (std::vector<std::int32_t>{0, 1, 2, 3, 0}));
  EXPECT_EQ(f.stats.cosine[4], 4.0f);
  const CodesFile tail = CodesFile::load(path("c.h5"), 3, 2);
  EXPECT_EQ(tail.codes.data, (std::vector<float>{3.5f, 4.5f}));
}

TEST_F(Io, AnOutputThatIsAnInputIsRefusedWhateverItsName) {
  std::ofstream(path("in.npy")) << "data";
  fs::create_hard_link(path("in.npy"), path("hard.npy"));
  fs::create_symlink(path("in.npy"), path("soft.npy"));
  for (const char* output : {"in.npy", "hard.npy", "soft.npy"}) {
    const auto message = error_of([&] { check_output(path(output), {path("in.npy")}); });
    EXPECT_NE(message.find("is the input '" + path("in.npy") + "'"), std::string::npos) << message;
  }
  // A folder among the inputs stands for its files.
  const auto message = error_of([&] { check_output(path("hard.npy"), {dir_.string()}); });
  EXPECT_NE(message.find("is the input"), std::string::npos) << message;
  EXPECT_NO_THROW(check_output(path("new.h5"), {path("in.npy")}));
  std::ofstream(path("other.h5")) << "old output";
  EXPECT_NO_THROW(check_output(path("other.h5"), {path("in.npy")}));
  std::ifstream in(path("in.npy"));
  std::string text;
  in >> text;
  EXPECT_EQ(text, "data");
}

TEST_F(Io, AMissingOutputFolderIsNamed) {
  const std::string missing = path("no/such");
  const auto message = error_of([&] { check_output(missing + "/out.h5"); });
  EXPECT_NE(message.find("output folder '" + missing + "' does not exist"), std::string::npos) << message;
  const auto saving = error_of([&] { two_concepts().save(missing + "/d.h5"); });
  EXPECT_NE(saving.find("output folder '" + missing + "' does not exist"), std::string::npos) << saving;
  EXPECT_FALSE(fs::exists(path("no")));
}

TEST_F(Io, ASecondWriterOfTheSameOutputIsRefused) {
  CodesRunInfo info;
  info.rows = 2;
  info.concepts = 2;
  CodesWriter first(path("c.h5"), info, {"a", "b"});
  const auto message = error_of([&] { CodesWriter second(path("c.h5"), info, {"a", "b"}); });
  EXPECT_NE(message.find("another concise run is writing this output"), std::string::npos) << message;
  // The first writer goes on undisturbed.
  SparseRows rows;
  rows.clear(2);
  for (int r = 0; r < 2; ++r) rows.append_dense_row(std::vector<float>{0.5f, 0.0f}.data(), 2);
  CodeStats stats;
  stats.resize(2);
  first.append(rows, stats);
  first.finish();
  EXPECT_EQ(CodesFile::load(path("c.h5")).codes.indptr, (std::vector<std::int64_t>{0, 1, 2}));
  // Locks are per writer: once one is gone, the next may write.
  { const PartialLock lock(path("d.h5.partial")); }
  EXPECT_NO_THROW(two_concepts().save(path("d.h5")));
}

TEST_F(Io, DictionariesWithAZeroAtomAreRefused) {
  auto message = error_of([&] { Dictionary::build(Matrix<float>(1, 4, 1.0f), {"cat"}); });
  EXPECT_NE(message.find("at least 2 concepts, got 1"), std::string::npos) << message;
  Matrix<float> same(3, 2, 1.0f);
  same.row(2)[0] = -1.0f;
  message = error_of([&] { Dictionary::build(same, {"cat", "kitten", "dog"}); });
  EXPECT_EQ(message, "");  // rows 0 and 1 agree, but neither equals the mean of all three
  message = error_of([&] { Dictionary::build(Matrix<float>(2, 4, 3.0f), {"cat", "big cat"}); });
  EXPECT_NE(message.find("text embedding row 0 ('cat'): equals the mean of all concepts"), std::string::npos) << message;
}

TEST_F(Io, UnknownConceptsSuggestTheNearestNamesIgnoringCase) {
  Matrix<float> text(4, 4, 0.0f);
  for (int k = 0; k < 4; ++k) text.row(k)[k] = 1.0f;
  const Dictionary d = Dictionary::build(text, {"cat", "street sign", "kitten", "coconut"});
  EXPECT_EQ(d.require("kitten", "zeroed"), 2);
  EXPECT_EQ(d.nearest("CAT"), (std::vector<std::string>{"cat"}));
  EXPECT_EQ(d.nearest("Street Signs"), (std::vector<std::string>{"street sign"}));
  const auto message = error_of([&] { d.require("Kiten", "zeroed"); });
  EXPECT_EQ(message, "concept 'Kiten' is not in the dictionary, so it cannot be zeroed; did you mean 'kitten'?");
  EXPECT_EQ(error_of([&] { d.require("unicorn", "zeroed"); }),
            "concept 'unicorn' is not in the dictionary, so it cannot be zeroed");
}

TEST_F(Io, WrongShapesSayWhichShapeTheyHave) {
  const float v[24] = {};
  write_raw_npy(path("cube.npy"), "<f4", "(2, 3, 4)", v, sizeof(v));
  auto message = error_of([&] { read_npy_matrix(path("cube.npy")); });
  EXPECT_NE(message.find("got shape (2, 3, 4)"), std::string::npos) << message;
  message = error_of([&] { read_npy_vector(path("cube.npy")); });
  EXPECT_NE(message.find("expected a 1-D array (a vector), got shape (2, 3, 4)"), std::string::npos) << message;
  message = error_of([&] { open_embeddings(path("cube.npy")); });
  EXPECT_NE(message.find("got shape (2, 3, 4)"), std::string::npos) << message;
}

}  // namespace
}  // namespace concise
