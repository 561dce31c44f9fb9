// The report's gnuplot figures: loss curves, codes in 2-D, the score histogram. See figures.h.
#include "host/report/figures.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <tuple>

#include "host/report/pca.h"
#include "host/report/plot.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"

namespace ae::report {

namespace {

// matplotlib's "tab10": ten colours told apart by most readers, colour-blind ones included.
const char* const k_palette[] = {"1f77b4", "ff7f0e", "2ca02c", "d62728", "9467bd",
                                 "8c564b", "e377c2", "7f7f7f", "bcbd22", "17becf"};
constexpr int k_palette_size = 10;

std::string num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char b[32];
  std::snprintf(b, sizeof b, "%.9g", v);
  return b;
}

std::string short_num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

void write_file(const std::string& path, const std::string& text) {
  AtomicFile f(path, text.size());
  f.write(text);
  f.commit();
}

// The settings every figure shares: its size and file, a readable font (pngcairo draws with
// fontconfig's match for "DejaVu Sans", installed by install-deps.sh), light grid, no
// enhanced-text markup (labels such as "d_real" must print as written).
std::string preamble(const std::string& png, int64_t w, int64_t h) {
  return "set terminal pngcairo size " + std::to_string(w) + "," + std::to_string(h) +
         " noenhanced font 'DejaVu Sans,12' linewidth 1.2 background '#ffffff'\n"
         "set output " + gnuplot_quote(png) + "\n"
         "set encoding utf8\n"
         "set border 3 lc rgb '#444444'\n"
         "set tics nomirror out scale 0.6 textcolor rgb '#333333'\n"
         "set grid xtics ytics lc rgb '#e6e6e6' lw 1 dt 1\n"
         "set key top right reverse Left samplen 2 spacing 1.1 box lc rgb '#cccccc' opaque\n"
         "set datafile missing 'NaN'\n";
}

// [lo, hi] of finite values, padded by `pad` of its width; a single value gets a width of its own.
std::pair<double, double> padded_range(double lo, double hi, double pad) {
  if (!(hi > lo)) {
    const double w = std::max(std::abs(lo) * 0.1, 1e-3);
    return {lo - w, hi + w};
  }
  const double w = (hi - lo) * pad;
  return {lo - w, hi + w};
}

std::string range_cmd(const char* axis, std::pair<double, double> r) {
  return std::string("set ") + axis + "range [" + num(r.first) + ":" + num(r.second) + "]\n";
}

// Tics at a round step giving at most about five intervals over r: gnuplot's own choice depends
// on the range alone, and crowds a narrow axis (a scatter beside its legend) with labels.
std::string tics_cmd(const char* axis, std::pair<double, double> r) {
  const double raw = (r.second - r.first) / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 2.5, 5.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  return std::string("set ") + axis + "tics " + num(step) + "\n";
}

// Tics at 1, 2 and 5 times each power of ten within [lo, hi]: gnuplot's own log-axis tics are the
// powers of ten alone, often one or none over a score range.
std::string log_tics(const char* axis, double lo, double hi) {
  std::string t;
  for (double decade = std::pow(10.0, std::floor(std::log10(lo))); decade <= hi; decade *= 10)
    for (double m : {1.0, 2.0, 5.0})
      if (m * decade >= lo && m * decade <= hi) t += (t.empty() ? "" : ", ") + num(m * decade);
  return std::string("set ") + axis + "tics (" + t + ")\n";
}

Figure finish(const std::string& dir, const std::string& png, const std::string& script_name, const std::string& script,
              int64_t w, int64_t h, const std::string& gnuplot) {
  write_file(dir + "/" + script_name, script);
  run_gnuplot(gnuplot, dir, script_name);
  check_png(dir + "/" + png, w, h);
  Figure f;
  f.file = png, f.width = w, f.height = h;
  return f;
}

bool is_integer(const std::string& s) {
  long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

std::vector<std::string> label_classes(const std::vector<std::string>& labels) {
  std::vector<std::string> c = labels;
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  if (std::all_of(c.begin(), c.end(), is_integer))
    std::sort(c.begin(), c.end(), [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  return c;
}

Figure draw_loss(const std::string& dir, const ReportInput& in, const std::string& gnuplot) {
  // Columns: step, train, val, then each objective term (only when there are several: a single
  // term is the training loss itself).
  std::vector<std::string> terms;
  for (const auto& h : in.history)
    if (h.contains("terms") && h["terms"].is_object() && h["terms"].size() > 1)
      for (const auto& [k, v] : h["terms"].items())
        if (std::find(terms.begin(), terms.end(), k) == terms.end()) terms.push_back(k);
  std::string data;
  double lo = INFINITY, hi = -INFINITY, s_lo = INFINITY, s_hi = -INFINITY;
  bool any_val = false, positive = true;
  int64_t points = 0;
  auto value = [](const nlohmann::json& j, const std::string& key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
  };
  for (const auto& h : in.history) {
    const double step = value(h, "step"), train = value(h, "train_loss");
    if (!std::isfinite(step) || !std::isfinite(train)) continue;
    std::vector<double> row = {train, value(h, "val_loss")};
    for (const auto& t : terms) row.push_back(h.contains("terms") ? value(h["terms"], t) : NAN);
    any_val = any_val || std::isfinite(row[1]);
    data += num(step);
    for (double v : row) {
      data += " " + num(v);
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v), hi = std::max(hi, v), positive = positive && v > 0;
    }
    data += "\n";
    s_lo = std::min(s_lo, step), s_hi = std::max(s_hi, step);
    ++points;
  }
  Figure f;
  if (points == 0) {
    f.note = in.steps == 0 ? "Not drawn: the model was never trained (ae train --steps 0), so it has no loss history."
                           : "Not drawn: the model file holds no training history.";
    return f;
  }
  write_file(dir + "/loss.dat", data);
  const int64_t w = 560, h = 380;
  std::string s = preamble("loss.png", w, h);
  s += "set xlabel 'optimizer step'\nset ylabel " +
       gnuplot_quote(in.variational ? "negative ELBO (" + in.loss + ")" : "loss (" + in.loss + ")") + "\n";
  s += "set key outside top center horizontal noopaque nobox\n";  // above the plot: never over a curve
  s += range_cmd("x", s_lo == s_hi ? std::pair{s_lo - 1, s_hi + 1} : padded_range(s_lo, s_hi, 0.02));
  const bool log_y = positive && hi / lo > 20;
  if (log_y)
    s += "set logscale y\nset format y '%g'\n" + range_cmd("y", {lo / 1.2, hi * 1.2}) +
         log_tics("y", lo / 1.2, hi * 1.2);
  else s += range_cmd("y", padded_range(lo, hi, 0.05));
  const std::string style = points <= 30 ? "linespoints pt 7 ps 0.7" : "lines";
  s += "plot 'loss.dat' using 1:2 with " + style + " lw 2 lc rgb '#1f77b4' title 'training'";
  if (any_val) s += ", '' using 1:3 with " + style + " lw 2 lc rgb '#ff7f0e' title 'validation'";
  for (size_t t = 0; t < terms.size(); ++t)
    s += ", '' using 1:" + std::to_string(4 + t) + " with lines lw 1.5 dt 2 lc rgb '#" +
         k_palette[(2 + t) % k_palette_size] + "' title " + gnuplot_quote("term: " + terms[t]);
  s += "\n";
  f = finish(dir, "loss.png", "loss.gp", s, w, h, gnuplot);
  f.caption = std::to_string(points) + " logged intervals over " + std::to_string(in.steps) + " steps (" +
              std::to_string(in.epochs) + " epochs)" + (any_val ? "" : "; no validation loss was recorded") +
              (log_y ? "; logarithmic loss axis" : "") + ".";
  return f;
}

namespace {

// The 2-D coordinates of every drawn row, and the axis titles.
struct Coordinates {
  std::vector<float> xy;  // [rows, 2]
  std::string x_title, y_title, what;
};

Coordinates code_coordinates(const ReportInput& in) {
  Coordinates c;
  const std::string code = in.variational ? "mean code μ" : "code";
  if (in.code_width == 1) {  // one unit: against the score, which the page is about anyway
    for (int64_t r = 0; r < in.rows; ++r) c.xy.insert(c.xy.end(), {in.codes[size_t(r)], in.scores[size_t(r)]});
    c.x_title = code + " (1 unit)", c.y_title = "anomaly score", c.what = "the one code unit against the anomaly score";
  } else if (in.code_width == 2) {
    c.xy = in.codes;
    c.x_title = code + " unit 0", c.y_title = code + " unit 1", c.what = "the " + code + " itself (2 units)";
  } else {
    const Projection2d p = principal_components_2d(in.codes.data(), in.rows, in.code_width);
    c.xy = p.xy;
    char b[96];
    std::snprintf(b, sizeof b, "principal component 1 (%.1f %% of variance)", 100 * p.explained[0]);
    c.x_title = b;
    std::snprintf(b, sizeof b, "principal component 2 (%.1f %% of variance)", 100 * p.explained[1]);
    c.y_title = b;
    c.what = "the first two principal components of the " + std::to_string(in.code_width) + "-unit " + code;
  }
  return c;
}

}  // namespace

Figure draw_codes(const std::string& dir, const ReportInput& in, const std::string& gnuplot) {
  const Coordinates c = code_coordinates(in);
  const std::vector<std::string> classes = in.labels.empty() ? std::vector<std::string>() : label_classes(in.labels);
  const bool coloured = !classes.empty() && classes.size() <= k_max_coloured_classes;
  std::map<std::string, size_t> class_index;
  for (size_t i = 0; i < classes.size(); ++i) class_index[classes[i]] = i;
  // Many points: small and translucent, so dense regions read darker instead of as one blot.
  const bool many = in.rows > 2000;
  const unsigned alpha = many ? 0x88 : 0x22;  // gnuplot's alpha: 0 opaque, 255 invisible
  // Beyond k_max_scatter_points rows, every stride-th row: more points only overplot the same
  // shapes, and make the PNG (and gnuplot's work) grow with the data. The PCA still uses all rows.
  const int64_t stride = (in.rows + k_max_scatter_points - 1) / k_max_scatter_points;
  std::string data;
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (int64_t r = 0; r < in.rows; r += stride) {  // row order: no class is drawn entirely over another
    const double x = c.xy[size_t(2 * r)], y = c.xy[size_t(2 * r + 1)];
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    const size_t k = coloured ? class_index[in.labels[size_t(r)]] : 0;
    const unsigned rgb = unsigned(std::stoul(k_palette[k % k_palette_size], nullptr, 16));
    data += num(x) + " " + num(y) + " " + std::to_string((alpha << 24) | rgb) + "\n";
    x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
  }
  Figure f;
  if (data.empty()) {
    f.note = "Not drawn: no row has finite codes.";
    return f;
  }
  write_file(dir + "/codes.dat", data);
  const int64_t w = coloured ? 620 : 560, h = 500;  // room for the legend beside the plot
  std::string s = preamble("codes.png", w, h);
  s += "set xlabel " + gnuplot_quote(c.x_title) + "\nset ylabel " + gnuplot_quote(c.y_title) + "\n";
  const auto x_range = padded_range(x_lo, x_hi, 0.03), y_range = padded_range(y_lo, y_hi, 0.03);
  s += range_cmd("x", x_range) + range_cmd("y", y_range) + tics_cmd("x", x_range) + tics_cmd("y", y_range);
  if (coloured) s += "set key outside right top vertical title 'label' box\n";
  s += "plot 'codes.dat' using 1:2:3 with points pt 7 ps " + std::string(many ? "0.45" : "0.8") + " lc rgb variable notitle";
  if (coloured)
    for (size_t k = 0; k < classes.size(); ++k)
      s += ", keyentry with points pt 7 ps 1.5 lc rgb '#" + std::string(k_palette[k % k_palette_size]) + "' title " +
           gnuplot_quote(classes[k] + (classes[k] == in.anomaly_label ? " (anomaly)" : ""));
  s += "\n";
  f = finish(dir, "codes.png", "codes.gp", s, w, h, gnuplot);
  f.caption = "Each point is a row: " + c.what + ".";
  if (stride > 1)
    f.caption += " Every " + std::to_string(stride) + (stride == 2 ? "nd" : stride == 3 ? "rd" : "th") + " row is drawn (" +
                 std::to_string((in.rows + stride - 1) / stride) + " of " + std::to_string(in.rows) + ").";
  if (!in.labels.empty() && !coloured)
    f.caption += " Not coloured: the labels have " + std::to_string(classes.size()) + " distinct values (more than " +
                 std::to_string(k_max_coloured_classes) + ").";
  return f;
}

namespace {

// Counts of the scores in `bins` bins between lo and hi (equal widths, or equal ratios when `log`),
// anomalous rows apart when `split`.
struct Histogram {
  std::vector<double> edges;                // [bins + 1]
  std::vector<int64_t> normal, anomalous;   // [bins]
};

Histogram histogram(const ReportInput& in, double lo, double hi, int64_t bins, bool log, bool split) {
  Histogram h;
  const double a = log ? std::log(lo) : lo, step = ((log ? std::log(hi) : hi) - a) / double(bins);
  for (int64_t b = 0; b <= bins; ++b) h.edges.push_back(log ? std::exp(a + double(b) * step) : a + double(b) * step);
  h.normal.assign(size_t(bins), 0), h.anomalous.assign(size_t(bins), 0);
  for (int64_t r = 0; r < in.rows; ++r) {
    const double v = in.scores[size_t(r)];
    if (!std::isfinite(v) || (log && v <= 0)) continue;
    const int64_t b = std::clamp<int64_t>(int64_t(((log ? std::log(v) : v) - a) / step), 0, bins - 1);
    (split && in.labels[size_t(r)] == in.anomaly_label ? h.anomalous : h.normal)[size_t(b)]++;
  }
  return h;
}

}  // namespace

Figure draw_scores(const std::string& dir, const ReportInput& in, int64_t above, const std::string& gnuplot) {
  const bool split = !in.anomaly_label.empty() && !in.labels.empty();
  double lo = INFINITY, hi = -INFINITY;
  for (float v : in.scores)
    if (std::isfinite(v)) lo = std::min(lo, double(v)), hi = std::max(hi, double(v));
  Figure f;
  if (!(lo <= hi)) {
    f.note = "Not drawn: no row has a finite score.";
    return f;
  }
  if (std::isfinite(in.threshold)) lo = std::min(lo, in.threshold), hi = std::max(hi, in.threshold);
  // Reconstruction errors are skewed (roughly log-normal): over more than a factor of 20, equal
  // ratios per bin show the bulk and the tail where the anomalies are; equal widths squeeze the
  // bulk into a few bins at the left.
  const bool log_x = lo > 0 && hi / lo > 20;
  if (!log_x) std::tie(lo, hi) = padded_range(lo, hi, 0.0);
  const int64_t bins = std::clamp<int64_t>(int64_t(std::sqrt(double(in.rows)) * 1.5), 10, 80);
  const Histogram hist = histogram(in, lo, hi, bins, log_x, split);
  std::string data;
  int64_t top = 1;
  for (size_t b = 0; b < size_t(bins); ++b) {  // centre, counts, width: each box spans its bin's edges
    data += num((hist.edges[b] + hist.edges[b + 1]) / 2) + " " + std::to_string(hist.normal[b]) + " " +
            std::to_string(hist.anomalous[b]) + " " + num(hist.edges[b + 1] - hist.edges[b]) + "\n";
    top = std::max({top, hist.normal[b], hist.anomalous[b]});
  }
  write_file(dir + "/scores.dat", data);
  const int64_t w = 560, h = 380;
  std::string s = preamble("scores.png", w, h);
  s += "set xlabel " + gnuplot_quote("anomaly score (" + in.score_what + ")") + "\nset ylabel 'rows'\nset format x '%g'\n";
  if (log_x) s += "set logscale x\n" + log_tics("x", lo, hi) + range_cmd("x", {lo / 1.05, hi * 1.05});
  else s += range_cmd("x", padded_range(lo, hi, 0.02));
  s += range_cmd("y", {0, double(top) * 1.12}) + "set style fill transparent solid 0.6 noborder\n";
  s += "set arrow 1 from " + num(in.threshold) + ", graph 0 to " + num(in.threshold) +
       ", graph 1 nohead lw 2 dt 2 lc rgb '#222222' back\n";
  s += "plot 'scores.dat' using 1:2:4 with boxes lc rgb '#1f77b4' title " +
       gnuplot_quote(split ? "other labels" : "all rows");
  if (split)
    s += ", '' using 1:3:4 with boxes lc rgb '#d62728' title " +
         gnuplot_quote("label " + in.anomaly_label + " (anomaly)");
  s += ", keyentry with lines lw 2 dt 2 lc rgb '#222222' title " +
       gnuplot_quote("threshold " + short_num(in.threshold)) + "\n";
  f = finish(dir, "scores.png", "scores.gp", s, w, h, gnuplot);
  char b[200];
  std::snprintf(b, sizeof b, "%lld rows in %lld bins%s; %lld rows (%.2f %%) score above the threshold %s",
                (long long)in.rows, (long long)bins, log_x ? " of equal ratio (logarithmic score axis)" : "",
                (long long)above, 100.0 * double(above) / double(std::max<int64_t>(1, in.rows)),
                short_num(in.threshold).c_str());
  f.caption = std::string(b) + " (" + in.threshold_source + ").";
  return f;
}

}  // namespace ae::report
