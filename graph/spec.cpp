// Spec parsing and validation (compact string and JSON).
#include "graph/spec.h"

#include "graph/json_text.h"
#include "graph/param_registry.h"
#include "graph/spec_conv.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace ae {

namespace {
// The shortest of %.15g and %.17g that reads back as v: "0.1", not "0.10000000000000001". A value
// that is a float (a data range taken from float data) prints as the float's shortest form:
// 0.1002f is "0.1002", not "0.10019999742507935"; it reads back as the same float.
std::string shortest(double v) {
  char b[40];
  if (double(float(v)) == v)
    for (int digits = 6; digits <= 9; ++digits) {
      std::snprintf(b, sizeof b, "%.*g", digits, v);
      if (std::strtof(b, nullptr) == float(v)) return b;
    }
  std::snprintf(b, sizeof b, "%.15g", v);
  if (std::strtod(b, nullptr) != v) std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}


constexpr int64_t MAX_UNITS = int64_t(1) << 24;
// A spec nests 3 deep. nlohmann's dump() (in messages) recurses per level, so a 200 KB "[[[[..."
// overflowed the stack (SIGSEGV): deeper documents are refused while parsing.
constexpr int MAX_JSON_DEPTH = 64;
constexpr std::string_view TIED_SUFFIX = ":tied";  // compact form of "tied": true
constexpr const char* LETTERS_HELP =
    "letters: l linear, r relu, k leaky_relu, s sigmoid, t tanh, u selu, e elu, p softplus, g gelu; "
    "v a variational code layer";

// What a spec names in a message: a token of the user's text or of a file, quoted and short.
std::string q(std::string_view text) { return quote_bytes(text, 40, '\''); }

std::string read_text_file(const std::string& path) {
  std::error_code ec;  // the throwing overloads would escape as std::filesystem_error (a name too long)
  if (std::filesystem::is_directory(path, ec)) AE_FAIL(path, ": is a directory; expected a JSON spec file");
  std::ifstream in(path, std::ios::binary);
  if (!in) AE_FAIL(path, ": cannot open spec file", ec ? ": " + ec.message() : std::string());
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

int64_t parse_units(std::string_view digits, std::string_view origin, std::string_view token) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size())
    AE_FAIL(origin, ": layer ", q(token), " must be a width followed by an optional activation letter (", LETTERS_HELP, ")");
  if (v < 1 || v > MAX_UNITS) AE_FAIL(origin, ": layer ", q(token), " has width ", v, "; widths must be between 1 and ", MAX_UNITS);
  return v;
}

// Index of the narrowest layer among all but the output layer (first one on ties).
int64_t narrowest_layer(const std::vector<LayerSpec>& layers) {
  int64_t best = 0;
  for (int64_t l = 1; l + 1 < int64_t(layers.size()); ++l)
    if (layers[l].units < layers[best].units) best = l;
  return best;
}

Spec split_at(const Spec& input, const std::vector<LayerSpec>& layers, int64_t code) {
  Spec s;
  s.input = input.input;
  s.input_shape = input.input_shape;
  s.encoder.assign(layers.begin(), layers.begin() + code + 1);
  s.decoder.assign(layers.begin() + code + 1, layers.end());
  return s;
}

Act parse_act_field(const nlohmann::json& j, const std::string& field, std::string_view origin) {
  if (!j.is_string()) AE_FAIL(origin, ": ", field, " must be a string; expected one of: ", act_names_list());
  auto act = parse_act_name(j.get<std::string>());
  if (!act) AE_FAIL(origin, ": unknown activation ", q(j.get<std::string>()), " in ", field, "; expected one of: ", act_names_list());
  return *act;
}

int64_t parse_int_field(const nlohmann::json& j, const std::string& field, std::string_view origin) {
  if (!j.is_number_integer()) AE_FAIL(origin, ": ", field, " must be a positive integer, got ", json_shown(j));
  int64_t v = j.get<int64_t>();
  if (v < 1 || v > MAX_UNITS) AE_FAIL(origin, ": ", field, " is ", v, "; widths must be between 1 and ", MAX_UNITS);
  return v;
}

std::vector<LayerSpec> parse_layer_list(const nlohmann::json& arr, const std::string& field, std::string_view origin) {
  if (!arr.is_array() || arr.empty()) AE_FAIL(origin, ": ", field, " must be a non-empty array of layers");
  std::vector<LayerSpec> out;
  for (size_t i = 0; i < arr.size(); ++i) {
    const auto& l = arr[i];
    std::string where = field + "[" + std::to_string(i) + "]";
    LayerSpec ls;
    if (l.is_number_integer()) {
      ls.units = parse_int_field(l, where, origin);
    } else if (l.is_object() && l.contains("type") && l["type"] != "dense") {
      ls = spec_conv::parse_layer_json(l, where, origin);
    } else if (l.is_object()) {
      for (auto it = l.begin(); it != l.end(); ++it)
        if (it.key() != "units" && it.key() != "act" && it.key() != "variational" && it.key() != "type")
          AE_FAIL(origin, ": unknown field ", q(it.key()), " in ", where, "; expected: units, act, variational");
      if (!l.contains("units")) AE_FAIL(origin, ": ", where, ".units is missing");
      ls.units = parse_int_field(l["units"], where + ".units", origin);
      if (l.contains("act")) ls.act = parse_act_field(l["act"], where + ".act", origin);
      if (l.contains("variational")) {
        if (!l["variational"].is_boolean())
          AE_FAIL(origin, ": ", where, ".variational must be true or false, got ", json_shown(l["variational"]));
        ls.variational = l["variational"].get<bool>();
        if (ls.variational && ls.act != Act::linear)
          AE_FAIL(origin, ": ", where, " is variational, so its heads (μ and log σ²) are linear; remove its 'act' (",
                  act_name(ls.act), ")");
      }
    } else {
      AE_FAIL(origin, ": ", where, " must be an object {\"units\": N, \"act\": \"relu\"} or a width");
    }
    out.push_back(ls);
  }
  return out;
}

}  // namespace

