#pragma once
// A one-line progress display (rows done, rows/s, ETA) on stderr when stderr is a
// terminal; silent when it is a pipe or a file.
//
// While a Progress lives in a process that left Ctrl-C to its default (the command
// line; not Python, which handles it itself), Ctrl-C ends the progress line and
// prints "interrupted after N rows; rerun the same command to resume", N being the
// rows advanced so far (the caller advances after it commits them), and the
// process exits with status 130.
#include <chrono>
#include <cstdint>
#include <string>

namespace concise {

class Progress {
 public:
  // show = false keeps it silent even on a terminal (--quiet).
  Progress(std::string label, std::int64_t total, std::int64_t already_done = 0, bool show = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t rows);
  void finish();
  bool enabled() const { return enabled_; }

 private:
  void draw(bool final);
  void publish() const;  // what Ctrl-C reports
  using Clock = std::chrono::steady_clock;
  std::string label_;
  std::int64_t total_;
  std::int64_t start_done_;
  std::int64_t done_;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool enabled_;
  bool finished_ = false;
  bool handles_interrupt_ = false;
  bool drawn_ = false;  // a line is on the terminal
};

}  // namespace concise
