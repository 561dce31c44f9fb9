// `ae hash` and `ae retrieve`: semantic hashing with a trained autoencoder. A row's binary code
// thresholds its code units (a sigmoid code at 0.5, any other at the training median `ae train`
// records, or at the medians of --fit FILE's codes); retrieval ranks a database by Hamming
// distance to each query, and against labels reports precision@K and mAP, optionally beside
// random-hyperplane LSH on the raw features at the same bit count.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

#include "host/cli/cli.h"
#include "host/data/npy.h"
#include "host/latent/hashing.h"
#include "host/progress.h"
#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/compiled_model.h"
#include "runtime/infer.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {

constexpr int64_t ALL_UNITS = std::numeric_limits<int64_t>::min();  // --bits not given: one bit per code unit

struct HashArgs {
  std::string model, data, out, fit, device = "cpu";
  std::string database, query, database_labels, query_labels;  // retrieve
  int64_t bits = ALL_UNITS, top = 0, batch = 1024, max_rows = -1;
  uint64_t seed = 1;
  bool compare_lsh = false, quiet = false;
  int threads = 0;
  DataArgs data_args;
};

bool sigmoid_code(const Spec& s) { return !s.variational() && s.encoder.back().act == Act::sigmoid; }

// Which units become bits and where each is cut: from the model's recorded statistics, a sigmoid
// code's 0.5, or --fit FILE's codes.
struct Hashing {
  std::vector<int64_t> units;
  std::vector<float> thresholds;
  std::string how;  // for the report: where the thresholds come from
};

// The checks that need only the model, made before any data is read so that a model that cannot
// be hashed fails at once: --bits against the code, and statistics to hash with.
int64_t checked_bits(const HashArgs& a, const Model& m) {
  const int64_t units = m.spec.code_units();
  if (a.bits != ALL_UNITS && a.bits < 1) AE_FAIL("--bits ", a.bits, ": must be ≥ 1 (bits per code)");
  const int64_t bits = a.bits == ALL_UNITS ? units : a.bits;
  if (bits > units)
    AE_FAIL("--bits ", bits, ": ", a.model, "'s code has only ", units, " units (", m.spec.to_compact(), "); give at most ", units);
  if (a.fit.empty()) {
    // A sigmoid code needs no medians (it is cut at 0.5), but fewer bits than units need the deviations.
    if (m.code_median.empty() && (!sigmoid_code(m.spec) || bits < units))
      AE_FAIL("--model ", a.model, " records no training ", sigmoid_code(m.spec) ? "deviations" : "medians",
              " of its codes (written by an ae before `ae train` recorded them); give --fit FILE (e.g. the training data) to "
              "fit them");
  }
  return bits;
}

// Rows of `path` for the model, normalised as it was trained.
Matrix load_features(const HashArgs& a, const Model& m, const std::string& path, const std::string& flag) {
  return load_model_rows(m, a.model, path, flag, a.max_rows, a.data_args);
}

Hashing make_hashing(const HashArgs& a, CompiledModel& compiled, int64_t bits) {
  const Model& m = compiled.model();
  const int64_t units = m.spec.code_units();
  Hashing h;
  std::vector<float> median = m.code_median, std = m.code_std;
  if (!a.fit.empty()) {
    Matrix x = load_features(a, m, a.fit, "--fit");
    const std::vector<float> codes = encode_rows(compiled, x, a.batch, "--fit", a.quiet);
    latent::CodeStats s = latent::fit_code_stats(codes.data(), x.rows, units);
    median = std::move(s.median), std = std::move(s.std);
    h.how = "the medians of --fit " + a.fit + "'s codes (" + std::to_string(x.rows) + " rows)";
  } else if (sigmoid_code(m.spec)) {
    median.assign(size_t(units), 0.5f);
    h.how = "0.5 (a sigmoid code)";
  } else {
    h.how = "the training medians recorded in the model (" + std::to_string(m.code_stats_rows) + " rows)";
  }
  if (bits == units) {
    h.units.resize(size_t(units));
    for (int64_t u = 0; u < units; ++u) h.units[size_t(u)] = u;
  } else {
    h.units = latent::select_units(std, bits);
    h.how += "; the " + std::to_string(bits) + " of " + std::to_string(units) + " units with the largest " +
             (a.fit.empty() ? "training" : "--fit") + " standard deviation, in unit order";
  }
  for (int64_t u : h.units) h.thresholds.push_back(median[size_t(u)]);
  return h;
}