const LayerSpec& Spec::layer(int64_t l) const {
  return l < int64_t(encoder.size()) ? encoder[l] : decoder[l - encoder.size()];
}

int64_t Spec::layer_in(int64_t l) const { return l == 0 ? input : layer(l - 1).units; }

int64_t Spec::parameter_count() const { return param_registry(*this).count(); }

std::string Spec::to_compact() const {
  std::vector<LayerSpec> all(encoder);
  all.insert(all.end(), decoder.begin(), decoder.end());
  bool marked = narrowest_layer(all) != int64_t(encoder.size()) - 1;
  std::string s = input_shape.empty() ? std::to_string(input)
                                      : std::to_string(input_shape[0]) + "x" + std::to_string(input_shape[1]) + "x" +
                                            std::to_string(input_shape[2]);
  for (int64_t l = 0; l < num_layers(); ++l) {
    if (layer(l).kind != LayerKind::dense) s += "-" + spec_conv::layer_token(layer(l));  // with its activation
    else if (layer(l).variational) s += "-" + std::to_string(layer(l).units) + 'v';
    else s += "-" + std::to_string(layer(l).units) + (layer(l).act != Act::linear ? std::string(1, act_letter(layer(l).act)) : "");
    if (marked && l == int64_t(encoder.size()) - 1) s += "*";
  }
  if (tied) s += std::string(TIED_SUFFIX);
  if (sparsity.kind == Sparsity::Kind::l1) {
    char l[40];
    std::snprintf(l, sizeof l, ":l1=%.17g", sparsity.lambda);
    s += l;
  } else if (sparsity.kind == Sparsity::Kind::kl) {
    char k[64];
    std::snprintf(k, sizeof k, ":kl=%.17g,%.17g", sparsity.rho, sparsity.lambda);
    s += k;
  }
  if (contractive != 0) s += ":contractive=" + shortest(contractive);
  if (beta != 1) s += ":beta=" + shortest(beta);
  if (kl_warmup != 0) s += ":kl_warmup=" + std::to_string(kl_warmup);
  if (adversarial.enabled()) s += ":adversarial=" + adversarial.to_string();
  if (adversarial.prior != PriorKind::gaussian) s += std::string(":prior=") + prior_kind_name(adversarial.prior);
  if (noise.kind != NoiseKind::none) {  // ":mask=0.3", ":gaussian=0.1,clip,0,1": --noise's form with commas
    std::string n = noise.to_string();
    n[n.find(':')] = '=';
    std::replace(n.begin(), n.end(), ':', ',');
    s += ":" + n;
  }
  return s;
}

nlohmann::json Spec::to_json() const {
  auto list = [](const std::vector<LayerSpec>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& l : v) {
      if (l.kind != LayerKind::dense) {
        a.push_back(spec_conv::layer_json(l));
        continue;
      }
      a.push_back({{"units", l.units}, {"act", act_name(l.act)}});
      if (l.variational) a.back()["variational"] = true;  // absent when false: files are as before
    }
    return a;
  };
  nlohmann::json j = {{"input", input}, {"encoder", list(encoder)}, {"decoder", list(decoder)}};
  if (!input_shape.empty()) j["input"] = input_shape;
  if (tied) j["tied"] = true;  // absent when false: untied files are as before
  if (sparsity.kind == Sparsity::Kind::l1) j["sparsity"] = {{"kind", "l1"}, {"lambda", sparsity.lambda}};
  if (sparsity.kind == Sparsity::Kind::kl)
    j["sparsity"] = {{"kind", "kl"}, {"rho", sparsity.rho}, {"beta", sparsity.lambda}};
  if (contractive != 0) j["contractive"] = contractive;
  if (beta != 1) j["beta"] = beta;
  if (kl_warmup != 0) j["kl_warmup"] = kl_warmup;
  if (adversarial.enabled())  // absent without a discriminator: other files are as before
    j["adversarial"] = {{"discriminator", adversarial.to_string()}, {"prior", prior_kind_name(adversarial.prior)}};
  if (noise.kind != NoiseKind::none) {
    nlohmann::json n = {{"kind", noise_kind_name(noise.kind)}};
    n[noise.kind == NoiseKind::gaussian ? "sigma" : "p"] = noise.p;
    if (noise.clip) n["clip"] = true;
    if (noise.has_range) n["range"] = {noise.lo, noise.hi};
    j["noise"] = n;
  }
  return j;
}

const char* noise_kind_name(NoiseKind k) {
  switch (k) {
    case NoiseKind::none: return "none";
    case NoiseKind::mask: return "mask";
    case NoiseKind::gaussian: return "gaussian";
    case NoiseKind::saltpepper: return "saltpepper";
  }
  return "?";
}

NoiseParams Noise::params() const {
  NoiseParams n;
  n.kind = kind;
  n.clip = clip;
  n.p = float(p);
  n.lo = has_range ? float(lo) : 0.0f;
  n.hi = has_range ? float(hi) : 1.0f;
  return n;
}

