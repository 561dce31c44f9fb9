// `ae report`: one HTML page with PNG figures beside it, describing a trained model on a data
// set — loss curves, reconstructions, the codes in 2-D, the anomaly scores, the top anomalies
// and, with labels, a table per class. The command (host/cli/report.cpp) computes what the page
// shows; this part draws it: plots through gnuplot (plot.h), image grids through libpng
// (host/data/png.h), and the page itself.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ae {
class Backend;
}  // namespace ae

namespace ae::report {

// Everything the page shows, in the data's own units (not normalised).
struct ReportInput {
  // The header.
  std::string model_path, data_path, labels_path;
  std::string spec, loss;              // compact spec; the training loss's name
  int64_t parameters = 0, code_width = 0, input_width = 0;
  int64_t steps = 0, epochs = 0;       // what the model was trained for
  bool variational = false;            // codes are a VAE's means μ
  nlohmann::json history = nlohmann::json::array();  // Model::history, one object per logged interval
  // The rows: inputs, reconstructions, codes, scores, labels (empty: none given).
  int64_t rows = 0;
  std::vector<float> x, reconstruction;  // [rows, input_width]
  std::vector<float> codes;              // [rows, code_width]
  std::vector<float> scores;             // [rows]: what `ae score` writes
  std::string score_what;                // what a score is, e.g. "mse loss per feature"
  double threshold = 0;
  std::string threshold_source;          // e.g. "fitted in training (contamination 0.05)"
  std::vector<std::string> labels;       // [rows] or empty
  std::string anomaly_label;             // the anomaly class (empty: none)
  double mse = 0;                        // reconstruction MSE per element, data units
  // Image drawing: a shape when the rows are images, else why they are not.
  std::optional<std::pair<int64_t, int64_t>> image_shape;
  std::string no_images_reason;
};

// Names of every file the report writes into its directory. Any of them a report does not draw
// (no history, no images) is removed, so a directory never mixes two reports' figures.
const std::vector<std::string>& report_file_names();

// Writes `dir`/index.html and its figures. Everything is made in a scratch directory inside
// `dir` first; then index.html is removed, the figures renamed into place, and index.html renamed
// last: a report that failed or was killed midway has no index.html, never a page that looks
// complete. Other files in `dir` are left alone. The top rows and the rows above the threshold are
// ranked and counted on `backend` as `ae score` does (runtime/latent.h: NaN first, NaN above).
// `gnuplot` is find_gnuplot()'s answer; `progress(what)` is told each step as it starts.
void write_report(const std::string& dir, const ReportInput& in, Backend& backend, const std::string& gnuplot,
                  const std::function<void(const std::string&)>& progress = nullptr);

// Removes scratch directories (`.tmp-report-<pid>-…`) that a killed `ae report` left in `dir`.
void remove_stale_report_scratch(const std::string& dir);

// Text made safe inside HTML (&, <, >, ", ').
std::string html_escape(const std::string& text);

}  // namespace ae::report
