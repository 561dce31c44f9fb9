// `ae report`'s page: the scratch directory, the image grids, the HTML, and putting them in place.
// See report.h.
#include "host/report/report.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>

#include "host/data/png.h"
#include "host/metrics.h"
#include "host/report/figures.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/latent.h"

namespace ae::report {

namespace fs = std::filesystem;

namespace {

const std::string k_scratch_prefix = ".tmp-report-";

// The scratch directory `dir/.tmp-report-<pid>-XXXXXX`, removed with everything in it when this
// goes out of scope: a failed report leaves nothing of itself behind.
class Scratch {
 public:
  explicit Scratch(const std::string& dir) {
    std::string templ = dir + "/" + k_scratch_prefix + std::to_string(::getpid()) + "-XXXXXX";
    if (!::mkdtemp(templ.data())) AE_FAIL("--out ", dir, ": cannot create a directory in it: ", std::strerror(errno));
    m_path = templ;
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  const std::string& path() const { return m_path; }

 private:
  std::string m_path;
};

// Flushes a finished file to disk before it is renamed into place (gnuplot does not fsync).
void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) AE_FAIL("report: cannot open ", path, ": ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) AE_FAIL("report: cannot write ", path, ": ", std::strerror(err));
}

std::string fmt(const char* format, double v) {
  char b[64];
  std::snprintf(b, sizeof b, format, v);
  return b;
}

// Rows `rows` of the input each beside its reconstruction, `per_line` pairs to a grid line.
Figure draw_pairs(const std::string& dir, const std::string& png, const ReportInput& in, const std::vector<int64_t>& rows,
                  int64_t per_line) {
  const auto [h, w] = *in.image_shape;
  const int64_t width = in.input_width;
  std::vector<float> pairs;
  pairs.reserve(rows.size() * size_t(2 * width));
  for (int64_t r : rows)
    for (const std::vector<float>* m : {&in.x, &in.reconstruction})
      pairs.insert(pairs.end(), m->begin() + r * width, m->begin() + (r + 1) * width);
  const int64_t n = 2 * int64_t(rows.size());
  ImageGridOptions g = image_grid_options(pairs.data(), n, {h, w});
  g.cols = std::min<int64_t>(2 * per_line, n);
  write_image_grid_png(dir + "/" + png, pairs.data(), n, width, g);
  Figure f;
  f.file = png;
  f.width = g.cols * (w * g.zoom + g.pad) + g.pad;
  f.height = (n + g.cols - 1) / g.cols * (h * g.zoom + g.pad) + g.pad;
  return f;
}

}  // namespace

const std::vector<std::string>& report_file_names() {
  static const std::vector<std::string> names = {"index.html", "loss.png", "reconstructions.png", "codes.png", "scores.png",
                                                 "top-anomalies.png"};
  return names;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

void remove_stale_report_scratch(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(k_scratch_prefix, 0) != 0) continue;
    const long pid = std::strtol(name.c_str() + k_scratch_prefix.size(), nullptr, 10);
    // Only a scratch directory whose process is gone: another `ae report` may be writing now.
    if (pid > 0 && ::kill(pid_t(pid), 0) != 0 && errno == ESRCH) fs::remove_all(e.path(), ec);
  }
}

namespace {

// Escaped text with each command-line flag ("--image-shape") in <code>, which the page keeps on one
// line: a browser would otherwise break "--image-shape" after its dashes.
std::string prose_html(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "--") == 0 && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '(')) {
      size_t j = i + 2;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '-')) ++j;
      out += "<code>" + html_escape(text.substr(i, j - i)) + "</code>";
      i = j;
    } else {
      out += html_escape(std::string(1, text[i++]));
    }
  }
  return out;
}