void run_hash(const HashArgs& a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  check_output_path(a.out, "--out", {".npy"});
  check_distinct({{"--out", a.out}, {"--model", a.model}, {"--data", a.data}});
  check_distinct({{"--out", a.out}, {"--fit", a.fit}});  // --fit may be --data itself
  check_row_limit(a.max_rows, "--max-rows");
  const Model model = Model::load(a.model);
  const int64_t bits = checked_bits(a, model);
  auto backend = make_backend(a.device);
  const Matrix x = load_features(a, model, a.data, "--data");
  CompiledModel compiled(model, *backend);
  const Hashing h = make_hashing(a, compiled, bits);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> codes = encode_rows(compiled, x, a.batch, "--data", a.quiet);
  const std::vector<uint8_t> packed = latent::pack_codes(codes.data(), x.rows, model.spec.code_units(), h.units, h.thresholds);
  const double secs = seconds_since(t0);
  save_npy_u8(a.out, packed.data(), x.rows, latent::bytes_per_row(bits));
  std::printf("hashed %lld rows of %s into %lld-bit codes in %.2f s; thresholds: %s\n", (long long)x.rows, a.data.c_str(),
              (long long)bits, secs, h.how.c_str());
  std::printf("codes written to %s: uint8 [%lld, %lld], bit j of a row = byte j/8, bit 7 - j%%8 (MSB first, numpy.packbits)\n",
              a.out.c_str(), (long long)x.rows, (long long)latent::bytes_per_row(bits));
}

// --database-labels / --query-labels, one per row of the file they label; none when not given.
std::vector<int32_t> labels_for(const HashArgs& a, const std::string& path, const std::string& flag, int64_t rows,
                                const std::string& data_flag, const std::string& data) {
  if (path.empty()) return {};
  return load_row_labels(path, flag, a.max_rows, rows, data_flag, data);
}

void print_metrics(const char* what, const latent::Retrieval& r, int64_t top, bool labelled, double hash_s, double rank_s) {
  if (labelled)
    std::printf("%-34s mAP %.4f  precision@%lld %.4f  (hashing %.2f s, ranking %.2f s)\n", what, r.map, (long long)top, r.precision,
                hash_s, rank_s);
  else
    std::printf("%-34s (hashing %.2f s, ranking %.2f s)\n", what, hash_s, rank_s);
}

void write_top(const std::string& path, const latent::Retrieval& r) {
  AtomicFile f(path);
  f.write("query,rank,database_row,distance\n");
  char line[96];
  for (size_t q = 0; q < r.queries.size(); ++q)
    for (size_t i = 0; i < r.queries[q].rows.size(); ++i) {
      const int n = std::snprintf(line, sizeof line, "%zu,%zu,%lld,%d\n", q, i + 1, (long long)r.queries[q].rows[i], r.queries[q].dist[i]);
      f.write(line, size_t(n));
    }
  f.commit();
}

