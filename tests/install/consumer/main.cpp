// Consumer of the installed ae: create an autoencoder, train it a few steps on synthetic data,
// encode, reconstruct, save, load, and print what run.sh checks. Exits non-zero on any mismatch.
#include <ae/ae.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: app MODEL_PATH\n");
    return 2;
  }
  try {
    const int64_t rows = 256, width = 16;
    // Rows on a 2-dimensional curve in [0.1, 0.9]^16: learnable through an 4-unit code.
    std::vector<float> x(size_t(rows * width));  // [rows, width]
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < width; ++c)
        x[size_t(r * width + c)] = 0.5f + 0.4f * std::sin(0.05f * float(r) + 0.4f * float(c)) * std::cos(0.013f * float(r * c));
    ae::Autoencoder model = ae::Autoencoder::create("16-12t-4-12t-16s", 42);
    const double before = model.loss(x.data(), rows);
    ae::TrainConfig config;
    config.steps = 200;
    config.batch = 32;
    config.lr = 0.01;
    config.threads = 1;
    ae::TrainSummary summary = model.train(x.data(), rows, config);
    const double after = model.loss(x.data(), rows);
    std::vector<float> codes = model.encode(x.data(), rows);
    std::vector<float> rec = model.reconstruct(x.data(), rows);
    model.save(argv[1]);
    ae::Autoencoder loaded = ae::Autoencoder::load(argv[1]);
    std::vector<float> codes2 = loaded.encode(x.data(), rows);
    const bool same = codes == codes2;

    std::printf("spec %s\n", model.spec().c_str());
    std::printf("steps %lld\n", (long long)summary.steps);
    std::printf("loss %.6f -> %.6f\n", before, after);
    std::printf("codes %zu = %lld x %lld\n", codes.size(), (long long)rows, (long long)model.code_width());
    std::printf("reconstruction %zu\n", rec.size());
    std::printf("reloaded %s\n", same ? "identical" : "DIFFERENT");
    if (codes.size() != size_t(rows * model.code_width()) || rec.size() != x.size() || !same || !(after < 0.5 * before) ||
        summary.steps != 200) {
      std::fprintf(stderr, "app: unexpected result\n");
      return 1;
    }
    // A bad spec is reported as an exception (ae::Error, a std::runtime_error; the installed
    // headers do not declare ae::Error, so a user catches the base) across the shared library.
    try {
      ae::Autoencoder::create("16-12q-16s");
      std::fprintf(stderr, "app: a bad spec was accepted\n");
      return 1;
    } catch (const std::runtime_error& e) {
      std::printf("error caught: %s\n", e.what());
      if (!std::strstr(e.what(), "'q'")) return 1;
    }
    std::printf("ok\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "app: %s\n", e.what());
    return 1;
  }
  return 0;
}
