/* ae's C ABI: create or load an autoencoder, train it on float arrays, encode, decode,
 * reconstruct, score, save. Every call returns a status; on failure ae_last_error() gives a
 * one-line message for this thread. The library never aborts the calling process.
 * Threads: different models may be used from different threads at once; they share no mutable
 * state and each call runs with its model's own thread count (ae_model_set_threads), so the results
 * are bit for bit those of the same calls made one at a time. Calls on one model are serialised by
 * a lock inside it (it keeps its compiled plans between calls), so two threads encoding with the
 * same model take turns, and an encode during another thread's train sees the whole untrained or
 * the whole trained model, never a mix; give each thread its own model to run them in parallel.
 * ae_last_error() is per thread. */
#ifndef AE_AE_H
#define AE_AE_H

#include <stddef.h>
#include <stdint.h>

#include "ae/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ae_status {
  AE_OK = 0,
  AE_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a bad size, an unknown name */
  AE_ERROR_INPUT = 2,            /* bad spec, data or model file (the message names it) */
  AE_ERROR_OUT_OF_MEMORY = 3,
  AE_ERROR_INTERNAL = 4
} ae_status;

typedef struct ae_model ae_model;

typedef struct ae_train_config {
  int64_t epochs;        /* default 10 */
  int64_t steps;         /* exact optimizer steps; -1 (default) = use epochs */
  int64_t batch;         /* default 256 */
  const char* optimizer; /* "sgd", "adam" (default), "adamw", "rmsprop" */
  double lr;             /* <= 0: PyTorch's default for the optimizer */
  int shuffle;           /* default 1 */
  int threads;           /* 0 (default): the model's setting (unless ae_model_set_threads: OpenMP's
                            default, OMP_NUM_THREADS or else all cores); a count given here becomes
                            the model's setting for later calls */
  const char* normalize; /* "none" (default), "minmax", "zscore": fitted on this data, stored in the model */
  const char* device;    /* "cpu" (default) or "auto" */
} ae_train_config;

/* Fills *config with the defaults above. */
AE_API void ae_train_config_init(ae_train_config* config);

/* spec: "784-256r-32-256r-784s", JSON, or a .json file; loss: "mse" or "bce". */
AE_API ae_status ae_model_create(const char* spec, uint64_t seed, const char* loss, ae_model** out);
AE_API ae_status ae_model_load(const char* path, ae_model** out);
AE_API void ae_model_free(ae_model* model);
AE_API ae_status ae_model_save(const ae_model* model, const char* path);

/* x: [rows, input_width] row-major. On success *final_loss (if not null) is the last epoch's mean loss. */
AE_API ae_status ae_model_train(ae_model* model, const float* x, int64_t rows, const ae_train_config* config,
                                double* final_loss);
/* out: [rows, code_width] */
AE_API ae_status ae_model_encode(const ae_model* model, const float* x, int64_t rows, float* out);
/* codes: [rows, code_width]; out: [rows, input_width] */
AE_API ae_status ae_model_decode(const ae_model* model, const float* codes, int64_t rows, float* out);
/* out: [rows, input_width] */
AE_API ae_status ae_model_reconstruct(const ae_model* model, const float* x, int64_t rows, float* out);
/* out: [rows] — per-row reconstruction loss (the model's loss, averaged over the features); for a
   variational model the row's negative ELBO (the loss summed over the features + KL, one z per row) */
AE_API ae_status ae_model_score(const ae_model* model, const float* x, int64_t rows, float* out);

/* CPU threads every call on this model uses; 0 (the default) = OpenMP's default (OMP_NUM_THREADS, else all cores). Results are bitwise
 * reproducible for a given count; the calling thread's own OpenMP setting is left as it was. */
AE_API ae_status ae_model_set_threads(ae_model* model, int threads);

/* The precision every later call on this model computes in: "fp32" (the default); "bf16" (bf16
 * storage and GEMMs with fp32 accumulation and fp32 master weights: the cpu with AVX512_BF16, and
 * cuda); "fp16" (likewise, with dynamic loss scaling) and "tf32" (fp32 storage, tf32 tensor-core
 * GEMMs) on cuda. AE_ERROR_INPUT, naming the reason, when the model's device cannot run it; the
 * model keeps its precision then. A loaded model starts in fp32. */
AE_API ae_status ae_model_set_precision(ae_model* model, const char* precision);

AE_API int64_t ae_model_input_width(const ae_model* model);
AE_API int64_t ae_model_code_width(const ae_model* model);

/* The message of this thread's last failed call ("" if none); valid until the next ae call. */
AE_API const char* ae_last_error(void);
AE_API const char* ae_version(void);

#ifdef __cplusplus
}
#endif

#endif /* AE_AE_H */
