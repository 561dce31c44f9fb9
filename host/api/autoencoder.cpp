// The C++ API over the runtime: a Model plus a backend.
#include <omp.h>

#include <thread>

#include "ae/ae.hpp"
#include "kernels/common/error.h"
#include "kernels/cpu/gemm.h"
#include "runtime/infer.h"
#include "runtime/trainer.h"

namespace ae {

struct Autoencoder::Impl {
  Model model;
  std::unique_ptr<Backend> backend = make_backend("cpu");
};

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
  int threads = c.threads > 0 ? c.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);
  cpu::set_gemm_threads(threads);
  TrainOptions o;
  o.epochs = c.epochs;
  o.steps = c.steps;
  o.batch = c.batch;
  o.shuffle = c.shuffle;
  o.opt = cpu::make_opt_config(c.optimizer, c.lr, c.momentum, c.weight_decay, c.nesterov, "optimizer");
  m_impl->backend = make_backend(c.device);
  Model& m = m_impl->model;
  m.norm = Normalizer::fit(parse_norm_kind(c.normalize, "normalize"), x, rows, m.spec.input);
  std::vector<float> data(x, x + rows * m.spec.input);
  m.norm.apply(data.data(), rows, m.spec.input);
  TrainResult r = ae::train(m, *m_impl->backend, DataView{data.data(), rows, m.spec.input}, nullptr, o, nullptr);
  return TrainSummary{r.steps, r.final_train_loss, r.seconds};
}

namespace {
std::vector<float> normalised(const Model& m, const float* x, int64_t rows) {
  AE_CHECK(x != nullptr || rows == 0, "data pointer is null");
  AE_CHECK(rows >= 0, "rows must be ≥ 0");
  std::vector<float> v(x, x + rows * m.spec.input);
  m.norm.apply(v.data(), rows, m.spec.input);
  return v;
}
}  // namespace

std::vector<float> Autoencoder::encode(const float* x, int64_t rows) const {
  auto v = normalised(m_impl->model, x, rows);
  return run_forward(m_impl->model, *m_impl->backend, GraphMode::encode, v.data(), rows);
}
std::vector<float> Autoencoder::decode(const float* codes, int64_t rows) const {
  AE_CHECK(codes != nullptr || rows == 0, "codes pointer is null");
  auto out = run_forward(m_impl->model, *m_impl->backend, GraphMode::decode, codes, rows);
  m_impl->model.norm.invert(out.data(), rows, m_impl->model.spec.input);
  return out;
}
std::vector<float> Autoencoder::reconstruct(const float* x, int64_t rows) const {
  auto v = normalised(m_impl->model, x, rows);
  auto out = run_forward(m_impl->model, *m_impl->backend, GraphMode::reconstruct, v.data(), rows);
  m_impl->model.norm.invert(out.data(), rows, m_impl->model.spec.input);
  return out;
}
std::vector<float> Autoencoder::score(const float* x, int64_t rows) const {
  auto v = normalised(m_impl->model, x, rows);
  std::vector<float> s;
  evaluate(m_impl->model, *m_impl->backend, DataView{v.data(), rows, m_impl->model.spec.input}, 1024, &s);
  return s;
}
double Autoencoder::loss(const float* x, int64_t rows) const {
  auto v = normalised(m_impl->model, x, rows);
  return evaluate(m_impl->model, *m_impl->backend, DataView{v.data(), rows, m_impl->model.spec.input}, 1024);
}
void Autoencoder::save(const std::string& path) const { m_impl->model.save(path); }
int64_t Autoencoder::input_width() const { return m_impl->model.spec.input; }
int64_t Autoencoder::code_width() const { return m_impl->model.spec.code_units(); }
std::string Autoencoder::spec() const { return m_impl->model.spec.to_compact(); }

}  // namespace ae