// The page's parts, each a self-contained piece of HTML.
std::string figure_html(const std::string& id, const std::string& title, const Figure& f, const std::string& extra = "") {
  std::string s = "<section id=\"" + id + "\"><h2>" + html_escape(title) + "</h2>\n";
  if (f.file.empty()) {
    s += "<p class=\"note\">" + prose_html(f.note) + "</p>\n";
  } else {
    // A fixed-size frame: the box keeps its place and size even when the picture is missing, so
    // a broken figure shows as an empty frame (and tests can find every frame in a screenshot).
    const std::string w = std::to_string(f.width), h = std::to_string(f.height);
    s += "<figure><div class=\"frame\" style=\"width:" + w + "px;height:" + h + "px\"><img src=\"" + html_escape(f.file) +
         "\" width=\"" + w + "\" height=\"" + h + "\" alt=\"" + html_escape(title) + "\"></div>\n";
    if (!f.caption.empty()) s += "<figcaption>" + prose_html(f.caption) + "</figcaption>";
    s += "</figure>\n";
  }
  return s + extra + "</section>\n";
}

std::string summary_html(const ReportInput& in) {
  auto item = [](const std::string& k, const std::string& v) {
    return "<dt>" + html_escape(k) + "</dt><dd>" + html_escape(v) + "</dd>\n";
  };
  std::string s = "<dl class=\"summary\">\n";
  s += item("model", in.model_path);
  s += item("spec", in.spec);
  s += item("parameters", std::to_string(in.parameters));
  s += item("code width",
            std::to_string(in.code_width) + (in.variational ? " (variational: the page shows the mean codes μ)" : ""));
  s += item("training", in.loss + " loss, " + std::to_string(in.steps) + " steps, " + std::to_string(in.epochs) + " epochs");
  s += item("data", in.data_path);
  s += item("rows", std::to_string(in.rows) + " × " + std::to_string(in.input_width) + " features");
  if (!in.labels_path.empty()) s += item("labels", in.labels_path);
  s += item("reconstruction MSE", fmt("%.6g", in.mse) + " per element, in the data's units");
  const double mean = std::accumulate(in.scores.begin(), in.scores.end(), 0.0) / double(std::max<int64_t>(1, in.rows));
  s += item("anomaly score", in.score_what + "; mean " + fmt("%.6g", mean));
  s += item("threshold", fmt("%.6g", in.threshold) + " (" + in.threshold_source + ")");
  return s + "</dl>\n";
}

// Per class: rows, mean score, share above the threshold; then AUROC and average precision of
// the anomaly class against the rest.
std::string class_table_html(const ReportInput& in, Backend& backend) {
  std::string s = "<section id=\"classes\"><h2>By label</h2>\n<table>\n<tr><th>label</th><th>rows</th><th>mean score</th>"
                  "<th>above threshold</th></tr>\n";
  auto row = [&](const std::string& name, const std::function<bool(size_t)>& in_class, bool strong) {
    std::vector<float> scores;  // the class's
    double sum = 0;
    for (size_t r = 0; r < in.scores.size(); ++r)
      if (in_class(r)) scores.push_back(in.scores[r]), sum += in.scores[r];
    const int64_t n = int64_t(scores.size());
    const int64_t above = count_above(backend, scores.data(), n, float_threshold(in.threshold));
    const std::string cls = strong ? " class=\"anomaly\"" : "";
    s += "<tr" + cls + "><td>" + html_escape(name) + "</td><td>" + std::to_string(n) + "</td><td>" +
         fmt("%.5g", sum / double(std::max<int64_t>(1, n))) + "</td><td>" +
         fmt("%.2f %%", 100.0 * double(above) / double(std::max<int64_t>(1, n))) + "</td></tr>\n";
  };
  for (const auto& c : label_classes(in.labels))
    row(c + (c == in.anomaly_label ? " (anomaly)" : ""), [&](size_t r) { return in.labels[r] == c; }, c == in.anomaly_label);
  row("all", [](size_t) { return true; }, false);
  s += "</table>\n";
  if (in.anomaly_label.empty())
    s += "<p class=\"metrics\">Give <code>--anomaly-label V</code> to measure how well the score ranks label V above the "
         "rest (AUROC, average precision).</p>\n";
  if (!in.anomaly_label.empty()) {
    std::vector<int32_t> y(in.labels.size());
    for (size_t r = 0; r < y.size(); ++r) y[r] = in.labels[r] == in.anomaly_label;
    const int64_t pos = std::accumulate(y.begin(), y.end(), int64_t(0));
    s += "<p class=\"metrics\">Label " + html_escape(in.anomaly_label) + " as the anomaly (" + std::to_string(pos) + " of " +
         std::to_string(y.size()) + " rows): ";
    if (pos == 0 || pos == int64_t(y.size())) s += "AUROC and average precision are undefined with one class only.</p>\n";
    else
      s += "<b>AUROC " + fmt("%.4f", auroc(in.scores, y)) + "</b>, <b>average precision " +
           fmt("%.4f", average_precision(in.scores, y)) +
           "</b> (the score ranking the anomaly class above the rest).</p>\n";
  }
  return s + "</section>\n";
}

