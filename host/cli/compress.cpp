// `ae compress` and `ae decompress`: an autoencoder as a lossy codec. compress stores each row's
// code (float32, or quantised per unit to 8 or 16 bits) in an .aec file (host/latent/codes_file.h)
// and reports the sizes, ratios and the reconstruction error of decoding exactly what it stored;
// decompress decodes such a file with the model that wrote it, and refuses any other.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "host/cli/cli.h"
#include "host/latent/codes_file.h"
#include "kernels/common/error.h"
#include "runtime/compiled_model.h"
#include "runtime/infer.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {

struct CompressArgs {
  std::string model, data, codes, out, device = "cpu";
  int quantize = 0;
  int64_t batch = 1024, max_rows = -1;
  int threads = 0;
  bool quiet = false;
  DataArgs data_args;
};

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
  return buf;
}

// Rows decoded from codes [rows, units], in the data's units.
std::vector<float> decode(const Model& m, Backend& backend, const std::vector<float>& codes, int64_t rows, int64_t batch) {
  std::vector<float> y = run_forward(m, backend, GraphMode::decode, codes.data(), rows, batch);
  m.norm.invert(y.data(), rows, m.spec.input);
  return y;
}

void run_compress(const CompressArgs& a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  if (a.quantize != 0 && a.quantize != 8 && a.quantize != 16)
    AE_FAIL("--quantize ", a.quantize, ": expected 8 or 16 (bits per code value; without it, float32)");
  check_output_path(a.out, "--out", {".aec"});
  check_distinct({{"--out", a.out}, {"--model", a.model}, {"--data", a.data}});
  check_row_limit(a.max_rows, "--max-rows");
  const Model model = Model::load(a.model);
  auto backend = make_backend(a.device);
  Dataset in = load_model_data(model, a.model, a.data, "--data", a.max_rows, a.data_args);
  const std::vector<float> raw = in.x.data;  // in the data's units, for the error
  model.norm.apply(in.x.data.data(), in.x.rows, in.x.cols);
  latent::CodesFile f;
  f.rows = in.x.rows, f.units = model.spec.code_units(), f.quant_bits = a.quantize;
  f.fingerprint = latent::model_fingerprint(model);
  f.spec = model.spec.to_compact();
  CompiledModel compiled(model, *backend);
  f.codes = encode_rows(compiled, in.x, a.batch, "--data", a.quiet);
  const std::vector<float> exact = f.codes;
  const uint64_t code_bytes = latent::write_codes_file(a.out, f);  // f.codes: now what was stored

  const PsnrPeak peak = psnr_peak(raw.data(), raw.size());
  auto fidelity = [&](const std::vector<float>& codes) {
    const std::vector<float> y = decode(model, *backend, codes, f.rows, a.batch);
    return fidelity_text(mse_per_element(y.data(), raw.data(), raw.size()), peak.peak);
  };
  const uint64_t raw_bytes = uint64_t(in.x.rows) * uint64_t(in.x.cols) * 4;
  std::error_code ec;
  const uintmax_t file_bytes = std::filesystem::file_size(a.data, ec);
  const std::string kind = a.quantize ? std::to_string(a.quantize) + "-bit quantised" : std::string("float32");
  std::printf("compressed %lld rows × %lld features of %s to %lld %s code values each (%s)\n", (long long)in.x.rows,
              (long long)in.x.cols, a.data.c_str(), (long long)f.units, kind.c_str(), a.out.c_str());
  std::printf("raw float32: %llu bytes; %s: %llu bytes on disk; codes: %llu bytes\n", (unsigned long long)raw_bytes, a.data.c_str(),
              ec ? 0ull : (unsigned long long)file_bytes, (unsigned long long)code_bytes);
  std::printf("ratio: %.1f× against raw float32", double(raw_bytes) / double(code_bytes));
  if (!ec) std::printf(", %.2f× against the input file", double(file_bytes) / double(code_bytes));
  std::printf("\n");
  std::printf("reconstruction from the stored codes (PSNR peak %g%s): %s\n", peak.peak,
              peak.unit ? ", values in [0, 1]" : ", the data's max − min", fidelity(f.codes).c_str());
  if (a.quantize) std::printf("reconstruction from the float32 codes, for comparison: %s\n", fidelity(exact).c_str());
}

void run_decompress(const CompressArgs& a) {
  apply_threads(a.threads);
  if (a.batch < 1) AE_FAIL("--batch must be ≥ 1, got ", a.batch);
  check_output_path(a.out, "--out", {".npy", ".csv", ".tsv"});
  check_distinct({{"--out", a.out}, {"--model", a.model}, {"--codes", a.codes}});
  const Model model = Model::load(a.model);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(a.codes, ec)) AE_FAIL("--codes ", a.codes, ": no such file");
  const latent::CodesFile f = latent::read_codes_file(a.codes);
  const uint64_t fp = latent::model_fingerprint(model);
  if (f.fingerprint != fp || f.units != model.spec.code_units())
    AE_FAIL("--codes ", a.codes, " was written by another model (spec ", f.spec, ", ", f.units, " units, fingerprint ",
            hex64(f.fingerprint), ") than --model ", a.model, " (spec ", model.spec.to_compact(), ", fingerprint ",
            hex64(fp), "); decode it with the model that compressed it");
  auto backend = make_backend(a.device);
  const std::vector<float> y = decode(model, *backend, f.codes, f.rows, a.batch);
  std::vector<std::string> header;  // the training data's column names, when a CSV gave them
  if (model.data.contains("columns") && model.data["columns"].size() == size_t(model.spec.input))
    header = model.data["columns"].get<std::vector<std::string>>();
  save_matrix(a.out, y.data(), f.rows, model.spec.input, header);
  std::printf("decoded %lld rows (%lld %s code values each) from %s → %s [%lld × %lld]\n", (long long)f.rows, (long long)f.units,
              f.quant_bits ? (std::to_string(f.quant_bits) + "-bit").c_str() : "float32", a.codes.c_str(), a.out.c_str(),
              (long long)f.rows, (long long)model.spec.input);
}

void add_common(CLI::App& s, CompressArgs& a) {
  s.add_option("--model", a.model, "Model file (safetensors)")->required();
  add_run_options(s, a.batch, a.threads, a.device, a.quiet);
}

}  // namespace

void add_compress(CLI::App& app) {
  auto a = std::make_shared<CompressArgs>();
  auto* s = app.add_subcommand("compress", "Store each row's code in an .aec file: the autoencoder as a lossy codec");
  s->add_option("--data", a->data, "Data: IDX, NPY or CSV")->required();
  s->add_option("--out", a->out, "Codes file (.aec)")->required();
  s->add_option("--quantize", a->quantize, "Quantise each code unit to 8 or 16 bits (min/max per unit) [default: float32]");
  s->add_option("--max-rows", a->max_rows, "Only the first N rows");
  add_data_options(*s, a->data_args);
  add_common(*s, *a);
  s->callback([a] { run_compress(*a); });

  auto b = std::make_shared<CompressArgs>();
  auto* d = app.add_subcommand("decompress", "Decode an .aec codes file with the model that wrote it");
  d->add_option("--codes", b->codes, "Codes file (.aec) from ae compress")->required();
  d->add_option("--out", b->out, "Output file: .npy, .csv or .tsv")->required();
  add_common(*d, *b);
  d->callback([b] { run_decompress(*b); });
}

}  // namespace ae::cli