void run_retrieve(const HashArgs& a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  if (a.top < 1) AE_FAIL("--top ", a.top, ": must be ≥ 1 (the database rows to list per query)");
  if (a.database_labels.empty() != a.query_labels.empty())
    AE_FAIL(a.database_labels.empty() ? "--query-labels" : "--database-labels", " needs ",
            a.database_labels.empty() ? "--database-labels" : "--query-labels", " too: relevance is a shared label");
  check_output_path(a.out, "--out", {".csv"});
  // Inputs may coincide (the database as its own queries, --fit the database); the output may not be one.
  for (const auto& [flag, path] : std::vector<std::pair<std::string, std::string>>{
           {"--model", a.model}, {"--database", a.database}, {"--query", a.query}, {"--fit", a.fit},
           {"--database-labels", a.database_labels}, {"--query-labels", a.query_labels}})
    check_distinct({{"--out", a.out}, {flag, path}});
  check_row_limit(a.max_rows, "--max-rows");
  const Model model = Model::load(a.model);
  const int64_t bits = checked_bits(a, model);
  auto backend = make_backend(a.device);
  const Matrix db = load_features(a, model, a.database, "--database");
  if (a.top > db.rows)
    AE_FAIL("--top ", a.top, ": larger than the ", db.rows, " rows of --database ", a.database, "; give at most ", db.rows);
  const Matrix qx = load_features(a, model, a.query, "--query");
  const std::vector<int32_t> db_labels = labels_for(a, a.database_labels, "--database-labels", db.rows, "--database", a.database);
  const std::vector<int32_t> q_labels = labels_for(a, a.query_labels, "--query-labels", qx.rows, "--query", a.query);
  const bool labelled = !db_labels.empty();
  CompiledModel compiled(model, *backend);
  const Hashing h = make_hashing(a, compiled, bits);
  const int64_t units = model.spec.code_units();

  // Semantic hashing: encode, threshold, rank.
  auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> db_codes = encode_rows(compiled, db, a.batch, "--database", a.quiet);
  const std::vector<float> q_codes = encode_rows(compiled, qx, a.batch, "--query", a.quiet);
  const latent::BitCodes db_bits = latent::to_words(latent::pack_codes(db_codes.data(), db.rows, units, h.units, h.thresholds), db.rows, bits);
  const latent::BitCodes q_bits = latent::to_words(latent::pack_codes(q_codes.data(), qx.rows, units, h.units, h.thresholds), qx.rows, bits);
  const double hash_s = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  const latent::Retrieval r = latent::retrieve(db_bits, q_bits, a.top, db_labels, q_labels);
  const double rank_s = seconds_since(t0);
  write_top(a.out, r);

  std::printf("database: %lld rows of %s; queries: %lld rows of %s; %lld-bit codes\n", (long long)db.rows, a.database.c_str(),
              (long long)qx.rows, a.query.c_str(), (long long)bits);
  std::printf("thresholds: %s\n", h.how.c_str());
  if (labelled)
    std::printf("relevant = same label; mAP over the whole Hamming ranking (ties by lower database row), precision among the top %lld\n",
                (long long)a.top);
  print_metrics(("semantic hashing, " + std::to_string(bits) + " bits").c_str(), r, a.top, labelled, hash_s, rank_s);
  if (a.compare_lsh) {
    // The raw features, normalised as the model normalises them (db and qx already are), centred
    // on the database mean, cut by `bits` Gaussian hyperplanes from Philox(--seed).
    t0 = std::chrono::steady_clock::now();
    const latent::Hyperplanes hp = latent::make_hyperplanes(db.data.data(), db.rows, db.cols, bits, a.seed);
    const latent::BitCodes db_lsh = latent::to_words(latent::lsh_codes(hp, db.data.data(), db.rows), db.rows, bits);
    const latent::BitCodes q_lsh = latent::to_words(latent::lsh_codes(hp, qx.data.data(), qx.rows), qx.rows, bits);
    const double lsh_hash_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const latent::Retrieval l = latent::retrieve(db_lsh, q_lsh, a.top, db_labels, q_labels);
    print_metrics(("random-hyperplane LSH, " + std::to_string(bits) + " bits").c_str(), l, a.top, labelled, lsh_hash_s,
                  seconds_since(t0));
  }
  std::printf("top %lld per query written to %s\n", (long long)a.top, a.out.c_str());
}

void add_common(CLI::App& s, HashArgs& a) {
  s.add_option("--model", a.model, "Model file (safetensors)")->required();
  s.add_option("--bits", a.bits,
               "Bits per code [default: one per code unit]; fewer keeps the units with the largest training variance");
  s.add_option("--fit", a.fit, "Threshold each unit at the median of this file's codes instead of the model's training medians");
  add_data_options(s, a.data_args);
  s.add_option("--max-rows", a.max_rows, "Only the first N rows of each data file (and of its labels)");
  add_run_options(s, a.batch, a.threads, a.device, a.quiet);
}

}  // namespace

void add_hash(CLI::App& app) {
  auto a = std::make_shared<HashArgs>();
  auto* s = app.add_subcommand("hash", "Binary codes: each code unit thresholded at its training median (a sigmoid code at 0.5)");
  s->add_option("--data", a->data, "Data: IDX, NPY or CSV")->required();
  s->add_option("--out", a->out, "Packed bits, NPY uint8 [rows, ceil(bits/8)], MSB first as numpy.packbits")->required();
  add_common(*s, *a);
  s->callback([a] { run_hash(*a); });

  auto b = std::make_shared<HashArgs>();
  auto* r = app.add_subcommand("retrieve", "Rank a database by the Hamming distance of its binary codes to each query's");
  r->add_option("--database", b->database, "Database rows: IDX, NPY or CSV")->required();
  r->add_option("--query", b->query, "Query rows: IDX, NPY or CSV")->required();
  r->add_option("--top", b->top, "List the K nearest database rows per query (precision@K with labels)")->required();
  r->add_option("--out", b->out, "CSV: query, rank, database_row, distance")->required();
  r->add_option("--database-labels", b->database_labels, "One label per database row (IDX, NPY, CSV): relevant = same label");
  r->add_option("--query-labels", b->query_labels, "One label per query row");
  r->add_flag("--compare-lsh", b->compare_lsh, "Also random-hyperplane LSH on the raw features, at the same bit count");
  r->add_option("--seed", b->seed, "Seed of the LSH hyperplanes (Philox)")->capture_default_str()->check(non_negative_integer());
  add_common(*r, *b);
  r->callback([b] { run_retrieve(*b); });
}

}  // namespace ae::cli