std::string top_list_html(const ReportInput& in, const std::vector<int64_t>& top) {
  std::string s = "<ol class=\"top\">\n";
  for (int64_t r : top) {
    s += "<li>row " + std::to_string(r) + " · score " + fmt("%.5g", in.scores[size_t(r)]);
    if (!in.labels.empty()) s += " · label " + html_escape(in.labels[size_t(r)]);
    s += "</li>\n";
  }
  return s + "</ol>\n";
}

const char* const k_css = R"(
body { font-family: 'DejaVu Sans', 'Helvetica Neue', Arial, sans-serif; color: #1f2328; background: #f6f8fa;
       margin: 0; padding: 24px 28px; }
h1 { font-size: 22px; margin: 0 0 14px; font-weight: 600; }
h2 { font-size: 16px; margin: 0 0 10px; font-weight: 600; }
.row { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; margin-bottom: 20px; }
section { background: #ffffff; border: 1px solid #d8dee4; border-radius: 6px; padding: 14px 16px; }
figure { margin: 0; }
.frame { border: 2px solid #c8ced6; line-height: 0; background: #ffffff; box-sizing: content-box; }
.frame img { display: block; }
figcaption, .note { font-size: 13px; color: #57606a; max-width: 520px; margin: 8px 0 0; line-height: 1.4; }
code { font-family: 'DejaVu Sans Mono', monospace; font-size: 0.92em; white-space: nowrap; }
#summary { max-width: 700px; }
.summary { display: grid; grid-template-columns: max-content auto; gap: 3px 18px; margin: 0; font-size: 14px; }
.summary dt { color: #57606a; } .summary dd { margin: 0; font-family: 'DejaVu Sans Mono', monospace; font-size: 13px; max-width: 560px; overflow-wrap: anywhere; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 4px 12px; text-align: right; border-bottom: 1px solid #eaeef2; }
th:first-child, td:first-child { text-align: left; }
tr.anomaly td { color: #b42318; font-weight: 600; }
tr:last-child td { border-top: 1px solid #8c959f; font-weight: 600; }
.metrics { font-size: 14px; max-width: 460px; line-height: 1.45; }
ol.top { columns: 2; column-gap: 24px; width: 500px; font-size: 12.5px; color: #424a53; margin: 10px 0 0; padding-left: 26px; }
)";

std::string page_html(const ReportInput& in, Backend& backend, const Figure& loss, const Figure& pairs, const Figure& codes,
                      const Figure& scores, const Figure& top, const std::vector<int64_t>& top_rows) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>ae report: " +
                  html_escape(in.model_path) + "</title>\n<style>" + k_css + "</style>\n</head>\n<body>\n";
  s += "<h1>ae report: " + html_escape(in.model_path) + " on " + html_escape(in.data_path) + "</h1>\n";
  s += "<div class=\"row\"><section id=\"summary\"><h2>Model and data</h2>\n" + summary_html(in) + "</section>\n";
  if (!in.labels.empty()) s += class_table_html(in, backend);
  s += "</div>\n<div class=\"row\">\n" + figure_html("loss", "Training loss", loss) +
       figure_html("scores", "Anomaly scores", scores) + "</div>\n";
  s += "<div class=\"row\">\n" + figure_html("codes", "Codes in 2-D", codes) +
       figure_html("top", "Top anomalies", top, top.file.empty() ? "" : top_list_html(in, top_rows)) + "</div>\n";
  s += "<div class=\"row\">\n" + figure_html("reconstructions", "Reconstructions", pairs) + "</div>\n";
  return s + "</body>\n</html>\n";
}

// Scratch → dir. index.html goes first and comes back last, so between the two there is no page
// that could show a mix of old and new figures.
void publish(const std::string& scratch, const std::string& dir, const std::vector<std::string>& drawn) {
  auto remove = [&](const std::string& name) {
    if (::unlink((dir + "/" + name).c_str()) != 0 && errno != ENOENT)
      AE_FAIL("--out ", dir, ": cannot replace ", name, ": ", std::strerror(errno));
  };
  remove("index.html");
  for (const auto& name : report_file_names()) {
    if (name == "index.html") continue;
    if (std::find(drawn.begin(), drawn.end(), name) == drawn.end()) {
      remove(name);  // a figure of an earlier report that this one does not draw
      continue;
    }
    sync_file(scratch + "/" + name);
    if (::rename((scratch + "/" + name).c_str(), (dir + "/" + name).c_str()) != 0)
      AE_FAIL("--out ", dir, ": cannot write ", name, ": ", std::strerror(errno));
  }
  if (::rename((scratch + "/index.html").c_str(), (dir + "/index.html").c_str()) != 0)
    AE_FAIL("--out ", dir, ": cannot write index.html: ", std::strerror(errno));
  if (const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void write_report(const std::string& dir, const ReportInput& in, Backend& backend, const std::string& gnuplot,
                  const std::function<void(const std::string&)>& progress) {
  auto step = [&](const std::string& what) {
    if (progress) progress(what);
  };
  remove_stale_report_scratch(dir);
  Scratch scratch(dir);
  const std::string& tmp = scratch.path();
  step("loss curves");
  const Figure loss = draw_loss(tmp, in, gnuplot);
  step("score histogram");
  // Ranked and counted as `ae score` ranks and counts (NaN first, NaN above the threshold).
  const int64_t above = count_above(backend, in.scores.data(), in.rows, float_threshold(in.threshold));
  const std::vector<int64_t> top_idx = top_k(backend, in.scores.data(), in.rows, std::min<int64_t>(16, in.rows));
  const Figure scores = draw_scores(tmp, in, above, gnuplot);
  step("codes in 2-D");
  const Figure codes = draw_codes(tmp, in, gnuplot);
  step("image grids");
  Figure pairs, top;
  if (in.image_shape) {
    std::vector<int64_t> first(size_t(std::min<int64_t>(32, in.rows)));
    std::iota(first.begin(), first.end(), int64_t(0));
    pairs = draw_pairs(tmp, "reconstructions.png", in, first, 8);
    pairs.caption = "The first " + std::to_string(first.size()) +
                    " rows, each beside its reconstruction (left: input, right: output).";
    top = draw_pairs(tmp, "top-anomalies.png", in, top_idx, 4);
    top.caption = "The " + std::to_string(top_idx.size()) +
                  " highest-scoring rows, each beside its reconstruction, highest first, read left to right.";
  } else {
    pairs.note = top.note = "Not drawn: " + in.no_images_reason;
  }
  step("page");
  {
    AtomicFile html(tmp + "/index.html");
    html.write(page_html(in, backend, loss, pairs, codes, scores, top, top_idx));
    html.commit();
  }
  std::vector<std::string> drawn;
  for (const Figure* f : {&loss, static_cast<const Figure*>(&pairs), &codes, &scores, static_cast<const Figure*>(&top)})
    if (!f->file.empty()) drawn.push_back(f->file);
  publish(tmp, dir, drawn);
}

}  // namespace ae::report
