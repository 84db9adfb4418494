#include "concise/learn/describe.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>

#include "concise/core/error.hpp"
#include "concise/core/preprocess.hpp"
#include "concise/core/progress.hpp"

namespace concise::learn {
namespace {

// The `top` largest (value, index) pairs, largest first; ties by smaller index.
class TopK {
 public:
  explicit TopK(std::size_t k) : k_(k) {}
  void offer(float value, std::int64_t index) {
    const Entry e{value, index};
    if (heap_.size() < k_) {
      heap_.push(e);
    } else if (k_ > 0 && better(e, heap_.top())) {
      heap_.pop();
      heap_.push(e);
    }
  }
  std::vector<std::pair<float, std::int64_t>> sorted() const {
    auto copy = heap_;
    std::vector<std::pair<float, std::int64_t>> out;
    while (!copy.empty()) {
      out.emplace_back(copy.top().value, copy.top().index);
      copy.pop();
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  struct Entry {
    float value;
    std::int64_t index;
  };
  static bool better(const Entry& a, const Entry& b) { return a.value > b.value || (a.value == b.value && a.index < b.index); }
  struct Worse {
    bool operator()(const Entry& a, const Entry& b) const { return better(a, b); }
  };
  std::size_t k_;
  std::priority_queue<Entry, std::vector<Entry>, Worse> heap_;  // the weakest on top
};

}  // namespace

void name_by_vocabulary(MatrixView<const float> learned_atoms, const Dictionary& vocabulary, int top,
                        std::vector<LearnedAtom>& learned) {
  const std::int64_t c = vocabulary.size(), d = learned_atoms.cols;
  if (vocabulary.dim() != d)
    throw InputError("the vocabulary has dimension " + std::to_string(vocabulary.dim()) + ", expected " +
                     std::to_string(d) + " (the atoms')");
  std::vector<double> norms(static_cast<std::size_t>(c));
  for (std::int64_t k = 0; k < c; ++k)
    norms[static_cast<std::size_t>(k)] = std::sqrt(dot(vocabulary.atoms.row(k), vocabulary.atoms.row(k), d));
  Matrix<float> cosines(learned_atoms.rows, c);
  gemm_abt(learned_atoms.data, vocabulary.atoms.data(), cosines.data(), learned_atoms.rows, c, d);
  for (std::int64_t j = 0; j < learned_atoms.rows; ++j) {
    const double norm = std::sqrt(dot(learned_atoms.row(j), learned_atoms.row(j), d));
    TopK best(static_cast<std::size_t>(top));
    for (std::int64_t k = 0; k < c; ++k)
      best.offer(static_cast<float>(cosines.row(j)[k] / std::max(1e-12, norm * norms[static_cast<std::size_t>(k)])), k);
    LearnedAtom& a = learned[static_cast<std::size_t>(j)];
    a.nearest.clear();
    a.nearest_cosine.clear();
    for (const auto& [cosine, k] : best.sorted()) {
      a.nearest.push_back(vocabulary.concepts[static_cast<std::size_t>(k)]);
      a.nearest_cosine.push_back(cosine);
    }
  }
}

std::vector<LearnedAtom> describe_learned_atoms(DictionaryLearner& learner, const RowReader& reader,
                                                const DescribeSettings& settings, FinalPass& pass) {
  const std::int64_t n = reader.source.rows(), k_learned = learner.learned(), fixed = learner.fixed();
  const std::int64_t block = block_rows(learner.options(), learner.atoms().rows());
  std::vector<TopK> top_rows(static_cast<std::size_t>(k_learned), TopK(static_cast<std::size_t>(settings.top)));
  std::vector<std::int64_t> usage(static_cast<std::size_t>(k_learned), 0);
  double objective = 0, l0 = 0, learned_l0 = 0;
  Progress bar("naming atoms", n, 0, settings.progress);
  SolveResult result;
  for (std::int64_t first = 0; first < n; first += block) {
    const std::int64_t count = std::min(block, n - first);
    const Matrix<float> z = reader.read(first, count);
    learner.solve(z.view(), result);
    for (std::int64_t r = 0; r < count; ++r) {
      const auto row = static_cast<std::size_t>(r);
      objective += result.objective[row];
      l0 += static_cast<double>(result.codes.indptr[row + 1] - result.codes.indptr[row]);
      for (auto p = result.codes.indptr[row]; p < result.codes.indptr[row + 1]; ++p) {
        const std::int64_t k = result.codes.indices[static_cast<std::size_t>(p)];
        if (k < fixed) continue;
        ++usage[static_cast<std::size_t>(k - fixed)];
        ++learned_l0;
        top_rows[static_cast<std::size_t>(k - fixed)].offer(result.codes.data[static_cast<std::size_t>(p)], first + r);
      }
    }
    bar.advance(count);
  }
  bar.finish();
  pass.objective = objective / static_cast<double>(n);
  pass.mean_l0 = l0 / static_cast<double>(n);
  pass.mean_learned_l0 = learned_l0 / static_cast<double>(n);

  std::vector<LearnedAtom> learned(static_cast<std::size_t>(k_learned));
  for (std::int64_t j = 0; j < k_learned; ++j) {
    LearnedAtom& a = learned[static_cast<std::size_t>(j)];
    a.usage = static_cast<float>(static_cast<double>(usage[static_cast<std::size_t>(j)]) / static_cast<double>(n));
    for (const auto& [weight, row] : top_rows[static_cast<std::size_t>(j)].sorted()) {
      const auto index = static_cast<std::size_t>(row);
      a.top_rows.push_back(index < settings.row_names.size() && !settings.row_names[index].empty()
                               ? settings.row_names[index]
                               : "row " + std::to_string(row));
      a.top_weights.push_back(weight);
    }
  }
  if (settings.vocabulary != nullptr && settings.vocabulary->size() > 0)
    name_by_vocabulary({learner.atoms().row(fixed), k_learned, learner.dim()}, *settings.vocabulary, settings.top,
                       learned);
  return learned;
}

Dictionary assemble_dictionary(const DictionaryLearner& learner, const Dictionary* init, std::vector<LearnedAtom> learned,
                               std::vector<float> image_mean) {
  Dictionary dict;
  dict.atoms = learner.atoms();
  const std::int64_t fixed = learner.fixed();
  std::int64_t next_name = 0;
  if (init != nullptr) {
    if (init->size() != fixed) throw Error("the initial dictionary does not match the learner's fixed atoms");
    dict.concepts = init->concepts;
    dict.text_mean = init->text_mean;
    dict.model = init->model;
    dict.vocabulary = init->vocabulary;
    dict.learned = init->learned;  // atoms learned earlier stay described (they are fixed now)
    next_name = static_cast<std::int64_t>(init->learned.size());
  }
  for (std::int64_t j = 0; j < learner.learned(); ++j) {
    std::string name = "learned_" + std::to_string(next_name + j);
    while (dict.find(name) >= 0) name += "'";
    dict.concepts.push_back(name);
    learned[static_cast<std::size_t>(j)].atom = fixed + j;
    dict.learned.push_back(std::move(learned[static_cast<std::size_t>(j)]));
  }
  dict.image_mean = std::move(image_mean);
  dict.fingerprint = fingerprint_of(dict.atoms, dict.concepts);
  return dict;
}

}  // namespace concise::learn
