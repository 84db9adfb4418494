#include <cstdio>

#include "commands.hpp"
#include "concise/clip/embed.hpp"
#include "concise/core/error.hpp"
#include "concise/core/output_file.hpp"
#include "encoder_flags.hpp"
#include "names_file.hpp"

namespace concise::cli {

void print_embedding_summary(const clip::ImageEmbeddingSummary& summary, std::size_t images, const std::string& output) {
  if (!summary.complete) {
    std::printf("stopped after %lld of %zu images; %s.partial holds them, rerun the same command to resume\n",
                static_cast<long long>(summary.images_done), images, output.c_str());
    return;
  }
  std::printf("wrote %s: %lld images%s", output.c_str(), static_cast<long long>(summary.rows),
              summary.resumed ? " (resumed or already embedded)" : "");
  if (!summary.skipped.empty()) std::printf(", %zu unreadable ones skipped", summary.skipped.size());
  std::printf("\n");
}

void add_embed_command(CLI::App& app) {
  struct Args {
    EncoderFlags encoder;
    std::string images, text, output;
    bool quiet = false, recursive = false;
    std::int64_t max_batches = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("embed", "images or texts -> unit-norm CLIP embeddings (HDF5 /embeddings + /names)");
  add_encoder_flags(*cmd, args->encoder, true);
  auto* images = cmd->add_option("--images", args->images, "folder of JPEG/PNG images (file names go to /names)");
  auto* text = cmd->add_option("--text", args->text, "texts, one per line (they go to /names)");
  images->excludes(text);
  cmd->add_flag("-r,--recursive", args->recursive, "--images: include subfolders (names are paths below DIR)");
  cmd->add_option("--max-batches", args->max_batches, "--images: stop after N batches; rerun to resume");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress line");
  cmd->add_option("-o,--output", args->output, "embeddings file (.h5)")->required();
  cmd->callback([args] {
    if (args->images.empty() == args->text.empty()) throw InputError("embed needs --images DIR or --text FILE");
    check_output(args->output, {args->images, args->text, args->encoder.model, args->encoder.bpe});
    const clip::EmbedSettings settings{args->encoder.batch, !args->quiet, args->max_batches};
    if (!args->images.empty()) {
      const std::vector<std::string> paths = clip::list_images(args->images, args->recursive);
      auto encoder = load_encoder(args->encoder.model, args->encoder.device);
      std::fprintf(stderr, "concise: %s\n", encoder->describe().c_str());
      const auto summary = clip::embed_image_files(*encoder, paths, args->images, args->output, settings);
      print_embedding_summary(summary, paths.size(), args->output);
      return;
    }
    const std::vector<std::string> texts = read_names(args->text);
    if (texts.empty()) throw InputError("file " + in_quotes(args->text) + " has no texts");
    const clip::Tokenizer tokenizer(clip::find_merges_file(args->encoder.bpe, args->encoder.model));
    auto encoder = load_encoder(args->encoder.model, args->encoder.device);
    std::fprintf(stderr, "concise: %s\n", encoder->describe().c_str());
    clip::embed_text_file(*encoder, tokenizer, texts, args->output, settings);
    std::printf("wrote %s: %zu texts\n", args->output.c_str(), texts.size());
  });
}

}  // namespace concise::cli
