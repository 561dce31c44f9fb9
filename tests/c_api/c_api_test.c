/* A C program driving libae.so through ae.h end to end: create, train, encode, decode,
 * reconstruct, score, save, load, and the error paths. Exits non-zero on the first failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ae/ae.h"

static int checks = 0;
#define CHECK(cond, ...)                                    \
  do {                                                      \
    ++checks;                                               \
    if (!(cond)) {                                          \
      fprintf(stderr, "c_api_test:%d: %s: ", __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                         \
      fprintf(stderr, "\n");                                \
      exit(1);                                              \
    }                                                       \
  } while (0)

enum { ROWS = 200, IN = 20, CODE = 3 };

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "c_api_test.safetensors";
  static float x[ROWS * IN], codes[ROWS * CODE], dec[ROWS * IN], rec[ROWS * IN], rec2[ROWS * IN], score[ROWS];
  /* rows on a 3-dimensional linear manifold, so a 3-unit code can learn them */
  double var = 0;
  for (int r = 0; r < ROWS; ++r) {
    float a = (float)r / ROWS - 0.5f, b = (float)((r * 7) % ROWS) / ROWS - 0.5f, c = (float)((r * 13) % ROWS) / ROWS - 0.5f;
    for (int f = 0; f < IN; ++f) {
      x[r * IN + f] = 0.5f + 0.6f * (a * sinf(f + 1.f) + b * cosf(2.f * f) + c * sinf(3.f * f + 0.5f));
      var += (x[r * IN + f] - 0.5) * (x[r * IN + f] - 0.5) / (ROWS * IN);
    }
  }

  ae_model* bad = NULL;
  ae_status s = ae_model_create("20-8x-3-20", 1, "mse", &bad);
  CHECK(s == AE_ERROR_INPUT, "bad spec gave status %d", (int)s);
  CHECK(bad == NULL, "no model on failure");
  CHECK(strstr(ae_last_error(), "unknown activation letter 'x'") != NULL, "message: %s", ae_last_error());
  CHECK(ae_model_load("/nonexistent/model.safetensors", &bad) == AE_ERROR_INPUT, "missing file");
  CHECK(strstr(ae_last_error(), "/nonexistent/model.safetensors") != NULL, "message names the file: %s", ae_last_error());
  CHECK(ae_model_create(NULL, 1, "mse", &bad) == AE_ERROR_INVALID_ARGUMENT, "null spec");

  ae_model* m = NULL;
  CHECK(ae_model_create("20-12t-3-12t-20", 7, "mse", &m) == AE_OK, "%s", ae_last_error());
  CHECK(ae_model_input_width(m) == IN && ae_model_code_width(m) == CODE, "widths");
  CHECK(ae_model_set_threads(m, -1) == AE_ERROR_INVALID_ARGUMENT, "negative thread count");
  CHECK(ae_model_set_threads(m, 1) == AE_OK, "%s", ae_last_error());
  CHECK(ae_model_set_precision(m, "fp16") == AE_ERROR_INPUT, "fp16 on the cpu device");
  CHECK(strstr(ae_last_error(), "fp16") != NULL && strstr(ae_last_error(), "cpu") != NULL, "message: %s", ae_last_error());
  CHECK(ae_model_set_precision(m, "tf32") == AE_ERROR_INPUT, "tf32 on the cpu device");
  CHECK(strstr(ae_last_error(), "tf32") != NULL, "message: %s", ae_last_error());
  CHECK(ae_model_set_precision(m, "fp8") == AE_ERROR_INPUT, "unknown precision");
  CHECK(strstr(ae_last_error(), "fp32, bf16, fp16, tf32") != NULL, "message lists the choices: %s", ae_last_error());
  CHECK(ae_model_set_precision(m, NULL) == AE_ERROR_INVALID_ARGUMENT, "null precision");
  CHECK(ae_model_set_precision(m, "fp32") == AE_OK, "%s", ae_last_error());
  CHECK(ae_model_score(m, x, ROWS, score) == AE_OK, "%s", ae_last_error());
  double before = 0;
  for (int r = 0; r < ROWS; ++r) before += score[r] / ROWS;

  ae_train_config cfg;
  ae_train_config_init(&cfg);
  cfg.epochs = 150;
  cfg.batch = 20;
  cfg.lr = 1e-2;
  cfg.threads = 1;
  cfg.normalize = "zscore";
  double loss = -1;
  CHECK(ae_model_train(m, x, ROWS, &cfg, &loss) == AE_OK, "%s", ae_last_error());
  CHECK(isfinite(loss), "final loss %g", loss);
  cfg.optimizer = "adagrad";
  CHECK(ae_model_train(m, x, ROWS, &cfg, NULL) == AE_ERROR_INPUT, "unknown optimizer accepted");
  CHECK(strstr(ae_last_error(), "adagrad") != NULL, "message: %s", ae_last_error());

  CHECK(ae_model_encode(m, x, ROWS, codes) == AE_OK, "%s", ae_last_error());
  CHECK(ae_model_decode(m, codes, ROWS, dec) == AE_OK, "%s", ae_last_error());
  CHECK(ae_model_reconstruct(m, x, ROWS, rec) == AE_OK, "%s", ae_last_error());
  double err = 0, diff = 0;
  for (int i = 0; i < ROWS * IN; ++i) {
    err += (rec[i] - x[i]) * (rec[i] - x[i]) / (ROWS * IN);
    diff = fmax(diff, fabs(rec[i] - dec[i]));
  }
  CHECK(diff < 1e-5, "reconstruct != decode(encode): %g", diff);
  CHECK(err < 0.1 * var, "reconstruction MSE %g in data units, data variance %g", err, var);
  CHECK(ae_model_score(m, x, ROWS, score) == AE_OK, "%s", ae_last_error());
  double after = 0;
  for (int r = 0; r < ROWS; ++r) after += score[r] / ROWS;
  CHECK(after < before, "training did not lower the score: %g -> %g", before, after);

  CHECK(ae_model_save(m, path) == AE_OK, "%s", ae_last_error());
  ae_model* m2 = NULL;
  CHECK(ae_model_load(path, &m2) == AE_OK, "%s", ae_last_error());
  CHECK(ae_model_reconstruct(m2, x, ROWS, rec2) == AE_OK, "%s", ae_last_error());
  CHECK(memcmp(rec, rec2, sizeof rec) == 0, "loaded model reconstructs differently");
  CHECK(ae_model_encode(m2, NULL, ROWS, codes) == AE_ERROR_INVALID_ARGUMENT, "null data accepted");
  ae_model_free(m);
  ae_model_free(m2);
  ae_model_free(NULL);
  remove(path);
  printf("c_api_test: %d checks passed (loss %.3g → score %.3g, reconstruction MSE %.3g)\n", checks, before, after, err);
  return 0;
}
