// `ae knn` and `ae cluster`: what a model's codes are worth to a classifier and to a clustering,
// against the raw features. kNN: exact k-nearest neighbours of each test row among the training
// rows (runtime/latent.h: blocked GEMM distances), majority vote. cluster: k-means with k-means++
// restarts (host/latent/kmeans.h), ACC (Hungarian mapping) and NMI against labels.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>

#include "host/cli/cli.h"
#include "host/latent/cluster_metrics.h"
#include "host/latent/kmeans.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/compiled_model.h"
#include "runtime/infer.h"
#include "runtime/latent.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {

const std::string DEFAULT_TRAIN_LABELS = FASHION_DIR + "train-labels-idx1-ubyte.gz";
const std::string DEFAULT_TEST_LABELS = FASHION_DIR + "t10k-labels-idx1-ubyte.gz";

// ---------------------------------------------------------------------------------------------
// ae knn

struct KnnArgs {
  std::string model, train = DEFAULT_TRAIN, train_labels, test = DEFAULT_TEST, test_labels, out, device = "cpu", metric = "euclidean";
  int k = 7;
  int64_t batch = 1024, max_rows = -1, test_rows = -1;
  int threads = 0;
  bool compare_raw = false, quiet = false;
  DataArgs data_args;
};

struct KnnResult {
  std::vector<int32_t> predicted;
  double accuracy = 0, seconds = 0;
};

KnnResult classify(Backend& backend, const float* train, int64_t n, const float* test, int64_t m, int64_t d,
                   const std::vector<int32_t>& train_labels, const std::vector<int32_t>& test_labels, int k, Metric metric,
                   const std::string& what, bool quiet) {
  const auto t0 = std::chrono::steady_clock::now();
  RowIndex index(backend, train, n, d, metric);
  KnnResult r;
  r.predicted.resize(size_t(m));
  Progress bar("knn " + what, m, !quiet);
  const int64_t chunk = 4096;  // queries per search call: progress, and bounded result memory
  for (int64_t q0 = 0; q0 < m; q0 += chunk) {
    const int64_t mq = std::min(chunk, m - q0);
    Neighbours nb = index.search(test + q0 * d, mq, k);
    const auto votes = knn_vote(nb.index, mq, k, train_labels);
    std::copy(votes.begin(), votes.end(), r.predicted.begin() + q0);
    bar.update(q0 + mq, "");
  }
  bar.finish();
  r.seconds = seconds_since(t0);
  int64_t hit = 0;
  for (int64_t i = 0; i < m; ++i) hit += r.predicted[size_t(i)] == test_labels[size_t(i)];
  r.accuracy = double(hit) / double(m);
  return r;
}

void run_knn(KnnArgs a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  check_row_limit(a.max_rows, "--max-rows");
  check_row_limit(a.test_rows, "--test-rows");
  const Metric metric = parse_metric(a.metric, "--metric");
  // Fashion-MNIST's own labels go with its images when those are the data.
  if (a.train_labels.empty() && a.train == DEFAULT_TRAIN) a.train_labels = DEFAULT_TRAIN_LABELS;
  if (a.test_labels.empty() && a.test == DEFAULT_TEST) a.test_labels = DEFAULT_TEST_LABELS;
  if (a.train_labels.empty()) AE_FAIL("--train-labels: give one label per row of --train ", a.train);
  if (a.test_labels.empty()) AE_FAIL("--test-labels: give one label per row of --test ", a.test);
  if (!a.out.empty()) {
    check_output_path(a.out, "--out", {".csv"});
    check_distinct({{"--out", a.out}, {"--model", a.model}, {"--train", a.train}, {"--test", a.test},
                    {"--train-labels", a.train_labels}, {"--test-labels", a.test_labels}});
  }
  if (a.k < 1) AE_FAIL("--k must be ≥ 1, got ", a.k);
  Model model = Model::load(a.model);
  auto backend = make_backend(a.device);
  const Matrix train = load_model_rows(model, a.model, a.train, "--train", a.max_rows, a.data_args);
  const Matrix test = load_model_rows(model, a.model, a.test, "--test", a.test_rows, a.data_args);
  const auto train_labels = load_row_labels(a.train_labels, "--train-labels", a.max_rows, train.rows, "--train", a.train);
  const auto test_labels = load_row_labels(a.test_labels, "--test-labels", a.test_rows, test.rows, "--test", a.test);
  if (a.k > train.rows) AE_FAIL("--k ", a.k, ": more neighbours than the ", train.rows, " rows of --train ", a.train);

  const int64_t w = model.spec.code_units();
  std::printf("knn: k = %d, %s distance, majority vote; %lld training rows (%s), %lld test rows (%s)\n", a.k, metric_name(metric),
              (long long)train.rows, a.train.c_str(), (long long)test.rows, a.test.c_str());
  CompiledModel compiled(model, *backend);
  const auto t0 = std::chrono::steady_clock::now();
  const auto train_codes = encode_rows(compiled, train, a.batch, "--train", a.quiet);
  const auto test_codes = encode_rows(compiled, test, a.batch, "--test", a.quiet);
  const double encode_s = seconds_since(t0);
  const KnnResult codes = classify(*backend, train_codes.data(), train.rows, test_codes.data(), test.rows, w, train_labels, test_labels,
                                   a.k, metric, "codes", a.quiet);
  std::printf("codes of %s (%lld numbers per row): accuracy %.4f  (encode %.2f s, search %.2f s on %s)\n", a.model.c_str(),
              (long long)w, codes.accuracy, encode_s, codes.seconds, backend->name().c_str());
  if (a.compare_raw) {
    const KnnResult raw = classify(*backend, train.data.data(), train.rows, test.data.data(), test.rows, train.cols, train_labels,
                                   test_labels, a.k, metric, "raw", a.quiet);
    std::printf("raw features%s (%lld numbers per row): accuracy %.4f  (search %.2f s on %s)\n",
                model.norm.kind == NormKind::none ? "" : " (normalised as the model's input)", (long long)train.cols,
                raw.accuracy, raw.seconds, backend->name().c_str());
  }
  if (!a.out.empty()) {
    AtomicFile f(a.out);
    f.write("row,label,predicted\n");
    for (int64_t i = 0; i < test.rows; ++i)
      f.write(std::to_string(i) + "," + std::to_string(test_labels[size_t(i)]) + "," + std::to_string(codes.predicted[size_t(i)]) + "\n");
    f.commit();
    std::printf("predictions written to %s\n", a.out.c_str());
  }
}

