// SpecOptions applied to a spec: see spec_options.h.
#include "graph/spec_options.h"

#include "kernels/common/error.h"

namespace ae {

std::string option_name(const std::string& flag, bool keyword_names) {
  if (!keyword_names) return "--" + flag;
  std::string k = flag;
  for (char& c : k)
    if (c == '-') c = '_';
  return k;
}

std::string SpecOptions::option(const std::string& flag) const { return option_name(flag, keyword_names); }

std::string SpecOptions::option(const std::string& flag, const std::string& value) const {
  return keyword_names ? option(flag) + "='" + value + "'" : option(flag) + " " + value;
}

Spec apply_spec_options(Spec s, const SpecOptions& o) {
  if (!o.adversarial.empty()) {
    if (s.adversarial.enabled())
      AE_FAIL(o.option("adversarial", o.adversarial), " and the spec's own discriminator (", s.to_compact(), ") both set it; give one");
    const PriorKind kept = s.adversarial.prior;
    s.adversarial = parse_discriminator(o.adversarial, o.option("adversarial"));
    s.adversarial.prior = kept;
    validate_spec(s, o.option("adversarial", o.adversarial));
  }
  if (!o.prior.empty()) {
    if (!s.adversarial.enabled())
      AE_FAIL(o.option("prior", o.prior), ": is the prior of an adversarial discriminator, but ", s.to_compact(),
              " has none; add one, e.g. ", o.option("adversarial", std::to_string(s.code_units()) + "-64r-64r-1"));
    const PriorKind p = parse_prior(o.prior, o.option("prior"));
    if (s.adversarial.prior != PriorKind::gaussian && s.adversarial.prior != p)
      AE_FAIL(o.option("prior", o.prior), " and the spec's own prior (", s.to_compact(), ") both set it; give one");
    s.adversarial.prior = p;
  }
  if (!o.sparsity.empty()) {
    if (s.sparsity.kind != Sparsity::Kind::none)
      AE_FAIL(o.option("sparsity", o.sparsity), " and the spec's own sparsity (", s.to_compact(), ") both set it; give one");
    s.sparsity = parse_sparsity(o.sparsity, o.option("sparsity"));
    validate_spec(s, o.option("sparsity", o.sparsity));
  }
  if (!o.noise.empty()) {
    if (s.noise.kind != NoiseKind::none)
      AE_FAIL(o.option("noise", o.noise), " and the spec's own noise (", s.to_compact(), ") both set it; give one");
    s.noise = parse_noise(o.noise, o.option("noise"));
    validate_spec(s, o.option("noise", o.noise));
  }
  if (!o.contractive.empty()) {
    if (s.contractive != 0)
      AE_FAIL(o.option("contractive", o.contractive), " and the spec's own contractive weight (", s.to_compact(), ") both set it; give one");
    s.contractive = parse_contractive(o.contractive, o.option("contractive"));
    validate_spec(s, o.option("contractive", o.contractive));
  }
  if ((!o.beta.empty() || !o.kl_warmup.empty()) && !s.variational())
    AE_FAIL(!o.beta.empty() ? o.option("beta", o.beta) : o.option("kl-warmup", o.kl_warmup), ": weighs a VAE's KL term, but ", s.to_compact(),
            " has no variational code layer; mark the code layer with the letter v, e.g. 784-400r-20v-400r-784s");
  if (!o.beta.empty() && s.beta != 1)
    AE_FAIL(o.option("beta", o.beta), " and the spec's own beta (", s.to_compact(), ") both set it; give one");
  if (!o.kl_warmup.empty() && s.kl_warmup != 0)
    AE_FAIL(o.option("kl-warmup", o.kl_warmup), " and the spec's own kl_warmup (", s.to_compact(), ") both set it; give one");
  if (!o.beta.empty()) {
    s.beta = parse_beta(o.beta, o.option("beta"));
    validate_spec(s, o.option("beta", o.beta));
  }
  if (!o.kl_warmup.empty()) {
    s.kl_warmup = parse_kl_warmup(o.kl_warmup, o.option("kl-warmup"));
    validate_spec(s, o.option("kl-warmup", o.kl_warmup));
  }
  if (o.tied && !s.tied) {
    s.tied = true;
    validate_spec(s, o.option("tied"));
  }
  return s;
}

}  // namespace ae
