// `ae score`: one anomaly score per row (the model's reconstruction loss, averaged over the
// features; a VAE's negative ELBO), a 0/1 flag when a threshold applies, and AUROC / average
// precision against labels.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <numeric>

#include "host/cli/cli.h"
#include "host/cli/score.h"
#include "host/metrics.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/infer.h"
#include "runtime/latent.h"
#include "runtime/trainer.h"

namespace ae::cli {

namespace {

constexpr int64_t NOT_GIVEN = std::numeric_limits<int64_t>::min();

struct ScoreArgs {
  std::string model, data, out, labels, anomaly_label, per_feature, device = "cpu", precision = "fp32";
  int64_t top = 0, batch = 1024, max_rows = -1;
  int64_t iw = NOT_GIVEN;  // VAE: the importance-weighted bound with K samples instead of the negative ELBO
  double contamination = NAN, threshold = NAN;
  int threads = 0;
  bool quiet = false;
  DataArgs data_args;
};

// 0/1 labels for the scored rows: from --labels FILE, or the CSV's --label-column; with
// --anomaly-label V, label == V is 1 and anything else 0, else the labels must already be 0/1.
std::vector<int32_t> read_labels(const ScoreArgs& a, const Dataset& in) {
  std::vector<int32_t> out;
  if (!a.labels.empty()) {
    if (!a.anomaly_label.empty()) {
      auto raw = load_labels(a.labels, "", a.max_rows);
      int32_t v = 0;
      auto [end, ec] = std::from_chars(a.anomaly_label.data(), a.anomaly_label.data() + a.anomaly_label.size(), v);
      if (ec != std::errc() || end != a.anomaly_label.data() + a.anomaly_label.size())
        AE_FAIL("--anomaly-label ", a.anomaly_label, ": --labels ", a.labels, " holds integers; give an integer");
      for (int32_t r : raw) out.push_back(r == v);
    } else {
      out = load_labels(a.labels, "", a.max_rows);
    }
  } else if (!in.labels.empty()) {
    for (const auto& s : in.labels) {
      if (!a.anomaly_label.empty()) out.push_back(s == a.anomaly_label);
      else if (s == "0" || s == "1") out.push_back(s == "1");
      else
        AE_FAIL("--data ", a.data, ": --label-column holds ", quote_bytes(s, 40, '\''),
                ", not 0/1; give --anomaly-label VALUE to say which label is the anomaly");
    }
  } else {
    return out;
  }
  if (int64_t(out.size()) != in.x.rows) AE_FAIL("--labels ", a.labels, ": ", out.size(), " labels for ", in.x.rows, " rows of ", a.data);
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i] != 0 && out[i] != 1)
      AE_FAIL("--labels ", a.labels, ": row ", i, " has label ", out[i], "; labels must be 0 (normal) or 1 (anomaly), or give --anomaly-label");
  return out;
}

