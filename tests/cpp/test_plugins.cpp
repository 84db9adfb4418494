// Backend plugins and the engine's one door to them: device names, where plugins
// are looked for, and what a user is told when one is missing or cannot run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "concise/core/error.hpp"
#include "concise/core/plugin.hpp"
#include "concise/core/synthetic.hpp"
#include "concise/engine/backends.hpp"
#include "concise/engine/device.hpp"
#include "concise/engine/encoders.hpp"
#include "concise/engine/resources.hpp"

namespace fs = std::filesystem;
using namespace concise;

namespace {

// Sets CONCISE_PLUGIN_PATH for one test and restores it after.
class PluginPath {
 public:
  explicit PluginPath(const std::string& value) {
    if (const char* old = std::getenv("CONCISE_PLUGIN_PATH")) old_ = old;
    setenv("CONCISE_PLUGIN_PATH", value.c_str(), 1);
  }
  ~PluginPath() {
    if (old_) setenv("CONCISE_PLUGIN_PATH", old_->c_str(), 1);
    else unsetenv("CONCISE_PLUGIN_PATH");
  }
  PluginPath(const PluginPath&) = delete;
  PluginPath& operator=(const PluginPath&) = delete;

 private:
  std::optional<std::string> old_;
};

fs::path empty_folder(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("concise_plugins_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(DeviceNames, OneParserForEveryLayer) {
  EXPECT_TRUE(parse_device("auto").automatic);
  EXPECT_EQ(parse_device("cpu").device, Device{});
  EXPECT_EQ(parse_device("cuda").to_string(), "cuda:0");
  EXPECT_EQ(parse_device("cuda:3").to_string(), "cuda:3");
  EXPECT_EQ(parse_device("auto").to_string(), "auto");
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "cuda:-1", "cuda1", "CPU", ""})
    EXPECT_THROW(parse_device(bad), InputError) << bad;
  EXPECT_NE(error_of([] { parse_device("cuda:x"); }).find("expected auto, cpu, cuda or cuda:N"), std::string::npos);
}

TEST(PluginSearch, FollowsTheEnvironmentVariableElseTheBinarysFolder) {
  {
    PluginPath path("/a:/b::/a");
    EXPECT_EQ(plugin_search_path(), (std::vector<std::string>{"/a", "/b"}));
  }
  PluginPath unset("");
  const auto dirs = plugin_search_path();
  ASSERT_FALSE(dirs.empty());
  // The test program sits in <build>/tests; the plugins in <build>/lib/concise.
  EXPECT_EQ(fs::path(dirs.front()).filename(), "concise");
  EXPECT_EQ(fs::path(dirs.front()).parent_path().filename(), "lib");
}

TEST(PluginSearch, ABrokenOrForeignPluginIsRefusedWithItsReason) {
  {
    PluginPath path(CONCISE_FAKE_PLUGIN_DIR);
    const std::string why = error_of([] { load_plugin("wrong_abi", sizeof(PluginHeader)); });
    EXPECT_NE(why.find("plugin ABI " + std::to_string(kPluginAbiVersion + 998)), std::string::npos) << why;
    EXPECT_NE(why.find("rebuild"), std::string::npos) << why;
  }
  const fs::path dir = empty_folder("junk");
  std::ofstream(dir / plugin_file_name("junk")) << "not an ELF file";
  PluginPath path(dir.string());
  const std::string why = error_of([] { load_plugin("junk", sizeof(PluginHeader)); });
  EXPECT_NE(why.find("libconcise_junk.so cannot be loaded"), std::string::npos) << why;
  fs::remove_all(dir);
}

// Target sparsity runs on the CPU: "auto" goes there with it, on a GPU machine too,
// while a GPU asked for by name is still refused with the reason (make_decomposer).
TEST(Resources, AutoSolvesTargetSparsityOnTheCpu) {
  EXPECT_EQ(solving_device("auto", 8), "cpu");
  EXPECT_EQ(solving_device("auto", 0), "auto");
  EXPECT_EQ(solving_device("cuda:1", 8), "cuda:1");
  EXPECT_EQ(solving_device("cpu", 0), "cpu");
  EXPECT_FALSE(Resources(solving_device("auto", 8)).on_cuda());
}

TEST(Resources, AskingForCudaWithoutThePluginSaysWhatIsMissing) {
  const fs::path dir = empty_folder("none");
  PluginPath path(dir.string());
  try {
    Resources resources("cuda");
    FAIL() << "a GPU without the CUDA plugin was accepted";
  } catch (const InputError& e) {
    const std::string why = e.what();
    EXPECT_NE(why.find("device 'cuda' needs the CUDA backend plugin"), std::string::npos) << why;
    EXPECT_NE(why.find("libconcise_cuda.so was not found (looked in " + dir.string()), std::string::npos) << why;
  }
  EXPECT_FALSE(Resources("auto").on_cuda());  // auto falls back to the CPU
  const std::string why = error_of([] { load_encoder("some/model", "cpu"); });
  EXPECT_NE(why.find("libconcise_clip_torch.so was not found"), std::string::npos) << why;
  std::string reason;
  EXPECT_FALSE(encoders_available(&reason));
  EXPECT_NE(reason.find("was not found"), std::string::npos);
  for (const auto& backend : find_backends())
    if (backend.name != "cpu") {
      EXPECT_FALSE(backend.usable) << backend.name;
    }
  fs::remove_all(dir);
}

TEST(Resources, ThePluginWithoutAGpuSaysNoDriverOrGpuWasFound) {
  if (find_plugin("cuda").path.empty()) GTEST_SKIP() << "built without the CUDA backend";
  if (Resources("auto").on_cuda()) GTEST_SKIP() << "a GPU is here";
  try {
    Resources resources("cuda:0");
    FAIL() << "cuda:0 was accepted without a GPU";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA driver or GPU was found"), std::string::npos) << e.what();
  }
}

TEST(Resources, TheCpuRecomposesLikeSpLiCE) {
  Resources cpu("cpu");
  EXPECT_EQ(cpu.describe(), "cpu");
  SyntheticSpec spec;
  spec.concepts = 30;
  spec.dim = 16;
  spec.rows = 5;
  spec.rank = 4;
  const SyntheticProblem p = make_synthetic_problem(spec);
  SparseRows codes;
  codes.cols = p.dict.size();
  codes.indptr = {0, 2, 2, 3};
  codes.indices = {1, 4, 0};
  codes.data = {0.5f, 0.25f, 1.0f};
  const Matrix<float> mine = cpu.recompose(p.dict, codes);
  const Matrix<float> reference = recompose(codes, p.dict.atoms.view(), p.dict.image_mean);
  ASSERT_EQ(mine.values(), reference.values());
  auto decomposer = cpu.make_decomposer(p.dict.atoms.view(), SolveOptions{});
  EXPECT_EQ(resolved_solver(*decomposer), "cpu/ws");
}