// ---------------------------------------------------------------------------------------------
// ae cluster

struct ClusterArgs {
  std::string model, data = DEFAULT_TRAIN, labels, out, device = "cpu", metric = "euclidean";
  int k = 0, restarts = 10, max_iter = 300;
  uint64_t seed = 1;
  int64_t batch = 1024, max_rows = -1;
  int threads = 0;
  bool compare_raw = false, quiet = false;
  DataArgs data_args;
};

KMeansResult cluster_rows(Backend& backend, std::vector<float> rows, int64_t n, int64_t d, const ClusterArgs& a, const std::string& what,
                          const std::vector<int32_t>& labels) {
  const auto t0 = std::chrono::steady_clock::now();
  // cosine: k-means on the rows scaled to unit length, where squared distance = 2·(1 − cos).
  if (parse_metric(a.metric, "--metric") == Metric::cosine)
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < d; ++j) s += double(rows[size_t(i * d + j)]) * rows[size_t(i * d + j)];
      if (s > 0)
        for (int64_t j = 0; j < d; ++j) rows[size_t(i * d + j)] = float(rows[size_t(i * d + j)] / std::sqrt(s));
    }
  const float* x = rows.data();
  Progress bar("k-means " + what, a.restarts, !a.quiet);
  KMeansOptions opt;
  opt.k = a.k, opt.restarts = a.restarts, opt.max_iter = a.max_iter, opt.seed = a.seed;
  KMeansResult r = kmeans(backend, x, n, d, opt, [&](int done) { bar.update(done, ""); });
  bar.finish();
  std::printf("%s (%lld numbers per row): inertia %.6g (restart %d of %d, %d iterations%s), %.2f s\n", what.c_str(), (long long)d,
              r.inertia, r.restart + 1, a.restarts, r.iterations, r.converged ? ", converged" : ", not converged: --max-iter reached",
              seconds_since(t0));
  if (!labels.empty())
    std::printf("  ACC %.4f  NMI %.4f\n", clustering_accuracy(r.assignment, labels), normalized_mutual_information(r.assignment, labels));
  return r;
}

