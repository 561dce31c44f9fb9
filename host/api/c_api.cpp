// The C ABI over the C++ API: every exception becomes a status code and a thread-local message.
#include <new>
#include <string>

#include "ae/ae.h"
#include "ae/ae.hpp"
#include "kernels/common/error.h"

struct ae_model {
  ae::Autoencoder impl;
};

namespace {

thread_local std::string g_last_error;

template <typename F>
ae_status guarded(F&& f) {
  try {
    g_last_error.clear();
    f();
    return AE_OK;
  } catch (const ae::Error& e) {
    g_last_error = e.what();
    return AE_ERROR_INPUT;
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    return AE_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    g_last_error = ae::detail::one_line(e.what());  // a library's text: made one line like ae's own
    return AE_ERROR_INTERNAL;
  } catch (...) {
    g_last_error = "unknown internal error";
    return AE_ERROR_INTERNAL;
  }
}

ae_status invalid(const char* what) {
  g_last_error = what;
  return AE_ERROR_INVALID_ARGUMENT;
}

}  // namespace

extern "C" {

void ae_train_config_init(ae_train_config* c) {
  if (!c) return;
  c->epochs = 10;
  c->steps = -1;
  c->batch = 256;
  c->optimizer = "adam";
  c->lr = 0;
  c->shuffle = 1;
  c->threads = 0;
  c->normalize = "none";
  c->device = "cpu";
}

ae_status ae_model_create(const char* spec, uint64_t seed, const char* loss, ae_model** out) {
  if (!spec || !out) return invalid("ae_model_create: spec and out must not be null");
  *out = nullptr;
  return guarded([&] { *out = new ae_model{ae::Autoencoder::create(spec, seed, loss ? loss : "mse")}; });
}

ae_status ae_model_load(const char* path, ae_model** out) {
  if (!path || !out) return invalid("ae_model_load: path and out must not be null");
  *out = nullptr;
  return guarded([&] { *out = new ae_model{ae::Autoencoder::load(path)}; });
}

void ae_model_free(ae_model* m) { delete m; }

ae_status ae_model_save(const ae_model* m, const char* path) {
  if (!m || !path) return invalid("ae_model_save: model and path must not be null");
  return guarded([&] { m->impl.save(path); });
}

ae_status ae_model_train(ae_model* m, const float* x, int64_t rows, const ae_train_config* config, double* final_loss) {
  if (!m || (!x && rows > 0)) return invalid("ae_model_train: model and data must not be null");
  ae_train_config defaults;
  ae_train_config_init(&defaults);
  const ae_train_config& c = config ? *config : defaults;
  return guarded([&] {
    ae::TrainConfig tc;
    tc.epochs = c.epochs;
    tc.steps = c.steps;
    tc.batch = c.batch;
    tc.optimizer = c.optimizer ? c.optimizer : "adam";
    if (c.lr > 0) tc.lr = c.lr;
    tc.shuffle = c.shuffle != 0;
    tc.threads = c.threads;
    tc.normalize = c.normalize ? c.normalize : "none";
    tc.device = c.device ? c.device : "cpu";
    ae::TrainSummary s = m->impl.train(x, rows, tc);
    if (final_loss) *final_loss = s.train_loss;
  });
}

#define AE_C_FORWARD(fn, method, in_name)                                                             \
  ae_status fn(const ae_model* m, const float* in, int64_t rows, float* out) {                        \
    if (!m || !out || (!in && rows > 0)) return invalid(#fn ": model, " in_name " and out must not be null"); \
    if (rows < 0) return invalid(#fn ": rows must be >= 0");                                           \
    return guarded([&] { m->impl.method(in, rows, out); });                                           \
  }

AE_C_FORWARD(ae_model_encode, encode, "x")
AE_C_FORWARD(ae_model_decode, decode, "codes")
AE_C_FORWARD(ae_model_reconstruct, reconstruct, "x")
AE_C_FORWARD(ae_model_score, score, "x")

ae_status ae_model_set_threads(ae_model* m, int threads) {
  if (!m) return invalid("ae_model_set_threads: model must not be null");
  if (threads < 0) return invalid("ae_model_set_threads: threads must be >= 0 (0: OpenMP's default)");
  return guarded([&] { m->impl.set_threads(threads); });
}

ae_status ae_model_set_precision(ae_model* m, const char* precision) {
  if (!m || !precision) return invalid("ae_model_set_precision: model and precision must not be null");
  return guarded([&] { m->impl.set_precision(precision); });
}

int64_t ae_model_input_width(const ae_model* m) { return m ? m->impl.input_width() : -1; }
int64_t ae_model_code_width(const ae_model* m) { return m ? m->impl.code_width() : -1; }
const char* ae_last_error(void) { return g_last_error.c_str(); }
const char* ae_version(void) { return "0.1.0"; }

}  // extern "C"
