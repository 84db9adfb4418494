#include <cstdio>
#include <filesystem>
#include <fstream>

#include "commands.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"
#include "concise/core/output_file.hpp"
#include "concise/vocab/build_dictionary.hpp"
#include "concise/vocab/caption_mining.hpp"
#include "concise/vocab/word_list.hpp"
#include "encoder_flags.hpp"

namespace concise::cli {
namespace {

struct VocabSource {
  std::string words, captions;
  std::int64_t top = 0;
  std::int64_t bigrams = 0;
  std::int64_t min_count = 2;
};

void add_source_flags(CLI::App& cmd, VocabSource& source, bool words_allowed) {
  CLI::Option* words = nullptr;
  if (words_allowed)
    words = cmd.add_option("--words", source.words, "word list, least to most frequent: the top K are the last K lines");
  auto* captions = cmd.add_option("--captions", source.captions, "captions, one per line, mined for words and pairs");
  if (words) words->excludes(captions);
  else captions->required();
  cmd.add_option("--top", source.top, "concepts to keep: the last K lines of --words, or the K most frequent words "
                                      "of --captions (default: all words; 10000 for captions)");
  cmd.add_option("--bigrams", source.bigrams, "--captions: also the K most frequent word pairs")->capture_default_str();
  cmd.add_option("--min-count", source.min_count, "--captions: captions a word or pair must appear in")
      ->capture_default_str();
}

vocab::MiningSettings mining_settings(const VocabSource& source) {
  return {source.top > 0 ? source.top : 10000, source.bigrams, source.min_count};
}

std::vector<std::string> concepts_of(const VocabSource& source) {
  if (!source.words.empty()) return vocab::read_top_words(source.words, source.top);
  if (source.captions.empty()) throw InputError("vocab needs --words FILE or --captions FILE");
  std::vector<std::string> concepts;
  for (auto& mined : vocab::mine_caption_file(source.captions, mining_settings(source))) concepts.push_back(std::move(mined.text));
  if (concepts.empty())
    throw InputError("captions file " + in_quotes(source.captions) + " yields no word seen in --min-count " +
                     std::to_string(source.min_count) + " captions");
  return concepts;
}

}  // namespace

void add_vocab_command(CLI::App& app) {
  auto* vocab_cmd = app.add_subcommand("vocab", "concept vocabularies: mine captions, build dictionaries");
  vocab_cmd->require_subcommand(1);

  struct MineArgs {
    VocabSource source;
    std::string output;
    bool counts = false;
  };
  auto mine_args = std::make_shared<MineArgs>();
  auto* mine = vocab_cmd->add_subcommand("mine", "captions -> the most frequent words and word pairs (no model needed)");
  add_source_flags(*mine, mine_args->source, false);
  mine->add_flag("--counts", mine_args->counts, "print each concept's caption count after a tab");
  mine->add_option("-o,--output", mine_args->output, "write the concepts here, one per line (default: stdout)");
  mine->callback([mine_args] {
    if (!mine_args->output.empty()) check_output(mine_args->output, {mine_args->source.captions});
    const auto mined = vocab::mine_caption_file(mine_args->source.captions, mining_settings(mine_args->source));
    std::string text;
    for (const auto& concept_entry : mined)
      text += concept_entry.text + (mine_args->counts ? "\t" + std::to_string(concept_entry.count) : "") + "\n";
    if (mine_args->output.empty()) {
      std::fputs(text.c_str(), stdout);
      return;
    }
    const std::string partial = mine_args->output + ".partial";
    const PartialLock lock(partial);
    std::ofstream(partial) << text;
    std::filesystem::rename(partial, mine_args->output);
    std::printf("wrote %s: %zu concepts\n", mine_args->output.c_str(), mined.size());
  });

  struct BuildArgs {
    VocabSource source;
    EncoderFlags encoder;
    std::string prompt_template = "{}", image_mean, output;
    bool quiet = false;
  };
  auto args = std::make_shared<BuildArgs>();
  auto* build = vocab_cmd->add_subcommand("build", "words or captions -> a dictionary embedded with a CLIP text encoder");
  add_source_flags(*build, args->source, true);
  add_encoder_flags(*build, args->encoder, true);
  build->add_option("--template", args->prompt_template, "prompt around each concept, {} marks it")
      ->capture_default_str();
  build->add_option("--image-mean", args->image_mean, "the image embeddings' mean [d] (.npy), stored for decomposing");
  build->add_flag("-q,--quiet", args->quiet, "no progress line");
  build->add_option("-o,--output", args->output, "dictionary file (.h5)")->required();
  build->callback([args] {
    check_output(args->output, {args->source.words, args->source.captions, args->image_mean, args->encoder.model,
                                args->encoder.bpe});
    std::vector<std::string> concepts = concepts_of(args->source);
    vocab::DictionarySettings settings;
    settings.prompt_template = args->prompt_template;
    vocab::apply_template(settings.prompt_template, "");  // a bad template fails before the model loads
    if (!args->image_mean.empty()) settings.image_mean = read_npy_vector(args->image_mean);
    settings.vocabulary = std::filesystem::path(args->source.words.empty() ? args->source.captions : args->source.words)
                              .filename()
                              .string();
    settings.embed = {args->encoder.batch, !args->quiet};
    const clip::Tokenizer tokenizer(clip::find_merges_file(args->encoder.bpe, args->encoder.model));
    auto encoder = load_encoder(args->encoder.model, args->encoder.device);
    std::fprintf(stderr, "concise: %s\n", encoder->describe().c_str());
    const Dictionary dict = vocab::build_dictionary(*encoder, tokenizer, std::move(concepts), settings);
    save_dictionary(dict, args->output);
  });
}

}  // namespace concise::cli
