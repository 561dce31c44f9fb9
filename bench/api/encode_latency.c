/* ae_bench_encode_latency: latency of one C API call, ae_model_encode of a single row, on one
 * thread — the cost a caller pays per request when it serves a model row by row. The model is
 * the default dense autoencoder 784-256r-32-256r-784s (fresh weights, seed 1: encode's cost does
 * not depend on the values). Each run times CALLS back-to-back calls after WARMUP untimed ones
 * and reports µs per call; the figure is the median over RUNS runs.
 *
 * One thread is enforced, not assumed: OpenMP reads OMP_NUM_THREADS when libgomp loads, before
 * main, so without OMP_NUM_THREADS=1 the program sets it and re-executes itself. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ae/ae.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(int argc, char** argv) {
  const char* spec = "784-256r-32-256r-784s";
  int calls = 5000, warmup = 500, runs = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--calls")) calls = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--spec")) spec = argv[i + 1];
    else {
      fprintf(stderr, "usage: %s [--calls N] [--runs R] [--spec SPEC]\n", argv[0]);
      return 2;
    }
  }
  if (calls < 1 || runs < 1 || runs > 101) {
    fprintf(stderr, "--calls must be >= 1 and --runs 1..101\n");
    return 2;
  }
  const char* omp = getenv("OMP_NUM_THREADS");
  if (!omp || strcmp(omp, "1") != 0) {
    setenv("OMP_NUM_THREADS", "1", 1);
    execv("/proc/self/exe", argv);
    perror("execv /proc/self/exe");
    return 1;
  }

  ae_model* m = NULL;
  if (ae_model_create(spec, 1, "mse", &m) != AE_OK) {
    fprintf(stderr, "ae_model_create: %s\n", ae_last_error());
    return 1;
  }
  const int64_t in = ae_model_input_width(m), code = ae_model_code_width(m);
  float* x = malloc(sizeof(float) * (size_t)in);
  float* out = malloc(sizeof(float) * (size_t)code);
  for (int64_t f = 0; f < in; ++f) x[f] = 0.5f + 0.5f * sinf((float)f);

  double us[101];
  double checksum = 0;
  for (int r = 0; r < runs; ++r) {
    for (int i = 0; i < warmup; ++i)
      if (ae_model_encode(m, x, 1, out) != AE_OK) {
        fprintf(stderr, "ae_model_encode: %s\n", ae_last_error());
        return 1;
      }
    double t0 = now_s();
    for (int i = 0; i < calls; ++i) {
      x[0] = (float)(i & 1);  /* the input changes, as it would between requests */
      ae_model_encode(m, x, 1, out);
      checksum += out[0];
    }
    us[r] = (now_s() - t0) * 1e6 / calls;
  }
  double sorted[101];
  memcpy(sorted, us, sizeof(double) * (size_t)runs);
  qsort(sorted, (size_t)runs, sizeof(double), cmp_double);
  printf("spec %s, 1 row, 1 thread (OMP_NUM_THREADS=%s), ae %s\n", spec, getenv("OMP_NUM_THREADS"), ae_version());
  printf("runs of %d calls (µs/call):", calls);
  for (int r = 0; r < runs; ++r) printf(" %.2f", us[r]);
  printf("\nmedian %.2f µs/call, min %.2f, max %.2f  (checksum %.6g)\n", sorted[runs / 2], sorted[0], sorted[runs - 1],
         checksum);
  ae_model_free(m);
  free(x);
  free(out);
  return 0;
}
