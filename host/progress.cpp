// Progress bar.
#include "host/progress.h"

#include <unistd.h>

#include <cmath>

namespace ae {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  char buf[32];
  long t = long(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

Progress::Progress(std::string label, int64_t total, bool enabled, FILE* out)
    : m_label(std::move(label)), m_total(total), m_enabled(enabled), m_tty(isatty(fileno(out)) != 0), m_out(out),
      m_start(std::chrono::steady_clock::now()), m_last_draw(m_start - std::chrono::seconds(1)) {}

Progress::~Progress() { finish(); }

void Progress::clear() {
  if (m_drawn) std::fprintf(m_out, "\r\033[K");
  m_drawn = false;
}

void Progress::update(int64_t done, const std::string& status) {
  if (!m_enabled || !m_tty) return;
  auto now = std::chrono::steady_clock::now();
  if (done < m_total && now - m_last_draw < std::chrono::milliseconds(100)) return;
  m_last_draw = now;
  double elapsed = std::chrono::duration<double>(now - m_start).count();
  double frac = m_total > 0 ? double(done) / double(m_total) : 1.0;
  double eta = frac > 0 ? elapsed * (1 - frac) / frac : NAN;
  const int width = 28;
  int fill = int(frac * width + 0.5);
  std::string bar(size_t(fill), '#');
  bar.resize(width, '.');
  std::fprintf(m_out, "\r\033[K%s [%s] %3d%% %lld/%lld  %s  ETA %s", m_label.c_str(), bar.c_str(), int(frac * 100 + 0.5),
               (long long)done, (long long)m_total, status.c_str(), format_duration(eta).c_str());
  std::fflush(m_out);
  m_drawn = true;
}

void Progress::line(const std::string& text) {
  if (!m_enabled) return;
  clear();
  std::fprintf(m_out, "%s\n", text.c_str());
  std::fflush(m_out);
}

void Progress::finish() {
  clear();
  std::fflush(m_out);
}

}  // namespace ae
