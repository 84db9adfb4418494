// `concise demo`: the main job on a built-in default. With the public CLIP data
// (LVIS concepts, 7 photos) it builds the dictionary, decomposes the photos and
// explains them; without it, a synthetic problem with known answers.
#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "concise/core/data_dir.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "concise/engine/jobs.hpp"
#include "explain.hpp"
#include "names_file.hpp"
#include "concise/core/synthetic.hpp"
#include "solve_flags.hpp"

namespace concise::cli {
namespace {

namespace fs = std::filesystem;

void synthetic_inputs(const fs::path& dir, fs::path& embeddings, Dictionary& dict, std::vector<std::string>& labels) {
  SyntheticSpec spec;
  spec.concepts = 2000;
  spec.dim = 256;
  spec.rows = 8;
  spec.atoms_per_row = 2;
  spec.row_noise = 0.3f;
  spec.seed = 7;
  SyntheticProblem problem = make_synthetic_problem(spec);
  for (const auto& made_of : problem.mixed)
    labels.push_back("made of " + problem.dict.concepts[static_cast<std::size_t>(made_of[0])] + " + " +
                     problem.dict.concepts[static_cast<std::size_t>(made_of[1])]);
  dict = std::move(problem.dict);
  embeddings = dir / "embeddings.npy";
  write_npy(embeddings.string(), problem.rows.data(), {spec.rows, spec.dim});
}

}  // namespace

void add_demo_command(CLI::App& app) {
  struct Args {
    std::string data = shipped_data_dir();
    std::string out_dir = "concise-demo";
    SolveOptions options;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("demo", "decompose 7 real CLIP image embeddings over the LVIS concepts");
  cmd->add_option("--data", args->data, "folder of the public CLIP data (clip-vit-b32/); default: the data concise ships")
      ->capture_default_str();
  cmd->add_option("--out-dir", args->out_dir, "where the demo writes its files")->capture_default_str();
  add_solve_flags(*cmd, args->options);
  cmd->callback([args] {
    const fs::path out(args->out_dir);
    fs::create_directories(out);
    const fs::path clip = fs::path(args->data) / "clip-vit-b32";
    Dictionary dict;
    fs::path embeddings;
    std::vector<std::string> labels;
    if (fs::exists(clip / "lvis_concepts.npy")) {
      std::printf("concise demo: LVIS concepts and 7 photos from %s\n\n", clip.string().c_str());
      dict = Dictionary::build(read_npy_matrix((clip / "lvis_concepts.npy").string()),
                               read_names((clip / "lvis_concepts.txt").string()),
                               read_npy_vector((clip / "image_mean.npy").string()), "openai/clip-vit-base-patch32", "lvis");
      embeddings = clip / "image_embeddings.npy";
      labels = read_names((clip / "image_embeddings.txt").string());
    } else {
      std::printf("concise demo: no CLIP data at %s (pass --data); running a synthetic problem\n\n",
                  clip.string().c_str());
      synthetic_inputs(out, embeddings, dict, labels);
    }
    const std::string dict_path = (out / "dictionary.h5").string();
    dict.save(dict_path);
    DecomposeJob job;
    job.input = embeddings.string();
    job.output = (out / "codes.h5").string();
    job.options = args->options;
    const DecomposeSummary s = decompose_file(job, dict);
    print_explanation(job.output, 0, -1, 6, labels);
    std::printf("\n%lld rows with %s in %.3f s; files in %s/ (dictionary.h5, codes.h5)\n",
                static_cast<long long>(s.rows), s.solver.c_str(), s.seconds, out.string().c_str());
  });
}

}  // namespace concise::cli