void run_cluster(ClusterArgs a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  check_row_limit(a.max_rows, "--max-rows");
  if (a.labels.empty() && a.data == DEFAULT_TRAIN) a.labels = DEFAULT_TRAIN_LABELS;
  if (a.restarts < 1) AE_FAIL("--restarts must be ≥ 1, got ", a.restarts);
  if (a.max_iter < 1) AE_FAIL("--max-iter must be ≥ 1, got ", a.max_iter);
  const Metric metric = parse_metric(a.metric, "--metric");
  if (!a.out.empty()) {
    check_output_path(a.out, "--out", {".csv"});
    check_distinct({{"--out", a.out}, {"--model", a.model}, {"--data", a.data}, {"--labels", a.labels}});
  }
  Model model = Model::load(a.model);
  auto backend = make_backend(a.device);
  const Matrix x = load_model_rows(model, a.model, a.data, "--data", a.max_rows, a.data_args);
  std::vector<int32_t> labels;
  if (!a.labels.empty()) labels = load_row_labels(a.labels, "--labels", a.max_rows, x.rows, "--data", a.data);
  if (a.k == 0) {
    if (labels.empty()) AE_FAIL("--k: give the number of clusters (without --labels there is no class count to default to)");
    a.k = int(std::set<int32_t>(labels.begin(), labels.end()).size());
  }
  if (a.k < 1 || a.k > x.rows) AE_FAIL("--k ", a.k, ": must be between 1 and the ", x.rows, " rows of --data ", a.data);

  std::printf("k-means%s: k = %d%s, k-means++ seeding, %d restarts (seed %llu), %lld rows of %s\n",
              metric == Metric::cosine ? " on rows scaled to unit length (cosine)" : "", a.k,
              labels.empty() || a.k != int(std::set<int32_t>(labels.begin(), labels.end()).size()) ? "" : " (the number of classes)",
              a.restarts, (unsigned long long)a.seed, (long long)x.rows, a.data.c_str());
  CompiledModel compiled(model, *backend);
  const auto codes = encode_rows(compiled, x, a.batch, "--data", a.quiet);
  const KMeansResult on_codes = cluster_rows(*backend, codes, x.rows, model.spec.code_units(), a, "codes of " + a.model, labels);
  if (a.compare_raw) cluster_rows(*backend, x.data, x.rows, x.cols, a, "raw features", labels);
  if (!a.out.empty()) {
    AtomicFile f(a.out);
    f.write(labels.empty() ? "row,cluster\n" : "row,cluster,label\n");
    for (int64_t i = 0; i < x.rows; ++i)
      f.write(std::to_string(i) + "," + std::to_string(on_codes.assignment[size_t(i)]) +
              (labels.empty() ? "" : "," + std::to_string(labels[size_t(i)])) + "\n");
    f.commit();
    std::printf("assignments written to %s\n", a.out.c_str());
  }
}

}  // namespace

void add_knn(CLI::App& app) {
  auto a = std::make_shared<KnnArgs>();
  auto* s = app.add_subcommand("knn", "k-nearest-neighbour classification on a model's codes (and on the raw features)");
  s->add_option("--model", a->model, "Model file (safetensors)")->required();
  s->add_option("--train", a->train, "Labelled rows to search: IDX, NPY or CSV [default: Fashion-MNIST's training images]");
  s->add_option("--train-labels", a->train_labels, "One integer label per --train row (IDX, NPY or CSV) [default: Fashion-MNIST's, with its images]");
  s->add_option("--test", a->test, "Rows to classify [default: Fashion-MNIST's test images]");
  s->add_option("--test-labels", a->test_labels, "One integer label per --test row [default: Fashion-MNIST's, with its images]");
  s->add_option("--k", a->k, "Neighbours that vote")->capture_default_str();
  s->add_option("--metric", a->metric, "euclidean or cosine")->capture_default_str();
  s->add_flag("--compare-raw", a->compare_raw, "Also classify on the raw features (normalised as the model's input)");
  s->add_option("--out", a->out, "predictions.csv: row, label, predicted (from the codes)");
  s->add_option("--max-rows", a->max_rows, "Only the first N --train rows");
  s->add_option("--test-rows", a->test_rows, "Only the first N --test rows");
  add_data_options(*s, a->data_args);
  add_run_options(*s, a->batch, a->threads, a->device, a->quiet);
  s->callback([a] { run_knn(*a); });
}

void add_cluster(CLI::App& app) {
  auto a = std::make_shared<ClusterArgs>();
  auto* s = app.add_subcommand("cluster", "k-means on a model's codes (and on the raw features); ACC and NMI against labels");
  s->add_option("--model", a->model, "Model file (safetensors)")->required();
  s->add_option("--data", a->data, "Rows to cluster: IDX, NPY or CSV [default: Fashion-MNIST's training images]");
  s->add_option("--labels", a->labels, "One integer label per row, for ACC and NMI [default: Fashion-MNIST's, with its images]");
  s->add_option("--k", a->k, "Clusters [default: the number of distinct labels]");
  s->add_option("--restarts", a->restarts, "k-means++ seedings; the lowest inertia is kept")->capture_default_str();
  s->add_option("--max-iter", a->max_iter, "Lloyd iterations per restart, at most")->capture_default_str();
  s->add_option("--seed", a->seed, "Seed of the k-means++ draws")->capture_default_str()->check(non_negative_integer());
  s->add_option("--metric", a->metric, "euclidean, or cosine: cluster the rows scaled to unit length")->capture_default_str();
  s->add_flag("--compare-raw", a->compare_raw, "Also cluster the raw features (normalised as the model's input)");
  s->add_option("--out", a->out, "assignments.csv: row, cluster[, label] (from the codes)");
  s->add_option("--max-rows", a->max_rows, "Only the first N rows");
  add_data_options(*s, a->data_args);
  add_run_options(*s, a->batch, a->threads, a->device, a->quiet);
  s->callback([a] { run_cluster(*a); });
}

}  // namespace ae::cli