std::string Noise::to_string() const {
  if (kind == NoiseKind::none) return "none";
  std::string s = std::string(noise_kind_name(kind)) + ":" + shortest(p) + (clip ? ":clip" : "");
  if (has_range) s += ":" + shortest(lo) + ":" + shortest(hi);
  return s;
}

namespace {
// A whole-string finite number, or nullopt.
std::optional<double> finite_number(std::string_view v) {
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d)) return std::nullopt;
  return d;
}
}  // namespace

Sparsity parse_sparsity(std::string_view text, std::string_view origin) {
  if (text == "none") return Sparsity{};
  const size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon), value = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  if (kind == "l1") {
    const auto lambda = finite_number(value);
    if (!lambda || *lambda < 0) AE_FAIL(origin, ": sparsity ", q(text), " needs a finite LAMBDA ≥ 0 after 'l1:', e.g. l1:0.001");
    return Sparsity{Sparsity::Kind::l1, *lambda, 0};
  }
  if (kind == "kl") {
    const size_t sep = value.find(':');
    const auto rho = finite_number(value.substr(0, sep));
    const auto beta = sep == std::string_view::npos ? std::nullopt : finite_number(value.substr(sep + 1));
    if (!rho || !beta) AE_FAIL(origin, ": sparsity ", q(text), " needs kl:RHO:BETA, e.g. kl:0.05:3");
    if (!(*rho > 0 && *rho < 1)) AE_FAIL(origin, ": sparsity ", q(text), ": RHO (the target mean activation) must lie in (0, 1)");
    if (*beta < 0) AE_FAIL(origin, ": sparsity ", q(text), ": BETA (the penalty's weight) must be ≥ 0");
    return Sparsity{Sparsity::Kind::kl, *beta, *rho};
  }
  AE_FAIL(origin, ": unknown sparsity ", q(text), "; expected l1:LAMBDA (e.g. l1:0.001), kl:RHO:BETA (e.g. kl:0.05:3) or none");
}

double parse_beta(std::string_view text, std::string_view origin) {
  const auto v = finite_number(text);
  if (!v || *v < 0) AE_FAIL(origin, ": beta ", q(text), " must be a finite number ≥ 0 (the KL term's weight; 1 is the ELBO), e.g. 4");
  return *v;
}

int64_t parse_kl_warmup(std::string_view text, std::string_view origin) {
  int64_t v = -1;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < 0)
    AE_FAIL(origin, ": KL warm-up ", q(text), " must be a whole number of steps ≥ 0, e.g. 1000");
  return v;
}

double parse_contractive(std::string_view text, std::string_view origin) {
  const auto v = finite_number(text);
  if (!v || *v < 0) AE_FAIL(origin, ": contractive weight ", q(text), " must be a finite number ≥ 0, e.g. 0.1");
  return *v;
}

const char* prior_kind_name(PriorKind k) { return k == PriorKind::uniform ? "uniform" : "gaussian"; }

PriorKind parse_prior(std::string_view text, std::string_view origin) {
  if (text == "gaussian") return PriorKind::gaussian;
  if (text == "uniform") return PriorKind::uniform;
  AE_FAIL(origin, ": unknown prior ", q(text), "; expected gaussian (N(0, 1) per code unit) or uniform (U[-1, 1) per code unit)");
}

std::string Adversarial::to_string() const {
  if (!enabled()) return "none";
  std::string s = std::to_string(input);
  for (const LayerSpec& l : layers) {
    s += "-" + std::to_string(l.units);
    if (l.act != Act::linear) s += act_letter(l.act);
  }
  return s;
}

bool Adversarial::operator==(const Adversarial& o) const {
  if (input != o.input || prior != o.prior || layers.size() != o.layers.size()) return false;
  for (size_t l = 0; l < layers.size(); ++l)
    if (layers[l].units != o.layers[l].units || layers[l].act != o.layers[l].act) return false;
  return true;
}

Adversarial parse_discriminator(std::string_view text, std::string_view origin) {
  std::vector<std::string_view> tokens;
  for (size_t start = 0;;) {
    const size_t dash = text.find('-', start);
    tokens.push_back(text.substr(start, dash == std::string_view::npos ? std::string_view::npos : dash - start));
    if (dash == std::string_view::npos) break;
    start = dash + 1;
  }
  Adversarial a;
  a.input = parse_units(tokens[0], origin, tokens[0]);
  if (tokens.size() < 2)
    AE_FAIL(origin, ": discriminator ", q(text), " has no layers; give its input width (the code width), then its dense layers, ",
            "the last one a single linear logit, e.g. ", a.input, "-64r-64r-1");
  for (size_t i = 1; i < tokens.size(); ++i) {
    std::string_view t = tokens[i];
    LayerSpec ls;
    if (!t.empty() && std::isalpha(static_cast<unsigned char>(t.back()))) {
      const auto act = parse_act_letter(t.back());
      if (!act)
        AE_FAIL(origin, ": unknown activation letter ", q(t.substr(t.size() - 1)), " in discriminator layer ", q(tokens[i]), " (",
                "letters: l linear, r relu, k leaky_relu, s sigmoid, t tanh, u selu, e elu, p softplus, g gelu)");
      ls.act = *act;
      t.remove_suffix(1);
    }
    ls.units = parse_units(t, origin, tokens[i]);
    a.layers.push_back(ls);
  }
  return a;
}

