#include <cstdio>

#include "commands.hpp"
#include "concise/clip/tokenizer.hpp"

namespace concise::cli {

void add_tokenize_command(CLI::App& app) {
  struct Args {
    std::vector<std::string> texts;
    std::string bpe, model;
    int context = clip::Tokenizer::kContextLength;
    bool pad = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("tokenize", "print CLIP token ids, one line per text (start and end tokens included)");
  cmd->add_option("texts", args->texts, "texts to tokenize")->required();
  cmd->add_option("--bpe", args->bpe, "CLIP's BPE merges; default: $CONCISE_CLIP_BPE, then --model's folder, then the merges concise ships");
  cmd->add_option("--model", args->model, "a model folder holding merges.txt or bpe_simple_vocab_16e6.txt.gz");
  cmd->add_option("--context", args->context, "tokens per text, truncated keeping the end token")
      ->capture_default_str()
      ->check(CLI::Range(2, 100000));
  cmd->add_flag("--pad", args->pad, "print all --context ids, padded with 0");
  cmd->callback([args] {
    const clip::Tokenizer tokenizer(clip::find_merges_file(args->bpe, args->model));
    for (const auto& text : args->texts) {
      std::vector<std::int64_t> ids = tokenizer.tokenize(text, args->context);
      if (!args->pad)
        while (ids.size() > 2 && ids.back() == 0) ids.pop_back();
      for (std::size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %lld" : "%lld", static_cast<long long>(ids[i]));
      std::printf("\n");
    }
  });
}

}  // namespace concise::cli
