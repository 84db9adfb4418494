#include <cstdio>

#include <filesystem>

#include "commands.hpp"
#include "concise/clip/embed.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/output_file.hpp"
#include "concise/engine/jobs.hpp"
#include "decompose_on_cluster.hpp"
#include "encoder_flags.hpp"
#include "solve_flags.hpp"

namespace concise::cli {

void print_summary(const DecomposeSummary& s, const std::string& output) {
  if (!s.complete) {
    std::printf("stopped after %lld of %lld rows; %s.partial holds them, rerun the same command to resume\n",
                static_cast<long long>(s.rows_done), static_cast<long long>(s.rows), output.c_str());
    return;
  }
  std::printf("wrote %s: %lld rows (%lld this run%s) in %.3f s, %.0f rows/s with %s; mean l0 %.2f, "
              "mean centered cosine %.4f, mean SpLiCE cosine %.4f\n",
              output.c_str(), static_cast<long long>(s.rows), static_cast<long long>(s.rows_this_run),
              s.resumed ? ", resumed" : "", s.seconds, s.seconds > 0 ? static_cast<double>(s.rows_this_run) / s.seconds : 0.0,
              s.solver.c_str(), s.mean_l0, s.mean_centered_cosine, s.mean_cosine);
  if (s.l0 > 0) std::printf("target l0 %d: mean lambda %.4g (each row's in /stats/l1)\n", s.l0, s.mean_l1);
  if (s.not_converged > 0) {
    std::string rows;
    for (auto r : s.first_not_converged) rows += (rows.empty() ? "" : ", ") + std::to_string(r);
    if (s.not_converged > static_cast<std::int64_t>(s.first_not_converged.size())) rows += ", ...";
    const bool ws = s.solver.find("/ws") != std::string::npos;
    std::printf("note: %lld rows stopped at the %s (rows %s); /stats/at_limit marks them, /stats/gap holds their "
                "certified gaps\n",
                static_cast<long long>(s.not_converged),
                ws ? (s.l0 > 0 ? "round limit (--max-rounds) of the l0 path" : "round limit (--max-rounds) above tol")
                   : "iteration limit (--max-iter) above tol",
                rows.c_str());
  }
}

void add_decompose_command(CLI::App& app) {
  struct Args {
    DecomposeJob job;
    std::vector<std::string> inputs;
    std::string scheduler;
    std::string dictionary;
    std::string images;
    EncoderFlags encoder;
    bool quiet = false, recursive = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("decompose", "embeddings -> sparse nonnegative concept codes (CSR, HDF5)");
  auto* input = cmd->add_option("input", args->inputs,
                                "embeddings: HDF5 file, .npy file, or folder of .npy shards (with --scheduler: one or "
                                "more shards, each a file, clip-retrieval folder or quoted glob)");
  auto* images = cmd->add_option("--images", args->images,
                                 "instead of embeddings: a folder of photos, embedded with --model first "
                                 "(kept as OUTPUT's stem + .embeddings.h5; rows keep the file names)");
  input->excludes(images);
  cmd->add_flag("-r,--recursive", args->recursive, "--images: include subfolders (names are paths below DIR)");
  add_encoder_flags(*cmd, args->encoder, false, false);
  cmd->add_option("--dataset", args->job.dataset, "dataset path inside an HDF5 input")->capture_default_str();
  cmd->add_option("--dictionary", args->dictionary, "dictionary file (.h5) from `concise dictionary build`")->required();
  add_solve_flags(*cmd, args->job.options);
  cmd->add_option("--chunk", args->job.chunk, "rows per chunk, 1 or more (default: from the dictionary size)")
      ->check(CLI::Validator(
          [](std::string& value) -> std::string {
            return value.find_first_not_of("0123456789") == std::string::npos && value.find_first_not_of('0') != std::string::npos
                       ? ""
                       : "must be 1 row or more, got " + value;
          },
          "ROWS >= 1"));
  cmd->add_option("--max-chunks", args->job.max_chunks, "stop after N chunks; rerun to resume");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress line");
  cmd->add_option("-o,--output", args->job.output,
                  "codes file (.h5); with --scheduler, a folder: one codes file per shard and manifest.json")
      ->required();
  cmd->add_option("--scheduler", args->scheduler,
                  "run on the Dask cluster at ADDRESS (tcp://HOST:8786) through Python's concise.dask (needs "
                  "pip install .[dask]): each shard a task, resumable, byte-identical to one machine")
      ->type_name("ADDRESS");
  cmd->callback([args, cmd] {
    args->job.progress = !args->quiet;
    if (!args->scheduler.empty())
      decompose_on_cluster(*cmd, {args->scheduler, args->inputs, args->dictionary, args->job, args->quiet});
    if (args->inputs.size() > 1)
      throw InputError("decompose got " + std::to_string(args->inputs.size()) +
                       " inputs: several shards need --scheduler (one codes file each); on one machine give one file "
                       "or a folder of .npy shards");
    if (args->inputs.empty() == args->images.empty())
      throw InputError("decompose needs embeddings (INPUT) or --images DIR with --model");
    if (!args->inputs.empty()) args->job.input = args->inputs.front();
    const std::vector<std::string> inputs{args->job.input, args->dictionary, args->images, args->encoder.model};
    check_output(args->job.output, inputs);
    const std::string embedded_images =
        std::filesystem::path(args->job.output).replace_extension(".embeddings.h5").string();
    if (!args->images.empty()) check_output(embedded_images, inputs);
    const Dictionary dict = Dictionary::load(args->dictionary);
    if (!args->images.empty()) {
      if (args->encoder.model.empty()) throw InputError("--images needs --model (the CLIP model to embed them with)");
      const std::vector<std::string> paths = clip::list_images(args->images, args->recursive);
      auto encoder = load_encoder(args->encoder.model, args->job.options.device);
      std::fprintf(stderr, "concise: %s\n", encoder->describe().c_str());
      if (!dict.model.empty() && dict.model != encoder->name())
        std::fprintf(stderr, "concise: note: the dictionary was built with model '%s', the images use '%s'\n",
                     dict.model.c_str(), encoder->name().c_str());
      args->job.input = embedded_images;
      args->job.dataset = kDefaultEmbeddingDataset;
      const auto embedded =
          clip::embed_image_files(*encoder, paths, args->images, args->job.input, {args->encoder.batch, !args->quiet});
      print_embedding_summary(embedded, paths.size(), args->job.input);
    }
    print_summary(decompose_file(args->job, dict), args->job.output);
  });
}

}  // namespace concise::cli