Noise parse_noise(std::string_view text, std::string_view origin) {
  if (text == "none") return Noise{};
  std::vector<std::string_view> f;  // kind, value, then "clip" and/or LO, HI
  for (size_t start = 0;;) {
    const size_t colon = text.find(':', start);
    f.push_back(text.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  Noise n;
  const std::string_view kind = f[0];
  if (kind == "mask") n.kind = NoiseKind::mask;
  else if (kind == "gaussian") n.kind = NoiseKind::gaussian;
  else if (kind == "saltpepper") n.kind = NoiseKind::saltpepper;
  else
    AE_FAIL(origin, ": unknown noise ", q(text), "; expected mask:P (e.g. mask:0.3), gaussian:S (e.g. gaussian:0.1, ",
            "gaussian:0.1:clip), saltpepper:P (e.g. saltpepper:0.05) or none");
  const char* what = n.kind == NoiseKind::gaussian ? "S (the standard deviation)" : "P (the probability)";
  const auto v = f.size() > 1 ? finite_number(f[1]) : std::nullopt;
  if (!v) AE_FAIL(origin, ": noise ", q(text), " needs a number ", what, " after '", kind, ":', e.g. ", kind, n.kind == NoiseKind::gaussian ? ":0.1" : ":0.3");
  // Checked as the kernels will see it, in float: 0.99999999 rounds to 1 and 1e39 to infinity.
  const float vf = float(*v);
  if (n.kind == NoiseKind::gaussian ? !(vf >= 0 && std::isfinite(vf)) : !(vf >= 0 && vf < 1))
    AE_FAIL(origin, ": noise ", q(text), ": ", what,
            n.kind == NoiseKind::gaussian ? " must be ≥ 0 and a finite float" : " must lie in [0, 1) as a float");
  n.p = *v;
  size_t i = 2;
  if (i < f.size() && f[i] == "clip") {
    if (n.kind != NoiseKind::gaussian) AE_FAIL(origin, ": noise ", q(text), ": only gaussian noise takes ':clip'");
    n.clip = true;
    ++i;
  }
  if (i < f.size()) {
    const double nan = std::nan("");
    const double lo = finite_number(f[i]).value_or(nan), hi = i + 1 < f.size() ? finite_number(f[i + 1]).value_or(nan) : nan;
    if (!n.needs_range())
      AE_FAIL(origin, ": noise ", q(text), ": unexpected ", q(f[i]), "; ", kind, n.kind == NoiseKind::gaussian ? " without :clip" : "",
              " takes no data range");
    if (i + 2 != f.size() || !(lo <= hi))  // NaN (not a finite number) compares false
      AE_FAIL(origin, ": noise ", q(text), ": the data range must be two numbers LO:HI with LO ≤ HI after the settings, e.g. ",
              n.kind == NoiseKind::gaussian ? "gaussian:0.1:clip:0:1" : "saltpepper:0.05:0:1");
    n.has_range = true;
    n.lo = lo;
    n.hi = hi;
  }
  return n;
}

Spec parse_spec_compact(std::string_view text, std::string_view origin) {
  // Options after the layers: ":tied", ":l1=LAMBDA" or ":kl=RHO,BETA", and a noise (":mask=P",
  // ":gaussian=S[,clip][,LO,HI]", ":saltpepper=P[,LO,HI]"), in any order.
  bool tied = false;
  Sparsity sparsity;
  Noise noise;
  double contractive = 0;
  bool contractive_given = false;
  std::optional<double> beta;
  std::optional<int64_t> kl_warmup;
  Adversarial adversarial;
  std::optional<PriorKind> prior;
  for (size_t colon; (colon = text.rfind(':')) != std::string_view::npos;) {
    const std::string_view opt = text.substr(colon + 1);
    if (opt.rfind("adversarial=", 0) == 0 || opt.rfind("prior=", 0) == 0) {
      const bool is_d = opt[0] == 'a';
      if (is_d ? adversarial.enabled() : prior.has_value())
        AE_FAIL(origin, ": spec option ':", is_d ? "adversarial=" : "prior=", "' is given twice");
      if (is_d) adversarial = parse_discriminator(opt.substr(12), origin);
      else prior = parse_prior(opt.substr(6), origin);
      text.remove_suffix(text.size() - colon);
      continue;
    }
    if (opt.rfind("beta=", 0) == 0 || opt.rfind("kl_warmup=", 0) == 0) {
      const bool is_beta = opt[0] == 'b';
      if (is_beta ? beta.has_value() : kl_warmup.has_value())
        AE_FAIL(origin, ": spec option ':", is_beta ? "beta=" : "kl_warmup=", "' is given twice");
      if (is_beta) beta = parse_beta(opt.substr(5), origin);
      else kl_warmup = parse_kl_warmup(opt.substr(10), origin);
      text.remove_suffix(text.size() - colon);
      continue;
    }
    const bool is_tied = opt == TIED_SUFFIX.substr(1), is_l1 = opt.rfind("l1=", 0) == 0, is_kl = opt.rfind("kl=", 0) == 0;
    if (opt.rfind("contractive=", 0) == 0) {
      if (contractive_given) AE_FAIL(origin, ": spec option ':contractive=' is given twice");
      contractive_given = true;
      contractive = parse_contractive(opt.substr(12), origin);
      text.remove_suffix(text.size() - colon);
      continue;
    }
    const bool is_noise = opt.rfind("mask=", 0) == 0 || opt.rfind("gaussian=", 0) == 0 || opt.rfind("saltpepper=", 0) == 0;
    if (is_noise) {
      if (noise.kind != NoiseKind::none) AE_FAIL(origin, ": spec option ", q(std::string(":") + std::string(opt)), " is a second noise; a spec has at most one");
      std::string v(opt);
      v[v.find('=')] = ':';
      std::replace(v.begin(), v.end(), ',', ':');  // ':' separates options
      noise = parse_noise(v, origin);
      text.remove_suffix(text.size() - colon);
      continue;
    }
    if ((is_tied && tied) || ((is_l1 || is_kl) && sparsity.kind != Sparsity::Kind::none))
      AE_FAIL(origin, ": spec option ':", is_tied ? "tied" : (is_l1 ? "l1=" : "kl="), "' is given twice",
              is_tied ? "" : " (a spec has at most one sparsity penalty)");
    if (is_tied) {
      tied = true;
    } else if (is_l1) {
      sparsity = parse_sparsity("l1:" + std::string(opt.substr(3)), origin);
    } else if (is_kl) {
      std::string v(opt.substr(3));
      std::replace(v.begin(), v.end(), ',', ':');  // ":kl=RHO,BETA" (':' separates options)
      sparsity = parse_sparsity("kl:" + v, origin);
    } else {
      AE_FAIL(origin, ": unknown spec option ", q(std::string(":") + std::string(opt)),
              "; expected :tied, :l1=LAMBDA, :kl=RHO,BETA, :contractive=LAMBDA, :mask=P, :gaussian=S[,clip], :saltpepper=P, ",
              ":beta=B, :kl_warmup=N, :adversarial=DSPEC or :prior=gaussian|uniform");
    }
    text.remove_suffix(text.size() - colon);
  }
  std::vector<std::string_view> tokens;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == '-') {
      tokens.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  if (tokens.size() < 3)
    AE_FAIL(origin, ": ", q(text), " needs an input width and at least two layers, e.g. 784-256r-32-256r-784s (", LETTERS_HELP, ")");
  Spec input;  // its input and input_shape
  if (auto shape = spec_conv::parse_input_token(tokens[0], origin)) {
    input.input_shape = *shape;
    input.input = shape_elements(*shape);
  } else {
    input.input = parse_units(tokens[0], origin, tokens[0]);
  }
  std::vector<LayerSpec> layers;
  int64_t code = -1, variational = -1;
  for (size_t i = 1; i < tokens.size(); ++i) {
    std::string_view t = tokens[i];
    // '*' marks the code layer; '|' too (it reads as the cut between encoder and decoder).
    bool is_code = !t.empty() && (t.back() == '*' || t.back() == '|');
    if (is_code) {
      if (code >= 0) AE_FAIL(origin, ": more than one layer is marked as the code with '*' or '|'");
      if (i + 1 == tokens.size()) AE_FAIL(origin, ": the output layer ", q(t), " cannot be the code layer");
      code = int64_t(layers.size());
      t.remove_suffix(1);
    }
    LayerSpec ls;
    if (spec_conv::is_layer_token(t)) {
      layers.push_back(spec_conv::parse_layer_token(t, origin));
      continue;
    }
    if (!t.empty() && t.back() == 'v') {  // variational: linear heads; must be the code layer
      ls.variational = true;
      t.remove_suffix(1);
      if (variational >= 0) AE_FAIL(origin, ": more than one layer is marked variational with 'v'; only the code layer is");
      variational = int64_t(layers.size());
    } else if (!t.empty() && std::isalpha(static_cast<unsigned char>(t.back()))) {
      auto act = parse_act_letter(t.back());
      if (!act) AE_FAIL(origin, ": unknown activation letter ", q(t.substr(t.size() - 1)), " in layer ", q(tokens[i]), " (", LETTERS_HELP, ")");
      ls.act = *act;
      t.remove_suffix(1);
    }
    ls.units = parse_units(t, origin, tokens[i]);
    layers.push_back(ls);
  }
  std::vector<std::string_view> layer_tokens(tokens.begin() + 1, tokens.end());
  spec_conv::infer_shapes(input.input_tensor_shape(), layers, [&](size_t i) { return "layer " + q(layer_tokens[i]); }, origin);
  Spec s = split_at(input, layers, code >= 0 ? code : narrowest_layer(layers));
  s.tied = tied;
  s.sparsity = sparsity;
  s.noise = noise;
  s.contractive = contractive;
  s.beta = beta.value_or(1.0);
  s.kl_warmup = kl_warmup.value_or(0);
  if (prior && !adversarial.enabled())
    AE_FAIL(origin, ": ':prior=", prior_kind_name(*prior), "' is the prior of an adversarial discriminator, but the spec has none; ",
            "add one, e.g. :adversarial=", s.code_units(), "-64r-64r-1");
  s.adversarial = adversarial;
  s.adversarial.prior = prior.value_or(PriorKind::gaussian);
  validate_spec(s, origin);
  return s;
}

namespace {
// {"kind": "mask", "p": 0.3}, {"kind": "gaussian", "sigma": 0.1, "clip": true}, {"kind":
// "saltpepper", "p": 0.05}, each with an optional "range": [LO, HI], through parse_noise.
Noise parse_noise_json(const nlohmann::json& n, const std::string& origin) {
  const auto bad = [&] {
    AE_FAIL(origin, ": 'noise' must be {\"kind\": \"mask\", \"p\": P}, {\"kind\": \"gaussian\", \"sigma\": S, \"clip\": true|false} ",
            "or {\"kind\": \"saltpepper\", \"p\": P}, with an optional \"range\": [LO, HI]; got ", json_shown(n));
  };
  if (!n.is_object() || !n.contains("kind") || !n["kind"].is_string()) bad();
  const std::string kind = n["kind"].get<std::string>();
  const char* value = kind == "gaussian" ? "sigma" : "p";
  if (kind == "none" && n.size() == 1) return Noise{};
  for (auto it = n.begin(); it != n.end(); ++it)
    if (it.key() != "kind" && it.key() != value && it.key() != "range" && !(kind == "gaussian" && it.key() == "clip")) bad();
  if (!n.contains(value) || !n[value].is_number()) bad();
  std::string text = kind + ":" + n[value].dump();
  if (n.contains("clip")) {
    if (!n["clip"].is_boolean()) bad();
    if (n["clip"].get<bool>()) text += ":clip";
  }
  if (n.contains("range")) {
    const auto& r = n["range"];
    if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number()) bad();
    text += ":" + r[0].dump() + ":" + r[1].dump();
  }
  return parse_noise(text, origin);
}
// {"discriminator": "16-64r-64r-1", "prior": "gaussian"}; the prior is optional (gaussian).
Adversarial parse_adversarial_json(const nlohmann::json& a, const std::string& origin) {
  const auto bad = [&] {
    AE_FAIL(origin, ": 'adversarial' must be {\"discriminator\": \"DSPEC\", \"prior\": \"gaussian\"|\"uniform\"} with a DSPEC ",
            "such as \"16-64r-64r-1\" (the code width, then dense layers, the last a single linear logit); got ", json_shown(a));
  };
  if (!a.is_object() || !a.contains("discriminator") || !a["discriminator"].is_string()) bad();
  for (auto it = a.begin(); it != a.end(); ++it)
    if (it.key() != "discriminator" && it.key() != "prior") bad();
  Adversarial d = parse_discriminator(a["discriminator"].get<std::string>(), origin + " adversarial.discriminator");
  if (a.contains("prior")) {
    if (!a["prior"].is_string()) bad();
    d.prior = parse_prior(a["prior"].get<std::string>(), origin + " adversarial.prior");
  }
  return d;
}
}  // namespace

Spec parse_spec_json(const nlohmann::json& j, std::string_view origin) {
  if (!j.is_object()) AE_FAIL(origin, ": a spec must be a JSON object with input, encoder and decoder");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "input" && it.key() != "encoder" && it.key() != "decoder" && it.key() != "layers" && it.key() != "code" &&
        it.key() != "tied" && it.key() != "sparsity" && it.key() != "noise" && it.key() != "contractive" &&
        it.key() != "beta" && it.key() != "kl_warmup" && it.key() != "adversarial")
      AE_FAIL(origin, ": unknown field ", q(it.key()),
              "; expected: input, encoder, decoder (or layers and code), tied, sparsity, contractive, noise, beta, kl_warmup, ",
              "adversarial");
  if (!j.contains("input")) AE_FAIL(origin, ": field 'input' (the number of input features) is missing");
  Spec input;  // its input and input_shape
  if (j["input"].is_array()) spec_conv::parse_input_json(j["input"], input, origin);
  else input.input = parse_int_field(j["input"], "input", origin);
  Spec s;
  if (j.contains("layers")) {
    if (j.contains("encoder") || j.contains("decoder"))
      AE_FAIL(origin, ": give either 'layers' (with an optional 'code' index) or 'encoder' and 'decoder', not both");
    // A layer may mark itself as the code with "code": true (as '*' or '|' does in the compact form).
    nlohmann::json list = j["layers"];
    std::optional<int64_t> marked;
    for (size_t i = 0; list.is_array() && i < list.size(); ++i) {
      if (!list[i].is_object() || !list[i].contains("code")) continue;
      if (list[i]["code"] != true) AE_FAIL(origin, ": layers[", i, "].code must be true (it marks the code layer), got ", json_shown(list[i]["code"]));
      if (marked || j.contains("code")) AE_FAIL(origin, ": more than one code layer is marked (\"code\": true or a 'code' index)");
      marked = int64_t(i);
      list[i].erase("code");
    }
    auto layers = parse_layer_list(list, "layers", origin);
    if (layers.size() < 2) AE_FAIL(origin, ": 'layers' needs at least two layers (a code and an output)");
    spec_conv::infer_shapes(input.input_tensor_shape(), layers, [](size_t i) { return "layers[" + std::to_string(i) + "]"; }, origin);
    int64_t code = marked.value_or(narrowest_layer(layers));
    if (marked && *marked + 1 >= int64_t(layers.size())) AE_FAIL(origin, ": the output layer layers[", *marked, "] cannot be the code layer");
    if (j.contains("code")) {
      if (!j["code"].is_number_integer()) AE_FAIL(origin, ": 'code' must be the index of a layer in 'layers'");
      code = j["code"].get<int64_t>();
      if (code < 0 || code + 1 >= int64_t(layers.size()))
        AE_FAIL(origin, ": 'code' is ", code, "; it must index a layer before the output layer (0..", layers.size() - 2, ")");
    }
    s = split_at(input, layers, code);
  } else {
    if (j.contains("code")) AE_FAIL(origin, ": 'code' is only used with 'layers'; with encoder/decoder the code is the last encoder layer");
    if (!j.contains("encoder")) AE_FAIL(origin, ": field 'encoder' is missing");
    if (!j.contains("decoder")) AE_FAIL(origin, ": field 'decoder' is missing");
    s.input = input.input;
    s.input_shape = input.input_shape;
    s.encoder = parse_layer_list(j["encoder"], "encoder", origin);
    s.decoder = parse_layer_list(j["decoder"], "decoder", origin);
    std::vector<LayerSpec> all(s.encoder);  // non-dense layers' widths come from their shapes
    all.insert(all.end(), s.decoder.begin(), s.decoder.end());
    const size_t n_enc = s.encoder.size();
    spec_conv::infer_shapes(s.input_tensor_shape(), all, [&](size_t i) {
      return i < n_enc ? "encoder[" + std::to_string(i) + "]" : "decoder[" + std::to_string(i - n_enc) + "]";
    }, origin);
    s.encoder.assign(all.begin(), all.begin() + int64_t(n_enc));
    s.decoder.assign(all.begin() + int64_t(n_enc), all.end());
  }
  if (j.contains("tied")) {
    if (!j["tied"].is_boolean()) AE_FAIL(origin, ": 'tied' must be true or false, got ", json_shown(j["tied"]));
    s.tied = j["tied"].get<bool>();
  }
  if (j.contains("sparsity")) {
    const auto& sp = j["sparsity"];
    const auto number = [&](const char* k) { return sp.contains(k) && sp[k].is_number(); };
    const auto kind = sp.is_object() ? sp.value("kind", nlohmann::json()) : nlohmann::json();
    if (kind == "l1" && number("lambda") && sp.size() == 2)
      s.sparsity = parse_sparsity("l1:" + sp["lambda"].dump(), std::string(origin) + " sparsity");
    else if (kind == "kl" && number("rho") && number("beta") && sp.size() == 3)
      s.sparsity = parse_sparsity("kl:" + sp["rho"].dump() + ":" + sp["beta"].dump(), std::string(origin) + " sparsity");
    else
      AE_FAIL(origin, ": 'sparsity' must be {\"kind\": \"l1\", \"lambda\": λ} or {\"kind\": \"kl\", \"rho\": ρ, \"beta\": β}, got ",
              json_shown(sp));
  }
  if (j.contains("noise")) s.noise = parse_noise_json(j["noise"], std::string(origin) + " noise");
  if (j.contains("contractive")) {
    if (!j["contractive"].is_number()) AE_FAIL(origin, ": 'contractive' must be a number λ ≥ 0, got ", json_shown(j["contractive"]));
    s.contractive = parse_contractive(j["contractive"].dump(), std::string(origin) + " contractive");
  }
  if (j.contains("beta")) {
    if (!j["beta"].is_number()) AE_FAIL(origin, ": 'beta' must be a number β ≥ 0, got ", json_shown(j["beta"]));
    s.beta = parse_beta(j["beta"].dump(), std::string(origin) + " beta");
  }
  if (j.contains("kl_warmup")) {
    if (!j["kl_warmup"].is_number_integer())
      AE_FAIL(origin, ": 'kl_warmup' must be a whole number of steps ≥ 0, got ", json_shown(j["kl_warmup"]));
    s.kl_warmup = parse_kl_warmup(j["kl_warmup"].dump(), std::string(origin) + " kl_warmup");
  }
  if (j.contains("adversarial")) s.adversarial = parse_adversarial_json(j["adversarial"], std::string(origin));
  validate_spec(s, origin);
  return s;
}

