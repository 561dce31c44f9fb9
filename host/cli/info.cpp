// `ae info`: what a model file holds — architecture, parameters, training data, normalisation,
// anomaly threshold, optimizer and training history.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "graph/param_registry.h"
#include "host/cli/cli.h"
#include "kernels/cpu/init.h"
#include "runtime/model.h"

namespace ae::cli {

namespace {

// A denoising model's corruption in words: its settings and the data range it uses (recorded by
// the first training; "0" and "1" stand in until then, as the kernels read it).
std::string describe_noise(const Noise& n) {
  if (n.kind == NoiseKind::none) return "none";
  char lo[32], hi[32], b[200];
  std::snprintf(lo, sizeof lo, "%g", n.has_range ? n.lo : 0.0);
  std::snprintf(hi, sizeof hi, "%g", n.has_range ? n.hi : 1.0);
  if (n.kind == NoiseKind::mask) std::snprintf(b, sizeof b, "each element set to 0 with probability %g", n.p);
  else if (n.kind == NoiseKind::gaussian && !n.clip) std::snprintf(b, sizeof b, "σ %g gaussian noise added to each element", n.p);
  else if (n.kind == NoiseKind::gaussian) std::snprintf(b, sizeof b, "σ %g gaussian noise added, clipped to [%s, %s]", n.p, lo, hi);
  else std::snprintf(b, sizeof b, "with probability %g an element becomes %s or %s, half each", n.p, lo, hi);
  return n.to_string() + " (" + b + "; training inputs only, the targets are clean)";
}

// The contractive penalty's weight and what it adds to the training loss.
std::string describe_contractive(double lambda) {
  if (lambda == 0) return "none";
  char b[200];
  std::snprintf(b, sizeof b, "λ %g (adds λ·(1/B)·Σ_b ‖∂code/∂x_b‖²_F, the encoder's Jacobian, to the training loss)", lambda);
  return b;
}

void print_model(const std::string& path) {
  Model m = Model::load(path);
  std::printf("model: %s\n", path.c_str());
  std::printf("spec: %s (input %lld, code %lld, %lld layers)\n", m.spec.to_compact().c_str(), (long long)m.spec.input,
              (long long)m.spec.code_units(), (long long)m.spec.num_layers());
  std::printf("parameters: %lld (%.2f MiB fp32)\n", (long long)m.spec.parameter_count(),
              double(m.spec.parameter_count()) * 4.0 / (1 << 20));
  const ParamRegistry reg = param_registry(m.spec);
  const std::vector<Shape> shapes = m.spec.convolutional() ? m.spec.layer_shapes() : std::vector<Shape>();
  for (int64_t l = 0; l < m.spec.num_layers(); ++l) {
    const LayerParams& lp = reg.layers[size_t(l)];
    const LayerSpec& ls = m.spec.layer(l);
    if (ls.kind != LayerKind::dense) {  // a convolutional layer: its weight in PyTorch's layout, or none
      const std::string out = "-> " + shape_string(shapes[size_t(l)]);
      if (lp.weight < 0) {
        std::printf("  %-18s %s %s\n", layer_param_prefix(m.spec, l).c_str(), layer_kind_name(ls.kind), out.c_str());
        continue;
      }
      const ParamDef& w = reg.params[size_t(lp.weight)];
      std::printf("  %-18s %s  %s %s, %s, %s init\n", w.name.c_str(), shape_string(w.dims).c_str(), layer_kind_name(ls.kind), out.c_str(),
                  act_name(ls.act), cpu::init_scheme_name(ls.act));
      if (lp.bias >= 0) std::printf("  %-18s [%lld]\n", reg.params[size_t(lp.bias)].name.c_str(), (long long)ls.channels);
      continue;
    }
    const ParamDef &w = reg.params[size_t(lp.weight)], &b = reg.params[size_t(lp.bias)];
    if (!w.file_names.empty()) {  // a VAE's heads: one GEMM inside ae, two tensors in the file
      for (size_t h = 0; h < w.file_names.size(); ++h)
        std::printf("  %-18s [%lld, %lld]  linear head (%s)\n", w.file_names[h].c_str(), (long long)(w.rows() / 2),
                    (long long)w.cols(), h == 0 ? "the code's mean μ" : "its log-variance log σ²");
      for (const std::string& name : b.file_names) std::printf("  %-18s [%lld]\n", name.c_str(), (long long)(b.cols() / 2));
      continue;
    }
    if (lp.trans_w)
      std::printf("  %-18s tied: %s transposed, [%lld, %lld]  %s\n", lp.weight_name.c_str(),
                  w.name.c_str(), (long long)w.cols(), (long long)w.rows(), act_name(m.spec.layer(l).act));
    else
      std::printf("  %-18s [%lld, %lld]  %s, %s init\n", w.name.c_str(), (long long)w.rows(), (long long)w.cols(),
                  act_name(m.spec.layer(l).act), cpu::init_scheme_name(m.spec.layer(l).act));
    std::printf("  %-18s [%lld]\n", b.name.c_str(), (long long)b.cols());
  }
  for (size_t l = 0; l < reg.discriminator.size(); ++l) {  // an adversarial autoencoder's discriminator
    const LayerParams& lp = reg.discriminator[l];
    const ParamDef &w = reg.params[size_t(lp.weight)], &b = reg.params[size_t(lp.bias)];
    const Act act = m.spec.adversarial.layers[l].act;
    std::printf("  %-18s [%lld, %lld]  %s, %s init%s\n", w.name.c_str(), (long long)w.rows(), (long long)w.cols(), act_name(act),
                cpu::init_scheme_name(act), l + 1 == reg.discriminator.size() ? " (the logit)" : "");
    std::printf("  %-18s [%lld]\n", b.name.c_str(), (long long)b.cols());
  }
  std::printf("loss: %s\n", loss_name(m.loss));
  std::printf("precision: %s%s\n", precision_name(m.precision),
              m.precision == DType::f32 ? "" : (" (trained with " + precision_description(m.precision) + ")").c_str());
  const auto bytes = std::filesystem::file_size(path);
  std::printf("stored: %s weights, file %llu bytes (%.2f MiB)%s\n", precision_name(m.save_dtype), (unsigned long long)bytes,
              double(bytes) / (1 << 20),
              m.save_dtype == DType::f32 ? "" : "; read as their exact fp32 values (ae train --save-dtype rounded them)");
  std::printf("noise: %s\n", describe_noise(m.spec.noise).c_str());
  std::printf("contractive: %s\n", describe_contractive(m.spec.contractive).c_str());
  if (m.spec.variational())
    std::printf("variational: code z = μ + σ·ε (%lld units), KL to N(0, I) weighted by β %g%s; generative: ae sample draws from it\n",
                (long long)m.spec.code_units(), m.spec.beta,
                m.spec.kl_warmup > 0 ? (", warmed up over " + std::to_string(m.spec.kl_warmup) + " steps").c_str() : "");
  if (m.spec.adversarial.enabled())
    std::printf("adversarial: discriminator %s on the code, %s prior (%s per unit); each training step: reconstruction, "
                "discriminator (d_real, d_fake), generator (gen)\n",
                m.spec.adversarial.to_string().c_str(), prior_kind_name(m.spec.adversarial.prior),
                m.spec.adversarial.prior == PriorKind::uniform ? "U[-1, 1)" : "N(0, 1)");
  std::printf("steps: %lld, epochs: %lld, seed: %llu\n", (long long)m.step, (long long)m.epoch, (unsigned long long)m.seed);
  if (!m.data.empty()) std::printf("data: %s\n", m.data.dump().c_str());
  std::printf("normalisation: %s\n", norm_kind_name(m.norm.kind));
  if (m.threshold.is_null()) std::printf("threshold: none (train with --contamination q to store one)\n");
  else std::printf("threshold: %s\n", m.threshold.dump().c_str());
  if (m.code_median.empty()) std::printf("code statistics: none (ae hash needs --fit FILE, or a sigmoid code)\n");
  else
    std::printf("code statistics: per-unit medians and standard deviations of the %zu code units, fitted on %lld training rows "
                "(ae hash thresholds)\n", m.code_median.size(), (long long)m.code_stats_rows);
  if (!m.optimizer.empty()) std::printf("optimizer: %s\n", m.optimizer.dump().c_str());
  if (!m.history.empty()) {
    std::printf("history:\n  %8s %7s %12s %12s\n", "step", "epoch", "train loss", "val loss");
    for (const auto& h : m.history) {
      double val = h.contains("val_loss") && h["val_loss"].is_number() ? h["val_loss"].get<double>() : NAN;
      std::string terms;  // several objective terms: each one's mean, after the losses
      if (h.contains("terms") && h["terms"].is_object())
        for (const auto& [name, v] : h["terms"].items())
          if (v.is_number()) terms += "  " + name + " " + std::to_string(v.get<double>());
      std::printf("  %8lld %7lld %12.6f %12s%s\n", (long long)h.value("step", int64_t(0)), (long long)h.value("epoch", int64_t(0)),
                  h.value("train_loss", NAN), std::isnan(val) ? "-" : std::to_string(val).c_str(), terms.c_str());
    }
  }
}

}  // namespace

void add_info(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* s = app.add_subcommand("info", "Describe a model file: architecture, data, normalisation, threshold, history");
  s->add_option("--model", *path, "Model file (safetensors)")->required();
  s->callback([path] { print_model(*path); });
}

}  // namespace ae::cli
