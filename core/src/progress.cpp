#include "concise/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace concise {
namespace {

std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(text, sizeof(text), "%lld:%02lld", s / 60, s % 60);
  return text;
}

}  // namespace

Progress::Progress(std::string label, std::int64_t total, std::int64_t already_done, bool show)
    : label_(std::move(label)),
      total_(total),
      start_done_(already_done),
      done_(already_done),
      start_(Clock::now()),
      last_draw_(start_),
      enabled_(show && isatty(STDERR_FILENO) != 0) {}

Progress::~Progress() {
  if (enabled_ && !finished_) std::fputs("\n", stderr);
}

void Progress::advance(std::int64_t rows) {
  done_ += rows;
  if (!enabled_) return;
  const auto now = Clock::now();
  if (now - last_draw_ > std::chrono::milliseconds(100) || done_ >= total_) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (enabled_ && !finished_) {
    draw(true);
    std::fputs("\n", stderr);
  }
  finished_ = true;
}

void Progress::draw(bool final) {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done_ - start_done_) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done_) / rate : 0.0;
  const double percent = total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
  std::fprintf(stderr, "\r%s %lld/%lld rows (%.0f%%)  %.0f rows/s  %s %s   ", label_.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), percent, rate,
               final ? "took" : "ETA", clock_text(final ? elapsed : eta).c_str());
  std::fflush(stderr);
}

}  // namespace concise