namespace {

// file_body: `text` is what a .json file holds, never the name of another file (a file that holds
// its own name would otherwise be read again and again).
Spec parse_spec_text(std::string_view text, std::string_view origin, bool file_body) {
  std::string_view trimmed = text;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.front()))) trimmed.remove_prefix(1);
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.remove_suffix(1);
  if (trimmed.empty()) AE_FAIL(origin, ": the spec is empty; e.g. 784-256r-32-256r-784s");
  if (!file_body && trimmed.front() != '{' && trimmed.size() > 5 && trimmed.substr(trimmed.size() - 5) == ".json") {
    const std::string path(trimmed);
    return parse_spec_text(read_text_file(path), path, true);
  }
  if (trimmed.front() == '{') {
    const auto base = static_cast<uint64_t>(trimmed.data() - text.data());  // offsets count from the file's start
    if (const std::string nul = json_nul_failure(trimmed, base); !nul.empty()) AE_FAIL(origin, ": ", nul);
    nlohmann::json j;
    try {
      using Event = nlohmann::json::parse_event_t;
      j = nlohmann::json::parse(trimmed, [&](int depth, Event event, nlohmann::json&) {
        if (depth >= MAX_JSON_DEPTH && (event == Event::object_start || event == Event::array_start))
          AE_FAIL(origin, ": invalid JSON: nested deeper than ", MAX_JSON_DEPTH, " levels");
        return true;
      });
    } catch (const nlohmann::json::exception& e) {
      AE_FAIL(origin, ": ", json_parse_failure(e, trimmed, base));
    }
    return parse_spec_json(j, origin);
  }
  return parse_spec_compact(trimmed, origin);
}

}  // namespace

