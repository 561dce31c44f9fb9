// The C++ API over the runtime: a Model plus a backend, and the plans compiled for them.
// Threads: every call locks the model's mutex (one call at a time per model: its compiled plans
// hold one arena each, and train rewrites the weights) and runs with the model's own CPU thread
// count, set on the calling thread for the call and restored after it. OpenMP's and the GEMM's
// thread counts are both per-thread settings, so models on different threads neither wait for
// nor change each other.
#include <omp.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include <exception>

#include "ae/ae.hpp"
#include "graph/spec_options.h"
#include "host/latent/hashing.h"
#include "host/metrics.h"
#include "kernels/common/error.h"
#include "kernels/common/prior.h"
#include "kernels/cpu/gemm.h"
#include "runtime/compiled_model.h"
#include "runtime/infer.h"
#include "runtime/trainer.h"

namespace ae {

struct Autoencoder::Impl {
  Model model;
  std::unique_ptr<Backend> backend = make_backend("cpu");
  // Declared after model and backend: destroyed first, while they still exist. Created on the
  // first forward call; dropped before the backend is replaced.
  std::unique_ptr<CompiledModel> compiled;
  int64_t plans_before = 0;    // plans built by compiled models already dropped
  std::vector<float> scratch;  // normalised input, reused between calls
  std::mutex mutex;            // one call at a time: the compiled plans hold one arena each
  int threads = 0;             // CPU threads of this model's calls; 0: OpenMP's default (OMP_NUM_THREADS, else all cores)

  CompiledModel& plans() {
    if (!compiled) compiled = std::make_unique<CompiledModel>(model, *backend);
    return *compiled;
  }
  void drop_plans() {
    if (compiled) plans_before += compiled->plans_built();
    compiled.reset();
  }
  // x normalised as in training: x itself when the model has no normalisation, else a copy.
  const float* normalised(const float* x, int64_t rows) {
    AE_CHECK(x != nullptr || rows == 0, "data pointer is null");
    AE_CHECK(rows >= 0, "rows must be ≥ 0");
    if (model.norm.kind == NormKind::none) return x;
    scratch.assign(x, x + rows * model.spec.input);
    model.norm.apply(scratch.data(), rows, model.spec.input);
    return scratch.data();
  }
};

namespace {

// OpenMP's default for the process (OMP_NUM_THREADS, else all cores), read when libae loads, before
// any caller can have changed its own thread's setting: what a model's 0 means. Taking all cores
// regardless would ignore OMP_NUM_THREADS=1 and make every one-row call wake a second thread (the
// 1-row C API encode went from 6.5 to 10.5 µs that way).
const int g_default_threads = std::max(1, omp_get_max_threads());

int resolve_threads(int threads) { return threads > 0 ? threads : g_default_threads; }

// The calling thread's OpenMP and GEMM thread counts for one call, then back to the caller's.
class ThreadsScope {
 public:
  explicit ThreadsScope(int threads) : m_omp(omp_get_max_threads()), m_gemm(cpu::set_gemm_threads(threads)) {
    omp_set_num_threads(threads);
  }
  ~ThreadsScope() {
    omp_set_num_threads(m_omp);
    cpu::set_gemm_threads(m_gemm);
  }
  ThreadsScope(const ThreadsScope&) = delete;
  ThreadsScope& operator=(const ThreadsScope&) = delete;