void run_score(const ScoreArgs& a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  if (!std::isnan(a.contamination) && !std::isnan(a.threshold)) AE_FAIL("give --contamination or --threshold, not both");
  if (!std::isnan(a.contamination) && !(a.contamination > 0 && a.contamination < 1)) AE_FAIL("--contamination must be in (0, 1)");
  if (a.top < 0) AE_FAIL("--top must be ≥ 0");
  if (a.iw != NOT_GIVEN && a.iw < 1) AE_FAIL("--iw ", a.iw, ": the importance-weighted bound needs K ≥ 1 samples, e.g. --iw 100");
  check_output_path(a.out, "--out", {".csv", ".tsv"});
  if (!a.per_feature.empty()) check_output_path(a.per_feature, "--per-feature", {".npy", ".csv", ".tsv"});
  check_distinct({{"--out", a.out}, {"--per-feature", a.per_feature}, {"--model", a.model}, {"--data", a.data}, {"--labels", a.labels}});
  check_row_limit(a.max_rows, "--max-rows");
  if (!a.anomaly_label.empty() && a.labels.empty() && a.data_args.label_column.empty())
    AE_FAIL("--anomaly-label needs labels: --labels FILE or --label-column NAME");
  Model model = Model::load(a.model);
  model.precision = parse_precision(a.precision);
  if (a.iw >= 1 && !model.spec.variational())
    AE_FAIL("--iw ", a.iw, ": the importance-weighted bound needs a VAE, but ", a.model, " (", model.spec.to_compact(),
            ") has no variational code layer");
  auto backend = make_backend(a.device);
  check_precision(*backend, model.precision);
  Dataset in = load_data(a.data, a.max_rows, "--data", a.data_args);
  check_image_shape(in.x, model.spec.input_shape, "--data " + a.data, "the input of " + a.model);
  if (in.x.cols != model.spec.input)
    AE_FAIL("--data ", a.data, ": rows have ", in.x.cols, " features but the model's input is ", model.spec.input, " (", a.model, ")");
  std::vector<int32_t> labels = read_labels(a, in);
  model.norm.apply(in.x.data.data(), in.x.rows, in.x.cols);

  // One compiled model for the scores and the per-feature reconstruction: the parameters go to
  // the device once, and each plan is built once and run batch after batch.
  CompiledModel compiled(model, *backend);
  std::vector<float> scores;
  if (a.iw >= 1) {
    Progress bar("score --iw " + std::to_string(a.iw), in.x.rows, !a.quiet);
    scores = anomaly_scores(compiled, in.x, a.batch, a.iw, [&](int64_t done) { bar.update(done, ""); });
    bar.finish();
  } else {
    scores = anomaly_scores(compiled, in.x, a.batch);
  }
  // Which threshold flags rows: given, or this data's quantile, or the one fitted in training.
  double thr = NAN;
  std::string thr_source;
  if (!std::isnan(a.threshold)) {
    thr = a.threshold, thr_source = "given";
  } else if (!std::isnan(a.contamination)) {
    thr = quantile(scores, 1.0 - a.contamination), thr_source = "the " + std::to_string(1.0 - a.contamination) + " quantile of these scores";
  } else if (!model.threshold.is_null() && a.iw >= 1) {
    // The stored threshold is a quantile of training scores of the one-sample negative ELBO, a
    // looser quantity than the bound: comparing the two would flag almost nothing.
    thr_source = "none: the model's threshold was fitted on negative ELBOs, not on --iw bounds; give --threshold or --contamination";
  } else if (const StoredThreshold st = stored_threshold(model); !std::isnan(st.value)) {
    thr = st.value, thr_source = st.source;
  }
  const bool flag = !std::isnan(thr);
  // The flag is score > thr in double, NaN flagged (runtime/latent.h's count_above): a float score
  // exceeds thr exactly when it exceeds thr rounded down to a float, so the count taken in float on
  // the backend agrees with the CSV's flags.
  const float thr_f = float_threshold(thr);
  auto flagged_row = [&](float s) { return !(double(s) <= thr); };

  if (!a.per_feature.empty()) {
    std::vector<float> rec(size_t(in.x.rows * in.x.cols));
    run_forward(compiled, GraphMode::reconstruct, in.x.data.data(), in.x.rows, rec.data(), a.batch);
    for (size_t i = 0; i < rec.size(); ++i)
      rec[i] = model.loss == Loss::mse ? mse_term(rec[i], in.x.data[i]) : bce_term(rec[i], in.x.data[i]);
    save_matrix(a.per_feature, rec.data(), in.x.rows, in.x.cols);
  }
  {
    AtomicFile f(a.out);
    f.write(flag ? "row,score,flag\n" : "row,score\n");
    char line[96];
    for (int64_t r = 0; r < in.x.rows; ++r) {
      int n = flag ? std::snprintf(line, sizeof line, "%lld,%.9g,%d\n", (long long)r, scores[size_t(r)], int(flagged_row(scores[size_t(r)])))
                   : std::snprintf(line, sizeof line, "%lld,%.9g\n", (long long)r, scores[size_t(r)]);
      f.write(line, size_t(n));
    }
    f.commit();
  }
  double mean = std::accumulate(scores.begin(), scores.end(), 0.0) / double(std::max<int64_t>(1, in.x.rows));
  const std::string what = score_description(model, a.iw);
  std::printf("scored %lld rows of %s with %s (%s): mean %.6g, median %.6g, max %.6g\n", (long long)in.x.rows, a.data.c_str(),
              a.model.c_str(), what.c_str(), mean, quantile(scores, 0.5), *std::max_element(scores.begin(), scores.end()));
  if (flag) {
    const int64_t flagged = count_above(*backend, scores.data(), in.x.rows, thr_f);
    std::printf("threshold %.6g (%s): %lld rows flagged (%.2f%%)\n", thr, thr_source.c_str(), (long long)flagged,
                100.0 * double(flagged) / double(in.x.rows));
  } else if (!thr_source.empty()) {
    std::printf("threshold %s\n", thr_source.c_str());
  }
  if (!labels.empty()) {
    int64_t pos = std::count(labels.begin(), labels.end(), 1);
    if (pos == 0 || pos == int64_t(labels.size()))
      std::printf("labels: %lld anomalies of %lld rows; AUROC and average precision are undefined with one class only\n",
                  (long long)pos, (long long)labels.size());
    else
      std::printf("labels: %lld anomalies of %lld rows; AUROC %.4f, average precision %.4f\n", (long long)pos, (long long)labels.size(),
                  auroc(scores, labels), average_precision(scores, labels));
  }
  if (a.top > 0) {
    // Ranked on the chosen backend (on a device: uploaded once, sorted there, k indices back); NaN
    // scores first, ties by lower row.
    const int64_t k = std::min<int64_t>(a.top, in.x.rows);
    const std::vector<int64_t> idx = top_k(*backend, scores.data(), in.x.rows, k);
    std::printf("top %lld:\n  %8s  %12s%s\n", (long long)k, "row", "score", labels.empty() ? "" : "  label");
    for (int64_t i = 0; i < k; ++i) {
      std::printf("  %8lld  %12.6g", (long long)idx[size_t(i)], scores[size_t(idx[size_t(i)])]);
      if (!labels.empty()) std::printf("  %d", labels[size_t(idx[size_t(i)])]);
      std::printf("\n");
    }
  }
  std::printf("scores written to %s\n", a.out.c_str());
}

}  // namespace

