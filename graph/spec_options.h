// The kinds and regularisers a spec can be given beside its layers — the CLI's --tied, --sparsity,
// --noise, --contractive, --beta, --kl-warmup, --adversarial and --prior, the C++ API's
// ModelOptions and the Python estimator's keyword arguments — applied to a parsed spec in one place,
// so the three agree on syntax, on what may be combined and on the errors.
#pragma once

#include <string>

#include "graph/spec.h"

namespace ae {

// How an error names an option: as a flag ("--kl-warmup") or as a keyword argument ("kl_warmup").
// The one rule for the CLI and the C++/Python APIs (SpecOptions here, TrainSettings in the trainer).
std::string option_name(const std::string& flag, bool keyword_names);

struct SpecOptions {
  bool tied = false;
  std::string sparsity, noise, contractive, beta, kl_warmup, adversarial, prior;  // "" = not given
  // How errors name an option: false, as a flag ("--kl-warmup 100"); true, as a keyword argument
  // ("kl_warmup='100'").
  bool keyword_names = false;

  std::string option(const std::string& flag) const;                            // "--kl-warmup" | "kl_warmup"
  std::string option(const std::string& flag, const std::string& value) const;  // with its value
};

// `spec` with the given options applied and validated. An option the spec already sets itself
// (its own sparsity, noise, discriminator, ...) is refused: give one.
Spec apply_spec_options(Spec spec, const SpecOptions& options);

}  // namespace ae
