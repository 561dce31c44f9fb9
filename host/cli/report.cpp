// `ae report`: an HTML page with figures about a trained model on a data set (host/report/).
// This part reads and checks the inputs — every bad flag fails here, before any work or output —
// and computes what the page shows: scores as `ae score` computes them, codes, reconstructions.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "host/cli/cli.h"
#include "host/cli/score.h"
#include "host/data/png.h"
#include "host/progress.h"
#include "host/report/plot.h"
#include "host/report/report.h"
#include "kernels/common/error.h"
#include "runtime/infer.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {

namespace fs = std::filesystem;

struct ReportArgs {
  std::string model, data, labels, anomaly_label, out, device = "cpu";
  int64_t batch = 1024, max_rows = -1;
  int threads = 0;
  bool quiet = false;
  DataArgs data_args;
};

// --out is a directory: made when missing (its parent must exist), refused when it is a file.
// Returns whether it exists already.
bool check_out_dir(const std::string& out) {
  if (out.empty()) AE_FAIL("--out: empty path; give a directory for the report");
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) AE_FAIL("--out ", out, ": is a file, not a directory; give a directory for the report");
    if (::access(out.c_str(), W_OK | X_OK) != 0) AE_FAIL("--out ", out, ": cannot write in it: ", std::strerror(errno));
    return true;
  }
  fs::path dir = fs::path(out);
  if (dir.filename().empty()) dir = dir.parent_path();  // "report/": the parent of "report"
  fs::path parent = dir.parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::is_directory(parent, ec))
    AE_FAIL("--out ", out, ": directory ", parent.string(), ec ? ": " + ec.message() : std::string(" does not exist"));
  if (::access(parent.c_str(), W_OK | X_OK) != 0)
    AE_FAIL("--out ", out, ": cannot create it in ", parent.string(), ": ", std::strerror(errno));
  return false;
}

// The rows' labels as text: --labels FILE (integers) or the CSV's --label-column.
std::vector<std::string> read_labels(const ReportArgs& a, const Dataset& in) {
  std::vector<std::string> out;
  if (!a.labels.empty()) {
    for (int32_t v : load_row_labels(a.labels, "--labels", a.max_rows, in.x.rows, "--data", a.data)) out.push_back(std::to_string(v));
  } else {
    out = in.labels;
  }
  if (!a.anomaly_label.empty()) {
    if (out.empty()) AE_FAIL("--anomaly-label needs labels: --labels FILE or --label-column NAME");
    if (std::find(out.begin(), out.end(), a.anomaly_label) == out.end())
      AE_FAIL("--anomaly-label ", a.anomaly_label, ": no row of ", a.labels.empty() ? a.data : a.labels, " has this label");
  }
  return out;
}

// The shape the rows are drawn as in the report's grids: --image-shape HxW, else the rows' own image
// shape with its channels one above another ((C·H) × W), else a square; nullopt (with the reason in
// `why`) when the rows are not images and no --image-shape says they are, or when their image
// shape makes a grid too large to draw (an HxW given for the drawing is refused instead).
std::optional<std::pair<int64_t, int64_t>> image_shape(const ReportArgs& a, const Matrix& x, std::string& why) {
  const int64_t width = x.cols, rows = x.rows;
  const std::string& flag = a.data_args.image_shape;
  std::optional<std::pair<int64_t, int64_t>> shape;
  if (is_grid_shape(flag)) shape = image_shape_for(width, flag, "--image-shape");
  else if (x.image_shape.size() == 3) shape = {x.image_shape[0] * x.image_shape[1], x.image_shape[2]};
  // Unasked, only squares of 8×8 and more are taken for images: 9 or 16 columns of a table are
  // far more likely features than a 3×3 or 4×4 picture.
  else if (width >= 64) shape = default_image_shape(width);
  if (!shape) {
    why = std::to_string(width) +
          " features are not taken for a square image (8×8 or more); give --image-shape HxW to draw "
          "the rows as images.";
    return shape;
  }
  ImageGridOptions g;
  g.height = shape->first, g.width = shape->second, g.cols = std::min<int64_t>(16, 2 * rows);
  g.zoom = shape->first * shape->second <= 32 * 32 ? 2 : 1;
  try {
    check_image_grid(a.out + "/reconstructions.png", 2 * std::min<int64_t>(32, rows), width, g);
  } catch (const Error& e) {
    if (is_grid_shape(flag)) AE_FAIL("--image-shape ", flag, ": ", e.what());
    why = "the rows' " + chw_text(x.image_shape) + " images are too large for a grid (" + e.what() + ").";
    return std::nullopt;
  }
  return shape;
}

