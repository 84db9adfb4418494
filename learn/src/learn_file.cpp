#include "concise/learn/learn_file.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "checkpoint.hpp"
#include "concise/core/dictionary.hpp"
#include "concise/core/error.hpp"
#include "concise/core/npy.hpp"

namespace concise::learn {
namespace {

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return !a.empty() && !b.empty() && std::filesystem::exists(a, ec) && std::filesystem::exists(b, ec) &&
         std::filesystem::equivalent(a, b, ec);
}

// Everything a checkpoint must share with the run that resumes it.
std::string run_key(const LearnJob& job, const EmbeddingSource& source, const Dictionary* init,
                    const std::vector<float>& mean) {
  std::string key = job.options.settings_key();
  key += " fixed=" + (init ? init->fingerprint : std::string("none"));
  key += " mean=" + fingerprint_of(Matrix<float>(), {std::string(reinterpret_cast<const char*>(mean.data()),
                                                                  mean.size() * sizeof(float))});
  key += " rows=" + std::to_string(source.rows()) + " dim=" + std::to_string(source.dim());
  key += " source=" + source.describe();
  return key;
}

void print_epoch(const EpochReport& r) {
  std::fprintf(stderr, "epoch %d/%d: objective %.6f per row, mean l0 %.2f, %lld atoms re-initialised, %.1f s\n", r.epoch,
               r.epochs, r.objective, r.mean_l0, static_cast<long long>(r.resampled), r.seconds);
}

}  // namespace

std::string checkpoint_path(const std::string& output) { return output + ".checkpoint"; }

LearnSummary learn_file(const LearnJob& job) {
  const auto start = std::chrono::steady_clock::now();
  job.options.validate();
  if (job.output.empty()) throw InputError("an output file is needed (-o learned.h5)");
  for (const std::string* input : {&job.input, &job.init, &job.vocabulary, &job.image_mean})
    if (same_file(*input, job.output))
      throw InputError("the output " + in_quotes(job.output) + " is an input file; it would be overwritten");

  auto source = open_embeddings(job.input, job.dataset);
  std::optional<Dictionary> init, vocabulary;
  if (!job.init.empty()) {
    init = Dictionary::load(job.init);
    if (init->dim() != source->dim())
      throw InputError("file " + in_quotes(job.init) + ": the dictionary has dimension " + std::to_string(init->dim()) +
                       ", expected " + std::to_string(source->dim()) + " like " + source->describe());
  }
  if (!job.vocabulary.empty()) {
    vocabulary = Dictionary::load(job.vocabulary);
    if (vocabulary->dim() != source->dim())
      throw InputError("file " + in_quotes(job.vocabulary) + ": the vocabulary has dimension " +
                       std::to_string(vocabulary->dim()) + ", expected " + std::to_string(source->dim()));
  }
  std::vector<float> mean;
  if (!job.image_mean.empty()) {
    mean = read_npy_vector(job.image_mean);
    if (static_cast<std::int64_t>(mean.size()) != source->dim())
      throw InputError("file " + in_quotes(job.image_mean) + ": the image mean has dimension " +
                       std::to_string(mean.size()) + ", expected " + std::to_string(source->dim()));
  } else if (init) {
    mean = init->image_mean;
  }
  if (!init && source->rows() < job.options.atoms)
    throw InputError(source->describe() + ": has " + std::to_string(source->rows()) + " rows, fewer than the " +
                     std::to_string(job.options.atoms) + " atoms to learn; free mode needs at least one row per atom");

  DictionaryLearner learner(job.options, init ? init->atoms : Matrix<float>(), source->dim());
  const RowReader reader{*source, mean, true};
  const std::string key = run_key(job, *source, init ? &*init : nullptr, mean);

  LearnSummary summary;
  summary.rows = source->rows();
  summary.fixed_atoms = learner.fixed();
  summary.learned_atoms = learner.learned();
  summary.checkpoint = checkpoint_path(job.output);
  summary.device = learner.device().to_string();
  if (auto saved = read_checkpoint(summary.checkpoint)) {
    if (saved->run_key != key)
      throw InputError("file " + in_quotes(summary.checkpoint) + ": is the checkpoint of a run with other settings or "
                       "inputs (" + saved->run_key + "), expected (" + key + "); delete it to start afresh");
    learner.restore(saved->state);
    summary.epochs_done = saved->epochs_done;
    summary.objective = saved->objective;
    summary.resumed = true;
  } else {
    initialize_from_rows(learner, reader);
  }

  const bool terminal = job.progress && isatty(STDERR_FILENO) != 0;
  const int last = job.stop_after_epochs > 0 ? std::min(job.options.epochs, summary.epochs_done + job.stop_after_epochs)
                                             : job.options.epochs;
  run_epochs(learner, reader, summary.epochs_done, last, job.progress, [&](const EpochReport& report) {
    summary.objective.push_back(report.objective);
    summary.epochs_done = report.epoch;
    write_checkpoint(summary.checkpoint, {key, summary.epochs_done, learner.state(), summary.objective});
    if (terminal) print_epoch(report);
  });

  if (summary.epochs_done >= job.options.epochs) {
    DescribeSettings describe;
    describe.vocabulary = vocabulary ? &*vocabulary : init ? &*init : nullptr;
    describe.row_names = source->row_names();
    describe.progress = job.progress;
    auto learned = describe_learned_atoms(learner, reader, describe, summary.final_pass);
    const Dictionary out = assemble_dictionary(learner, init ? &*init : nullptr, std::move(learned), mean);
    out.save(job.output);
    std::error_code ec;
    std::filesystem::remove(summary.checkpoint, ec);
    summary.complete = true;
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace concise::learn
