#include "concise/core/progress.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace concise {
namespace {

// What the SIGINT handler reports. A signal handler can reach nothing but globals;
// these are lock-free atomics, safe to read there.
std::atomic<long long> g_rows_done{0};
std::atomic<bool> g_line_open{false};
struct sigaction g_previous_action {};

void append(char*& at, const char* text) {
  while (*text != '\0') *at++ = *text++;
}

void on_interrupt(int) {
  char message[160];
  char* at = message;
  if (g_line_open.load()) append(at, "\n");
  append(at, "concise: interrupted after ");
  char digits[24];
  int n = 0;
  long long rows = g_rows_done.load();
  do {
    digits[n++] = static_cast<char>('0' + rows % 10);
    rows /= 10;
  } while (rows > 0 && n < 20);
  while (n > 0) *at++ = digits[--n];
  append(at, " rows; rerun the same command to resume\n");
  const ssize_t written = write(STDERR_FILENO, message, static_cast<std::size_t>(at - message));
  (void)written;
  _exit(130);
}

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
      enabled_(show && isatty(STDERR_FILENO) != 0) {
  struct sigaction current {};
  if (sigaction(SIGINT, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    publish();
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    handles_interrupt_ = sigaction(SIGINT, &action, &g_previous_action) == 0;
  }
}

Progress::~Progress() {
  if (enabled_ && !finished_) std::fputs("\n", stderr);
  if (handles_interrupt_) {
    sigaction(SIGINT, &g_previous_action, nullptr);
    g_line_open.store(false);
  }
}

void Progress::publish() const {
  g_rows_done.store(done_);
  g_line_open.store(drawn_ && !finished_);
}

void Progress::advance(std::int64_t rows) {
  done_ += rows;
  const auto now = Clock::now();
  const bool redraw = enabled_ && (now - last_draw_ > std::chrono::milliseconds(100) || done_ >= total_);
  // Published before drawing: Ctrl-C in between then reports the rows on screen and
  // ends the line (at worst with one newline too many).
  drawn_ = drawn_ || redraw;
  if (handles_interrupt_) publish();
  if (redraw) {
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
  if (handles_interrupt_) publish();
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
