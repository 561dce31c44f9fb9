// Progress reporting for long work: a one-line bar redrawn in place on a terminal (done/total,
// samples/s, loss, ETA), plain log lines otherwise (pipes, CI logs, files).
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace ae {

class Progress {
 public:
  // `out` is where progress goes (stderr by default); `enabled` false silences the bar.
  Progress(std::string label, int64_t total, bool enabled = true, FILE* out = stderr);
  ~Progress();
  // Redraws at most ~10 times a second on a terminal; does nothing otherwise.
  void update(int64_t done, const std::string& status);
  // A line that stays: printed above the bar on a terminal, as a plain line elsewhere.
  void line(const std::string& text);
  void finish();
  bool is_terminal() const { return m_tty; }

 private:
  std::string m_label;
  int64_t m_total;
  bool m_enabled, m_tty, m_drawn = false;
  FILE* m_out;
  std::chrono::steady_clock::time_point m_start, m_last_draw;
  void clear();
};

std::string format_duration(double seconds);

}  // namespace ae
