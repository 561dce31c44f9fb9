// The gnuplot driver of `ae report`: figures are drawn by gnuplot (pngcairo), a well-kept
// program, not by a rasteriser of ae's own. A figure is a script and its data files in a scratch
// directory; gnuplot runs there as a child process (no shell), so no user path ever appears in
// a script, and its exit status and stderr are checked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ae::report {

// The gnuplot executable found on PATH; throws one line ("gnuplot not found on PATH; install
// gnuplot-nox") when there is none, so `ae report` can fail before any work.
std::string find_gnuplot();

// Runs `gnuplot -d script` (-d: no ~/.gnuplot, so a user's settings cannot restyle the figures)
// with `dir` as its working directory, stdin from /dev/null and stdout discarded. Throws one line
// with gnuplot's first message when it exits non-zero, is killed, or writes anything to stderr
// (a warning means a figure drawn wrong: an empty data set, a bad range) other than fontconfig's
// cache notices.
void run_gnuplot(const std::string& gnuplot, const std::string& dir, const std::string& script);

// Throws one line unless `path` is a whole PNG of width × height pixels. gnuplot exits 0 even when
// its output was cut short (a full disk, a file-size limit: cairo does not report the failed
// write), so every figure is decoded before it counts as drawn.
void check_png(const std::string& path, int64_t width, int64_t height);

// `text` as a gnuplot single-quoted string: no escapes inside but '' for a quote. Line breaks
// become spaces (a script line cannot hold one).
std::string gnuplot_quote(std::string_view text);

}  // namespace ae::report
