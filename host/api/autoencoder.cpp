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

#include "ae/ae.hpp"
#include "kernels/common/error.h"
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

Autoencoder Autoencoder::load(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->model = Model::load(path);
  return Autoencoder(std::move(impl));
}

TrainSummary Autoencoder::train(const float* x, int64_t rows, const TrainConfig& c) {
  AE_CHECK(x != nullptr || rows == 0, "train: data pointer is null");
  AE_CHECK(c.threads >= 0, "train: threads=", c.threads, " must be ≥ 0 (0: the model's setting)");
  Impl& impl = model_of(m_impl, "train");
  std::lock_guard lock(impl.mutex);
  // A count given here stays the model's, so encode after train runs as training did.
  if (c.threads > 0) impl.threads = c.threads;
  ThreadsScope scope(resolve_threads(impl.threads));
  TrainOptions o;
  o.epochs = c.epochs;
  o.steps = c.steps;
  o.batch = c.batch;
  o.shuffle = c.shuffle;
  o.opt = cpu::make_opt_config(c.optimizer, c.lr, c.momentum, c.weight_decay, c.nesterov, "optimizer");
  m_impl->drop_plans();  // they hold the old backend's memory
  m_impl->backend = make_backend(c.device);
  Model& m = m_impl->model;
  m.norm = Normalizer::fit(parse_norm_kind(c.normalize, "normalize"), x, rows, m.spec.input);
  std::vector<float> data(x, x + rows * m.spec.input);
  m.norm.apply(data.data(), rows, m.spec.input);
  // train() bumps the parameters' version when it syncs them back, so plans compiled later (or
  // kept by a caller across this call) read the trained weights.
  TrainResult r = ae::train(m, *m_impl->backend, DataView{data.data(), rows, m.spec.input}, nullptr, o, nullptr);
  return TrainSummary{r.steps, r.final_train_loss, r.seconds};
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
// The spec never changes after create/load: no lock needed.
int64_t Autoencoder::input_width() const { return model_of(m_impl, "input_width").model.spec.input; }
int64_t Autoencoder::code_width() const { return model_of(m_impl, "code_width").model.spec.code_units(); }
std::string Autoencoder::spec() const { return model_of(m_impl, "spec").model.spec.to_compact(); }
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