std::vector<float> anomaly_scores(CompiledModel& compiled, const Matrix& x, int64_t batch, int64_t iw,
                                  const std::function<void(int64_t)>& progress) {
  std::vector<float> scores(size_t(x.rows));
  const DataView view{x.data.data(), x.rows, x.cols};
  if (iw >= 1) importance_weighted_bound(compiled, view, batch, iw, scores.data(), progress);
  else evaluate(compiled, view, batch, scores.data());
  return scores;
}

std::string score_description(const Model& model, int64_t iw) {
  const std::string unit = model.loss == Loss::bce ? "nats" : "mse summed over features";
  return iw >= 1 ? "importance-weighted bound on −log p(x), " + std::to_string(iw) + " samples, " + unit
         : model.spec.variational() ? "negative ELBO per row, " + unit + ", one z per row"
                                    : std::string(loss_name(model.loss)) + " loss per feature";
}

StoredThreshold stored_threshold(const Model& model) {
  if (model.threshold.is_null()) return {};
  return {model.threshold.at("value").get<double>(),
          "fitted in training (contamination " + model.threshold.value("contamination", nlohmann::json()).dump() + ")"};
}

void add_score(CLI::App& app) {
  auto a = std::make_shared<ScoreArgs>();
  auto* s = app.add_subcommand("score", "Anomaly scores (reconstruction error per row; a VAE's negative ELBO), flags, AUROC against labels");
  s->add_option("--model", a->model, "Model file (safetensors)")->required();
  s->add_option("--data", a->data, "Data: IDX, NPY or CSV")->required();
  s->add_option("--out", a->out, "scores.csv: row, score[, flag]")->required();
  add_data_options(*s, a->data_args);
  s->add_option("--labels", a->labels, "One label per row (CSV, NPY or IDX): 0 normal, 1 anomaly");
  s->add_option("--anomaly-label", a->anomaly_label, "The label value that means anomaly (others are normal), e.g. a class number");
  s->add_option("--top", a->top, "List the K most anomalous rows");
  s->add_option("--contamination", a->contamination, "Flag this fraction of the scored rows (their score quantile)")
      ->check(finite_number());
  s->add_option("--threshold", a->threshold, "Flag rows scoring above this [default: the model's, from train --contamination]")
      ->check(finite_number());
  s->add_option("--iw", a->iw,
                "VAE: score each row by the importance-weighted bound on −log p(x) with K samples (Burda et al.; seeded, "
                "per data row) instead of the negative ELBO");
  s->add_option("--per-feature", a->per_feature, "Also write each feature's error per row to this file (.npy/.csv)");
  s->add_option("--batch", a->batch, "Rows per batch")->capture_default_str();
  s->add_option("--max-rows", a->max_rows, "Only the first N rows");
  s->add_option("--threads", a->threads, "CPU threads (0 = all cores)")->capture_default_str();
  s->add_option("--device", a->device, "cpu, cuda, cuda-sim (CUDA kernels run on the CPU) or auto")->capture_default_str();
  add_precision_option(*s, a->precision);
  s->add_flag("--quiet", a->quiet, "No progress output");
  s->callback([a] { run_score(*a); });
}

}  // namespace ae::cli