Spec parse_spec(std::string_view text, std::string_view origin) { return parse_spec_text(text, origin, false); }

void validate_spec(const Spec& s, std::string_view origin) {
  if (s.input < 1) AE_FAIL(origin, ": input width must be ≥ 1");
  if (s.encoder.empty()) AE_FAIL(origin, ": the encoder needs at least one layer");
  if (s.decoder.empty()) AE_FAIL(origin, ": the decoder needs at least one layer");
  if (s.convolutional()) spec_conv::validate_conv(s, origin);  // shapes first: the width checks below are theirs
  for (int64_t l = 0; l < s.num_layers(); ++l)
    if (s.layer(l).units < 1) AE_FAIL(origin, ": layer ", l, " has zero width");
  if (s.decoder.back().units != s.input)
    AE_FAIL(origin, ": the decoder's output has ", s.decoder.back().units, " features but the input has ", s.input,
            "; an autoencoder's last layer must reconstruct the input (make it ", s.input, " wide)");
  for (int64_t l = 0; l < s.num_layers(); ++l) {
    if (!s.layer(l).variational || l == int64_t(s.encoder.size()) - 1) continue;
    const bool enc = l < int64_t(s.encoder.size());
    AE_FAIL(origin, ": ", enc ? "encoder[" : "decoder[", enc ? l : l - int64_t(s.encoder.size()), "] (", s.layer(l).units,
            " units) is variational ('v'), but only the code layer can be; the code layer is encoder[", s.encoder.size() - 1,
            "] (", s.code_units(), " units: the narrowest, unless '*' or 'code' marks another)");
  }
  if (!s.variational() && (s.beta != 1 || s.kl_warmup != 0))
    AE_FAIL(origin, ": ", s.beta != 1 ? "beta" : "kl_warmup", " weighs a VAE's KL term, but this spec has no variational code layer; ",
            "mark the code layer with the letter v, e.g. 784-400r-20v-400r-784s");
  if (!(s.beta >= 0) || !std::isfinite(s.beta)) AE_FAIL(origin, ": beta must be a finite number ≥ 0, got ", s.beta);
  if (s.kl_warmup < 0) AE_FAIL(origin, ": kl_warmup must be ≥ 0, got ", s.kl_warmup);
  if (s.variational()) {
    if (s.encoder.back().act != Act::linear)
      AE_FAIL(origin, ": the variational code layer's heads (μ and log σ²) are linear; it cannot have activation ",
              act_name(s.encoder.back().act));
    if (s.tied)
      AE_FAIL(origin, ": a variational code layer cannot be tied: its heads are ", 2 * s.code_units(),
              " rows wide, so the first decoder layer has no mirror weight; drop ':tied' (or --tied)");
    if (s.sparsity.kind != Sparsity::Kind::none)
      AE_FAIL(origin, ": a variational code layer already has its KL term; a sparsity penalty on its sampled code is not supported");
    if (s.contractive != 0)
      AE_FAIL(origin, ": the contractive penalty is not supported on a variational code layer (its code is sampled)");
  }
  validate_adversarial(s, origin);
  if (s.sparsity.kind == Sparsity::Kind::kl && s.encoder.back().act != Act::sigmoid)
    AE_FAIL(origin, ": kl sparsity needs a sigmoid code layer (its units' batch means must lie in (0, 1)), but the code layer encoder[",
            s.encoder.size() - 1, "] (", s.code_units(), " units) is ", act_name(s.encoder.back().act),
            "; give it the letter s, e.g. 784-256r-", s.code_units(), "s-256r-784s");
  if (!s.tied) return;
  // Tied: decoder layer l uses encoder layer n−1−l's weight transposed, so widths must mirror.
  const int64_t n_enc = int64_t(s.encoder.size()), n = s.num_layers();
  if (s.decoder.size() != s.encoder.size())
    AE_FAIL(origin, ": tied weights need as many decoder layers as encoder layers (the decoder mirrors the encoder); this spec has ",
            n_enc, " encoder and ", s.decoder.size(), " decoder layers");
  for (int64_t l = n_enc; l < n; ++l)
    if (s.layer(l).units != s.layer_in(n - 1 - l))
      AE_FAIL(origin, ": tied weights need a mirror-symmetric spec, but decoder[", l - n_enc, "] is ", s.layer(l).units,
              " wide where its mirror encoder[", n - 1 - l, "] takes ", s.layer_in(n - 1 - l), " inputs");
}

