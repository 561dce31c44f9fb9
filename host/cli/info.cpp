// `ae info`: what a model file holds.
#include <cstdio>
#include <memory>

#include "host/cli/cli.h"
#include "runtime/model.h"

namespace ae::cli {

void add_info(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* s = app.add_subcommand("info", "Describe a model file: architecture, parameters, training history");
  s->add_option("--model", *path, "Model file (safetensors)")->required();
  s->callback([path] {
    Model m = Model::load(*path);
    std::printf("model: %s\nspec: %s (code: %lld units)\nparameters: %lld\nloss: %s\nsteps: %lld, epochs: %lld, seed: %llu\n",
                path->c_str(), m.spec.to_compact().c_str(), (long long)m.spec.code_units(), (long long)m.spec.parameter_count(),
                loss_name(m.loss), (long long)m.step, (long long)m.epoch, (unsigned long long)m.seed);
    for (size_t i = 0; i < m.params.count(); ++i) {
      const ParamInfo& p = m.params.info(i);
      if (p.rows == 1 && p.name.size() > 5 && p.name.compare(p.name.size() - 5, 5, ".bias") == 0)
        std::printf("  %-20s [%lld]\n", p.name.c_str(), (long long)p.cols);
      else
        std::printf("  %-20s [%lld, %lld]\n", p.name.c_str(), (long long)p.rows, (long long)p.cols);
    }
    if (!m.optimizer.empty()) std::printf("optimizer: %s\n", m.optimizer.dump().c_str());
    std::printf("normalization: %s\n", norm_kind_name(m.norm.kind));
    for (const auto& h : m.history) std::printf("  %s\n", h.dump().c_str());
  });
}

}  // namespace ae::cli
