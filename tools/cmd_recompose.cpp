#include <cstdio>

#include "commands.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/output_file.hpp"
#include "concise/engine/jobs.hpp"

namespace concise::cli {

void add_recompose_command(CLI::App& app) {
  struct Args {
    std::string codes, dictionary, output;
    std::vector<std::string> zero;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("recompose", "codes -> dense embeddings normalize(normalize(C^T w) + mu)");
  cmd->add_option("codes", args->codes, "codes file (.h5)")->required();
  cmd->add_option("--dictionary", args->dictionary, "the dictionary the codes were made with")->required();
  cmd->add_option("--zero", args->zero, "concepts whose weights are set to 0 first (intervention)");
  cmd->add_option("-o,--output", args->output, "output file (.h5), float32 /embeddings [N, d]")->required();
  cmd->callback([args] {
    check_output(args->output, {args->codes, args->dictionary});
    const Dictionary dict = Dictionary::load(args->dictionary);
    recompose_file(args->codes, dict, args->zero, args->output);
    std::printf("wrote %s%s\n", args->output.c_str(),
                args->zero.empty() ? "" : (" with " + std::to_string(args->zero.size()) + " concept(s) zeroed").c_str());
  });
}

}  // namespace concise::cli