// Scores, codes and reconstructions of every row, in the data's units; the MSE per element.
void compute(const Model& model, Backend& backend, const ReportArgs& a, report::ReportInput& r, Progress& bar) {
  Matrix x{r.rows, r.input_width, r.x, {}};
  model.norm.apply(x.data.data(), x.rows, x.cols);
  CompiledModel compiled(model, backend);
  bar.update(0, "scores");
  r.scores = anomaly_scores(compiled, x, a.batch);
  bar.update(1, "codes");
  r.codes.resize(size_t(r.rows * r.code_width));
  run_forward(compiled, GraphMode::encode, x.data.data(), x.rows, r.codes.data(), a.batch);  // a VAE's: μ
  bar.update(2, "reconstructions");
  r.reconstruction.resize(x.data.size());
  run_forward(compiled, GraphMode::reconstruct, x.data.data(), x.rows, r.reconstruction.data(), a.batch);
  model.norm.invert(r.reconstruction.data(), r.rows, r.input_width);
  r.mse = mse_per_element(r.reconstruction.data(), r.x.data(), r.x.size());
}

void run_report(const ReportArgs& a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  check_row_limit(a.max_rows, "--max-rows");
  const bool existed = check_out_dir(a.out);
  if (!a.anomaly_label.empty() && a.labels.empty() && a.data_args.label_column.empty())
    AE_FAIL("--anomaly-label needs labels: --labels FILE or --label-column NAME");
  const std::string gnuplot = report::find_gnuplot();
  Model model = Model::load(a.model);
  auto backend = make_backend(a.device);
  Dataset in = load_model_data(model, a.model, a.data, "--data", a.max_rows, a.data_args);
  report::ReportInput r;
  r.labels = read_labels(a, in);
  r.image_shape = image_shape(a, in.x, r.no_images_reason);
  r.model_path = a.model, r.data_path = a.data, r.labels_path = a.labels;
  r.spec = model.spec.to_compact(), r.loss = loss_name(model.loss);
  r.parameters = model.spec.parameter_count(), r.code_width = model.spec.code_units(), r.input_width = model.spec.input;
  r.steps = model.step, r.epochs = model.epoch, r.variational = model.spec.variational();
  r.history = model.history;
  r.rows = in.x.rows;
  r.x = std::move(in.x.data);
  r.anomaly_label = a.anomaly_label;
  r.score_what = score_description(model);

  Progress bar("report", 8, !a.quiet);
  compute(model, *backend, a, r, bar);
  if (const StoredThreshold st = stored_threshold(model); !std::isnan(st.value)) {
    r.threshold = st.value, r.threshold_source = st.source;
  } else {
    r.threshold = quantile(r.scores, 0.99),
    r.threshold_source = "the 0.99 quantile of these scores: the model stores no threshold";
  }
  // Made only now that every input has been read and checked: a refused run creates nothing.
  if (!existed && ::mkdir(a.out.c_str(), 0777) != 0) AE_FAIL("--out ", a.out, ": cannot create it: ", std::strerror(errno));
  try {
    int64_t done = 3;
    report::write_report(a.out, r, *backend, gnuplot, [&](const std::string& what) { bar.update(done++, what); });
  } catch (...) {
    if (!existed) ::rmdir(a.out.c_str());  // only when empty: the report's scratch is gone by now
    throw;
  }
  bar.finish();
  std::printf("report written to %s (%lld rows of %s)\n", (fs::path(a.out) / "index.html").c_str(), (long long)r.rows,
              a.data.c_str());
}

}  // namespace

void add_report(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  auto* s = app.add_subcommand("report",
                               "An HTML page with figures about a model on a data set: loss curves, reconstructions, "
                               "codes in 2-D, anomaly scores, top anomalies, per-label figures");
  s->add_option("--model", a->model, "Model file (safetensors)")->required();
  s->add_option("--data", a->data, "Data: IDX, NPY or CSV")->required();
  s->add_option("--out", a->out,
                "Directory for index.html and its PNG figures; made when missing. An existing one keeps its other files: "
                "the report replaces only index.html and its own figures")
      ->required();
  add_data_options(*s, a->data_args, ImageShapeFlag::data_or_grid);
  s->add_option("--labels", a->labels,
                "One integer label per row (CSV, NPY or IDX), e.g. a class: codes coloured by it, a table per label");
  s->add_option("--anomaly-label", a->anomaly_label,
                "The label of the anomaly class: AUROC and average precision against the rest");
  s->add_option("--max-rows", a->max_rows, "Only the first N rows");
  add_run_options(*s, a->batch, a->threads, a->device, a->quiet);
  s->callback([a] { run_report(*a); });
}

}  // namespace ae::cli
