/* ae_bench_encode_latency: latency of one C API call, ae_model_encode of ROWS rows (default 1), on
 * one thread — the cost a caller pays per request. The model is the default dense autoencoder
 * 784-256r-32-256r-784s with fresh weights (seed 1; encode's cost does not depend on the values),
 * or a model file (--model). The input is a fixed synthetic row pattern whose first value changes
 * between calls, or the rows of a float32 NPY file (--data): call i then encodes block
 * i mod (file rows / ROWS) of ROWS consecutive rows, so a Python caller can time the same
 * sequence (bench/python/transform_speed.py). Each run times CALLS back-to-back calls after WARMUP
 * untimed ones and reports µs per call; the figure is the median over RUNS runs.
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

/* A little-endian float32, C-order, 2-D NPY file (format 1.0-3.0, what numpy.save writes):
 * returns its data [*rows, *cols] (malloc'd) or NULL with the reason printed. */
static float* read_npy_f32(const char* path, int64_t* rows, int64_t* cols) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return NULL;
  }
  unsigned char pre[12];
  float* data = NULL;
  char* header = NULL;
  if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] < 1 || pre[6] > 3) {
    fprintf(stderr, "%s: not an NPY file (format 1.0-3.0)\n", path);
    goto done;
  }
  size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
  if (pre[6] >= 2) { /* a 4-byte header length */
    if (fread(pre + 10, 1, 2, f) != 2) goto truncated;
    hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  }
  header = calloc(hlen + 1, 1);
  if (!header || fread(header, 1, hlen, f) != hlen) goto truncated;
  const char* shape = strstr(header, "'shape'");
  long long r = 0, c = 0;
  if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False") || !shape ||
      sscanf(strchr(shape, '('), "(%lld, %lld)", &r, &c) != 2 || r < 1 || c < 1) {
    fprintf(stderr, "%s: expected a 2-D float32 C-order array ('<f4', fortran_order False), header: %s\n", path,
            header);
    goto done;
  }
  data = malloc(sizeof(float) * (size_t)(r * c));
  if (!data || fread(data, sizeof(float), (size_t)(r * c), f) != (size_t)(r * c)) {
    free(data);
    data = NULL;
    goto truncated;
  }
  *rows = r, *cols = c;
  goto done;
truncated:
  fprintf(stderr, "%s: truncated NPY file\n", path);
done:
  free(header);
  fclose(f);
  return data;
}

int main(int argc, char** argv) {
  const char *spec = "784-256r-32-256r-784s", *model_path = NULL, *data_path = NULL;
  int calls = 5000, warmup = 500, runs = 7, json = 0;
  long long rows = 1;
  for (int i = 1; i < argc; ++i) {
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--json")) json = 1;
    else if (v && !strcmp(argv[i], "--calls")) calls = atoi(v), ++i;
    else if (v && !strcmp(argv[i], "--warmup")) warmup = atoi(v), ++i;
    else if (v && !strcmp(argv[i], "--runs")) runs = atoi(v), ++i;
    else if (v && !strcmp(argv[i], "--rows")) rows = atoll(v), ++i;
    else if (v && !strcmp(argv[i], "--spec")) spec = v, ++i;
    else if (v && !strcmp(argv[i], "--model")) model_path = v, ++i;
    else if (v && !strcmp(argv[i], "--data")) data_path = v, ++i;
    else {
      fprintf(stderr,
              "usage: %s [--calls N] [--warmup N] [--runs R] [--rows N] [--spec SPEC | --model FILE]"
              " [--data ROWS.npy] [--json]\n",
              argv[0]);
      return 2;
    }
  }
  if (calls < 1 || warmup < 0 || runs < 1 || runs > 101 || rows < 1) {
    fprintf(stderr, "--calls and --rows must be >= 1, --warmup >= 0 and --runs 1..101\n");
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
  if ((model_path ? ae_model_load(model_path, &m) : ae_model_create(spec, 1, "mse", &m)) != AE_OK) {
    fprintf(stderr, "%s: %s\n", model_path ? "ae_model_load" : "ae_model_create", ae_last_error());
    return 1;
  }
  const int64_t in = ae_model_input_width(m), code = ae_model_code_width(m);
  float* x = NULL;  /* [blocks * rows, in] */
  int64_t blocks = 1;
  if (data_path) {
    int64_t file_rows = 0, cols = 0;
    if (!(x = read_npy_f32(data_path, &file_rows, &cols))) return 1;
    if (cols != in || file_rows < rows) {
      fprintf(stderr, "%s holds [%lld, %lld]: the model needs %lld features, and --rows %lld at least as many rows\n",
              data_path, (long long)file_rows, (long long)cols, (long long)in, rows);
      return 1;
    }
    blocks = file_rows / rows;
  } else {
    x = malloc(sizeof(float) * (size_t)(rows * in));
    for (int64_t i = 0; i < rows * in; ++i) x[i] = 0.5f + 0.5f * sinf((float)(i % in));
  }
  float* out = malloc(sizeof(float) * (size_t)(rows * code));

  double us[101];
  double checksum = 0;
  for (int r = 0; r < runs; ++r) {
    for (int i = 0; i < warmup; ++i)
      if (ae_model_encode(m, x, rows, out) != AE_OK) {
        fprintf(stderr, "ae_model_encode: %s\n", ae_last_error());
        return 1;
      }
    double t0 = now_s();
    for (int i = 0; i < calls; ++i) {
      const float* xi = x + (i % blocks) * rows * in;
      if (!data_path) x[0] = (float)(i & 1); /* the input changes, as it would between requests */
      ae_model_encode(m, xi, rows, out);
      checksum += out[0];
    }
    us[r] = (now_s() - t0) * 1e6 / calls;
  }
  double sorted[101];
  memcpy(sorted, us, sizeof(double) * (size_t)runs);
  qsort(sorted, (size_t)runs, sizeof(double), cmp_double);
  const char* what = model_path ? model_path : spec;
  if (json) {
    printf("{\"engine\": \"c\", \"model\": \"%s\", \"rows\": %lld, \"calls\": %d, \"warmup\": %d, \"runs_us\": [", what,
           rows, calls, warmup);
    for (int r = 0; r < runs; ++r) printf("%s%.4f", r ? ", " : "", us[r]);
    printf("], \"median_us\": %.4f, \"threads\": \"%s\", \"ae\": \"%s\", \"checksum\": %.17g}\n", sorted[runs / 2],
           getenv("OMP_NUM_THREADS"), ae_version(), checksum);
  } else {
    printf("%s, %lld row%s per call from %s, 1 thread (OMP_NUM_THREADS=%s), ae %s\n", what, rows, rows == 1 ? "" : "s",
           data_path ? data_path : "a synthetic pattern", getenv("OMP_NUM_THREADS"), ae_version());
    printf("runs of %d calls (µs/call):", calls);
    for (int r = 0; r < runs; ++r) printf(" %.2f", us[r]);
    printf("\nmedian %.2f µs/call, min %.2f, max %.2f  (checksum %.6g)\n", sorted[runs / 2], sorted[0],
           sorted[runs - 1], checksum);
  }
  ae_model_free(m);
  free(x);
  free(out);
  return 0;
}