void validate_adversarial(const Spec& s, std::string_view origin) {
  const Adversarial& a = s.adversarial;
  if (!a.enabled()) {
    if (a.prior != PriorKind::gaussian)
      AE_FAIL(origin, ": prior ", prior_kind_name(a.prior), " is the prior of an adversarial discriminator, but the spec has none; ",
              "add one (:adversarial=DSPEC or --adversarial DSPEC)");
    return;
  }
  const std::string d = "the adversarial discriminator " + a.to_string();
  if (a.input != s.code_units())
    AE_FAIL(origin, ": ", d, " does not fit the code: its input width ", a.input, " is not the code width ", s.code_units(),
            "; start it with ", s.code_units(), ", e.g. ", s.code_units(), "-64r-64r-1");
  const LayerSpec& last = a.layers.back();
  if (last.units != 1 || last.act != Act::linear)
    AE_FAIL(origin, ": ", d, " must end in one linear logit (width 1, no activation letter: its sigmoid is in the loss), ",
            "but its last layer is ", last.units, " wide and ", act_name(last.act));
  if (s.variational())
    AE_FAIL(origin, ": ", d, " cannot regularise a variational code: a VAE already matches its code to the prior through its ",
            "KL term; use one of the two");
  if (s.tied)
    AE_FAIL(origin, ": ", d, " cannot be combined with tied weights: its generator phase updates the encoder alone, and tied ",
            "weights would move the decoder with it; drop ':tied' (or --tied)");
  if (s.sparsity.kind != Sparsity::Kind::none)
    AE_FAIL(origin, ": ", d, " cannot be combined with a sparsity penalty: both shape the code's distribution (the ",
            "discriminator toward the prior), so they would fight; use one");
  if (s.contractive != 0)
    AE_FAIL(origin, ": ", d, " cannot be combined with the contractive penalty: ae does not train both regularisers of the ",
            "encoder in one model; use one");
}

std::string discriminator_param_prefix(const Spec& s, int64_t l) {
  int64_t index = 0;  // position in nn.Sequential: each non-linear activation is its own module
  for (int64_t i = 0; i < l; ++i) index += s.adversarial.layers[size_t(i)].act == Act::linear ? 1 : 2;
  return "discriminator." + std::to_string(index);
}

}  // namespace ae