 private:
  int m_omp, m_gemm;
};

// The model of an Autoencoder; a moved-from one has none, which is an error, not a crash.
template <typename IMPL>
IMPL& model_of(const std::unique_ptr<IMPL>& impl, const char* call) {
  if (!impl) AE_FAIL("Autoencoder::", call, ": this Autoencoder was moved from and holds no model");
  return *impl;
}

// One call on one model: its lock held (taken first, so `threads` is read under it), and its
// thread count in force on the calling thread.
struct Call {
  Call(std::mutex& mutex, const int& threads) : lock(mutex), scope(resolve_threads(threads)) {}
  std::lock_guard<std::mutex> lock;
  ThreadsScope scope;
};

}  // namespace

Autoencoder::Autoencoder(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Autoencoder::Autoencoder(Autoencoder&&) noexcept = default;
Autoencoder& Autoencoder::operator=(Autoencoder&&) noexcept = default;
Autoencoder::~Autoencoder() = default;

Autoencoder Autoencoder::create(const std::string& spec, uint64_t seed, const std::string& loss) {
  auto l = parse_loss_name(loss);
  if (!l) AE_FAIL("loss '", loss, "': expected one of: ", loss_names_list());
  auto impl = std::make_unique<Impl>();
  impl->model = Model::create(parse_spec(spec, "spec"), seed, *l);
  return Autoencoder(std::move(impl));
}

Autoencoder Autoencoder::create(const std::string& spec, uint64_t seed, const std::string& loss, const ModelOptions& options) {
  auto l = parse_loss_name(loss);
  if (!l) AE_FAIL("loss '", loss, "': expected one of: ", loss_names_list());
  SpecOptions o;
  o.tied = options.tied, o.sparsity = options.sparsity, o.noise = options.noise, o.contractive = options.contractive;
  o.beta = options.beta, o.kl_warmup = options.kl_warmup, o.adversarial = options.adversarial, o.prior = options.prior;
  o.keyword_names = options.keyword_names;
  auto impl = std::make_unique<Impl>();
  impl->model = Model::create(apply_spec_options(parse_spec(spec, "spec"), o), seed, *l);
  return Autoencoder(std::move(impl));
}

Autoencoder Autoencoder::load(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->model = Model::load(path);
  // The file records how it was trained and stored; calls run fp32 unless set_precision, and save()
  // writes fp32 weights, as `ae train --init` does.
  impl->model.precision = DType::f32;
  impl->model.save_dtype = DType::f32;
  return Autoencoder(std::move(impl));
}

namespace {

// TrainConfig → the trainer's options, checked by the trainer's one validator (errors name the
// config's fields: "lr_step must be ≥ 1").
TrainOptions train_options(const TrainConfig& c, const Model& m) {
  AE_CHECK(std::isnan(c.contamination) || (c.contamination > 0 && c.contamination < 1),
           "contamination must be in (0, 1), got ", c.contamination);
  TrainSettings t;
  t.keyword_names = true;
  t.epochs = c.epochs, t.steps = c.steps, t.batch = c.batch, t.log_every = c.log_every, t.patience = c.patience;
  t.warmup = c.warmup, t.lr_step = c.lr_step;
  t.optimizer = c.optimizer, t.schedule = c.lr_schedule;
  t.lr = c.lr, t.momentum = c.momentum, t.weight_decay = c.weight_decay, t.lr_gamma = c.lr_gamma, t.lr_min = c.lr_min;
  t.d_lr = c.d_lr, t.g_lr = c.g_lr;
  t.nesterov = c.nesterov, t.shuffle = c.shuffle, t.keep_best = c.keep_best;
  return make_train_options(t, m.spec);
}

TrainProgress progress_of(const TrainEvent& ev) {
  TrainProgress p;
  p.step = ev.step, p.total_steps = ev.total_steps, p.epoch = ev.epoch;
  p.log = ev.kind == TrainEvent::log;
  p.train_loss = ev.train_loss, p.val_loss = ev.val_loss, p.samples_per_s = ev.samples_per_s, p.lr = ev.lr;
  p.terms = ev.terms;
  return p;
}

}  // namespace

// As `ae train` does: normalisation fitted on x, the run, then the threshold (with a contamination)
// and the codes' per-unit statistics (`ae hash`) on the training rows.
TrainSummary Autoencoder::train(const float* x, int64_t rows, const TrainConfig& c) {
  AE_CHECK(x != nullptr || rows == 0, "train: data pointer is null");
  AE_CHECK(c.val != nullptr || c.val_rows == 0, "train: val pointer is null");
  AE_CHECK(rows >= 0 && c.val_rows >= 0, "train: rows must be ≥ 0");
  AE_CHECK(c.threads >= 0, "train: threads=", c.threads, " must be ≥ 0 (0: the model's setting)");
  Impl& impl = model_of(m_impl, "train");
  std::lock_guard lock(impl.mutex);
  TrainOptions o = train_options(c, impl.model);
  // A count given here stays the model's, so encode after train runs as training did.
  if (c.threads > 0) impl.threads = c.threads;
  ThreadsScope scope(resolve_threads(impl.threads));
  const Precision precision = parse_precision(c.precision, "precision");
  auto backend = make_backend(c.device);
  if (const std::string why = backend->precision_support(precision); !why.empty())
    AE_FAIL("precision ", precision_name(precision), ": ", why);
  impl.drop_plans();  // they hold the old backend's memory
  impl.backend = std::move(backend);
  Model& m = impl.model;
  m.precision = precision;
  const int64_t width = m.spec.input;
  m.norm = Normalizer::fit(parse_norm_kind(c.normalize, "normalize"), x, rows, width);
  // Without normalisation the rows are used where they are: no copy of the caller's data.
  std::vector<float> data, val;
  const float* tx = x;
  const float* vx = c.val;
  if (m.norm.kind != NormKind::none) {
    data.assign(x, x + rows * width);
    m.norm.apply(data.data(), rows, width);
    tx = data.data();
    if (c.val_rows > 0) {
      val.assign(c.val, c.val + c.val_rows * width);
      m.norm.apply(val.data(), c.val_rows, width);
      vx = val.data();
    }
  }
  const DataView tv{tx, rows, width}, vv{vx, c.val_rows, width};
  std::exception_ptr failed;  // what on_progress threw: training stops, then it is rethrown
  bool stop = false;
  o.stop = [&] { return stop; };
  TrainCallback on_event;
  if (c.on_progress)
    on_event = [&](const TrainEvent& ev) {
      if (stop) return;
      try {
        stop = !c.on_progress(progress_of(ev));
      } catch (...) {
        failed = std::current_exception();
        stop = true;
      }
    };
  m.data = {{"file", c.data_name}, {"rows", rows}, {"cols", width}, {"val", c.val_rows > 0 ? "validation rows" : ""},
            {"val_rows", c.val_rows}};
  // train() bumps the parameters' version when it syncs them back, so plans compiled later (or
  // kept by a caller across this call) read the trained weights.
  TrainResult r = ae::train(m, *impl.backend, tv, c.val_rows > 0 ? &vv : nullptr, o, on_event);
  if (!std::isnan(c.contamination) && rows > 0) {
    std::vector<float> scores(static_cast<size_t>(rows));
    evaluate(impl.plans(), tv, 1024, scores.data());
    m.threshold = {{"value", quantile(scores, 1.0 - c.contamination)}, {"contamination", c.contamination},
                   {"fitted_on", "training data, " + std::to_string(rows) + " rows"}};
  }
  if (rows > 0) {  // the codes' per-unit medians and deviations, as `ae train` records them
    std::vector<float> codes(static_cast<size_t>(rows * m.spec.code_units()));
    run_forward(impl.plans(), GraphMode::encode, tx, rows, codes.data());
    latent::CodeStats cs = latent::fit_code_stats(codes.data(), rows, m.spec.code_units());
    m.code_median = std::move(cs.median);
    m.code_std = std::move(cs.std);
    m.code_stats_rows = rows;
  }
  if (failed) std::rethrow_exception(failed);
  TrainSummary sum;
  sum.steps = r.steps, sum.train_loss = r.final_train_loss, sum.val_loss = r.final_val_loss, sum.seconds = r.seconds;
  sum.samples_per_s = r.train_seconds > 0 ? double(r.samples) / r.train_seconds : 0;
  sum.stopped_early = r.stopped_early, sum.interrupted = r.interrupted;
  return sum;
}

void Autoencoder::encode(const float* x, int64_t rows, float* out) const {
  AE_CHECK(out != nullptr || rows == 0, "encode: out is null");
  Impl& impl = model_of(m_impl, "encode");
  Call call(impl.mutex, impl.threads);
  run_forward(m_impl->plans(), GraphMode::encode, m_impl->normalised(x, rows), rows, out);
}
void Autoencoder::decode(const float* codes, int64_t rows, float* out) const {
  AE_CHECK(codes != nullptr || rows == 0, "codes pointer is null");
  AE_CHECK(out != nullptr || rows == 0, "decode: out is null");
  AE_CHECK(rows >= 0, "rows must be ≥ 0");
  Impl& impl = model_of(m_impl, "decode");
  Call call(impl.mutex, impl.threads);
  run_forward(m_impl->plans(), GraphMode::decode, codes, rows, out);
  m_impl->model.norm.invert(out, rows, m_impl->model.spec.input);
}
void Autoencoder::reconstruct(const float* x, int64_t rows, float* out) const {
  AE_CHECK(out != nullptr || rows == 0, "reconstruct: out is null");
  Impl& impl = model_of(m_impl, "reconstruct");
  Call call(impl.mutex, impl.threads);
  run_forward(m_impl->plans(), GraphMode::reconstruct, m_impl->normalised(x, rows), rows, out);
  m_impl->model.norm.invert(out, rows, m_impl->model.spec.input);
}
void Autoencoder::score(const float* x, int64_t rows, float* out) const {
  AE_CHECK(out != nullptr || rows == 0, "score: out is null");
  Impl& impl = model_of(m_impl, "score");
  Call call(impl.mutex, impl.threads);
  const float* v = m_impl->normalised(x, rows);
  evaluate(m_impl->plans(), DataView{v, rows, m_impl->model.spec.input}, 1024, out);
}

std::vector<float> Autoencoder::encode(const float* x, int64_t rows) const {
  std::vector<float> out(size_t(std::max<int64_t>(rows, 0) * code_width()));
  encode(x, rows, out.data());
  return out;
}
std::vector<float> Autoencoder::decode(const float* codes, int64_t rows) const {
  std::vector<float> out(size_t(std::max<int64_t>(rows, 0) * input_width()));
  decode(codes, rows, out.data());
  return out;
}
std::vector<float> Autoencoder::reconstruct(const float* x, int64_t rows) const {
  std::vector<float> out(size_t(std::max<int64_t>(rows, 0) * input_width()));
  reconstruct(x, rows, out.data());
  return out;
}
std::vector<float> Autoencoder::score(const float* x, int64_t rows) const {
  std::vector<float> out(size_t(std::max<int64_t>(rows, 0)));
  score(x, rows, out.data());
  return out;
}
double Autoencoder::loss(const float* x, int64_t rows) const {
  Impl& impl = model_of(m_impl, "loss");
  Call call(impl.mutex, impl.threads);
  const float* v = m_impl->normalised(x, rows);
  return evaluate(m_impl->plans(), DataView{v, rows, m_impl->model.spec.input}, 1024);
}
// Under the lock: a train on another thread rewrites the weights and normaliser being saved.
void Autoencoder::save(const std::string& path) const {
  Impl& impl = model_of(m_impl, "save");
  std::lock_guard lock(impl.mutex);
  impl.model.save(path);
}
void Autoencoder::sample(int64_t n, uint64_t seed, float* out) const {
  AE_CHECK(n >= 0, "sample: n=", n, " must be ≥ 0");
  AE_CHECK(out != nullptr || n == 0, "sample: out is null");
  Impl& impl = model_of(m_impl, "sample");
  Call call(impl.mutex, impl.threads);
  const Spec& spec = impl.model.spec;
  if (!spec.variational() && !spec.adversarial.enabled())
    AE_FAIL("sample: ", spec.to_compact(), " is not generative: it has no prior to draw codes from; train a variational "
            "autoencoder (a code layer marked v, e.g. 784-400r-20v-400r-784s) or an adversarial one");
  // The draws of `ae sample`: Philox (seed, step 0, purpose prior, index row·units + unit).
  const int64_t units = spec.code_units();
  std::vector<float> z(static_cast<size_t>(n * units));
  const PriorKind prior = spec.adversarial.enabled() ? spec.adversarial.prior : PriorKind::gaussian;
  for (int64_t i = 0; i < n * units; ++i) z[size_t(i)] = prior_sample(prior, seed, 0, uint64_t(i));
  run_forward(impl.plans(), GraphMode::decode, z.data(), n, out);
  impl.model.norm.invert(out, n, spec.input);
}
std::vector<float> Autoencoder::sample(int64_t n, uint64_t seed) const {
  std::vector<float> out(static_cast<size_t>(std::max<int64_t>(n, 0) * input_width()));
  sample(n, seed, out.data());
  return out;
}

// The spec never changes after create/load: no lock needed.
int64_t Autoencoder::input_width() const { return model_of(m_impl, "input_width").model.spec.input; }
int64_t Autoencoder::code_width() const { return model_of(m_impl, "code_width").model.spec.code_units(); }
std::string Autoencoder::spec() const { return model_of(m_impl, "spec").model.spec.to_compact(); }
std::string Autoencoder::loss_name() const { return ae::loss_name(model_of(m_impl, "loss_name").model.loss); }
bool Autoencoder::generative() const {
  const Spec& s = model_of(m_impl, "generative").model.spec;
  return s.variational() || s.adversarial.enabled();
}
bool Autoencoder::variational() const { return model_of(m_impl, "variational").model.spec.variational(); }
double Autoencoder::threshold() const {
  Impl& impl = model_of(m_impl, "threshold");
  std::lock_guard lock(impl.mutex);
  return impl.model.threshold.is_object() ? impl.model.threshold.value("value", double(NAN)) : NAN;
}
double Autoencoder::contamination() const {
  Impl& impl = model_of(m_impl, "contamination");
  std::lock_guard lock(impl.mutex);
  return impl.model.threshold.is_object() ? impl.model.threshold.value("contamination", double(NAN)) : NAN;
}
int64_t Autoencoder::steps_trained() const {
  Impl& impl = model_of(m_impl, "steps_trained");
  std::lock_guard lock(impl.mutex);
  return impl.model.step;
}
std::string Autoencoder::history_json() const {
  Impl& impl = model_of(m_impl, "history_json");
  std::lock_guard lock(impl.mutex);
  return impl.model.history.dump();
}
std::string Autoencoder::info_json() const {
  Impl& impl = model_of(m_impl, "info_json");
  std::lock_guard lock(impl.mutex);
  const Model& m = impl.model;
  return nlohmann::json{{"spec", m.spec.to_compact()}, {"loss", ae::loss_name(m.loss)}, {"normalize", norm_kind_name(m.norm.kind)},
                        {"seed", m.seed}, {"step", m.step}, {"epoch", m.epoch}, {"optimizer", m.optimizer}, {"data", m.data},
                        {"threshold", m.threshold}}
      .dump();
}
void Autoencoder::set_precision(const std::string& precision) {
  const Precision p = parse_precision(precision, "precision");
  Impl& impl = model_of(m_impl, "set_precision");
  std::lock_guard lock(impl.mutex);
  if (const std::string why = impl.backend->precision_support(p); !why.empty())
    AE_FAIL("precision ", precision_name(p), ": ", why);
  impl.model.precision = p;  // kept plans are per precision (CompiledModel): nothing to drop
}
std::string Autoencoder::precision() const {
  Impl& impl = model_of(m_impl, "precision");
  std::lock_guard lock(impl.mutex);
  return precision_name(impl.model.precision);
}
void Autoencoder::set_threads(int threads) {
  AE_CHECK(threads >= 0, "set_threads: threads=", threads, " must be ≥ 0 (0: OpenMP's default)");
  Impl& impl = model_of(m_impl, "set_threads");
  std::lock_guard lock(impl.mutex);
  impl.threads = threads;
}
int Autoencoder::threads() const {
  Impl& impl = model_of(m_impl, "threads");
  std::lock_guard lock(impl.mutex);
  return resolve_threads(impl.threads);
}
int64_t Autoencoder::plans_built() const {
  std::lock_guard lock(model_of(m_impl, "plans_built").mutex);
  return m_impl->plans_before + (m_impl->compiled ? m_impl->compiled->plans_built() : 0);
}

}  // namespace ae
