#include <cstdio>

#include "commands.hpp"
#include "concise/clip/image.hpp"
#include "concise/core/npy.hpp"
#include "concise/core/output_file.hpp"

namespace concise::cli {

void add_preprocess_command(CLI::App& app) {
  struct Args {
    std::string image, output;
    int size = 224;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("preprocess", "an image -> CLIP's input tensor [3, size, size] (float32 .npy)");
  cmd->add_option("image", args->image, "JPEG or PNG file")->required();
  cmd->add_option("--size", args->size, "input size of the model")->capture_default_str()->check(CLI::Range(1, 8192));
  cmd->add_option("-o,--output", args->output, "output .npy file")->required();
  cmd->callback([args] {
    check_output(args->output, {args->image});
    clip::Preprocessing spec;
    spec.size = args->size;
    const std::vector<float> tensor = clip::preprocess_file(args->image, spec);
    write_npy(args->output, tensor.data(), {3, args->size, args->size});
    std::printf("wrote %s: [3, %d, %d] float32\n", args->output.c_str(), args->size, args->size);
  });
}

}  // namespace concise::cli
