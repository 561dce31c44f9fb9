// Normaliser fitting and application. Statistics accumulate in double, in row order, so the fit
// is deterministic and the same on every machine.
#include "runtime/normalize.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace ae {

const char* norm_kind_name(NormKind k) {
  switch (k) {
    case NormKind::none: return "none";
    case NormKind::minmax: return "minmax";
    case NormKind::zscore: return "zscore";
  }
  return "?";
}

NormKind parse_norm_kind(const std::string& name, const std::string& where) {
  if (name == "none") return NormKind::none;
  if (name == "minmax") return NormKind::minmax;
  if (name == "zscore") return NormKind::zscore;
  AE_FAIL(where, ": unknown normalisation ", quote_bytes(name, 40, '\''), "; expected one of: none, minmax, zscore");
}

Normalizer Normalizer::fit(NormKind kind, const float* x, int64_t rows, int64_t cols) {
  Normalizer n;
  n.kind = kind;
  if (kind == NormKind::none) return n;
  AE_CHECK(rows >= 1, "cannot fit a normalisation on no rows");
  n.shift.assign(size_t(cols), 0.f);
  n.scale.assign(size_t(cols), 1.f);
  if (kind == NormKind::minmax) {
    std::vector<float> lo(x, x + cols), hi(x, x + cols);
    for (int64_t r = 1; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        lo[size_t(c)] = std::min(lo[size_t(c)], x[r * cols + c]);
        hi[size_t(c)] = std::max(hi[size_t(c)], x[r * cols + c]);
      }
    for (int64_t c = 0; c < cols; ++c) {
      n.shift[size_t(c)] = lo[size_t(c)];
      float range = hi[size_t(c)] - lo[size_t(c)];
      n.scale[size_t(c)] = range > 0 ? range : 1.f;
    }
  } else {
    std::vector<double> sum(size_t(cols), 0.0), sq(size_t(cols), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) sum[size_t(c)] += x[r * cols + c];
    for (int64_t c = 0; c < cols; ++c) sum[size_t(c)] /= double(rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        double d = x[r * cols + c] - sum[size_t(c)];
        sq[size_t(c)] += d * d;
      }
    for (int64_t c = 0; c < cols; ++c) {
      n.shift[size_t(c)] = float(sum[size_t(c)]);
      double sd = std::sqrt(sq[size_t(c)] / double(rows));
      n.scale[size_t(c)] = sd > 1e-12 ? float(sd) : 1.f;
    }
  }
  return n;
}

void Normalizer::apply(float* x, int64_t rows, int64_t cols) const {
  if (kind == NormKind::none || rows == 0) return;
  AE_CHECK(int64_t(shift.size()) == cols, "normalisation has ", shift.size(), " features, data has ", cols);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] = (x[r * cols + c] - shift[size_t(c)]) / scale[size_t(c)];
}

void Normalizer::invert(float* x, int64_t rows, int64_t cols) const {
  if (kind == NormKind::none || rows == 0) return;
  AE_CHECK(int64_t(shift.size()) == cols, "normalisation has ", shift.size(), " features, data has ", cols);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] = x[r * cols + c] * scale[size_t(c)] + shift[size_t(c)];
}

nlohmann::json Normalizer::to_json() const {
  nlohmann::json j = {{"kind", norm_kind_name(kind)}};
  if (kind != NormKind::none) {
    j["shift"] = shift;
    j["scale"] = scale;
  }
  return j;
}

Normalizer Normalizer::from_json(const nlohmann::json& j, int64_t features, const std::string& where) {
  Normalizer n;
  if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) AE_FAIL(where, ": normalisation record has no 'kind'");
  n.kind = parse_norm_kind(j["kind"].get<std::string>(), where);
  if (n.kind == NormKind::none) return n;
  for (const char* key : {"shift", "scale"}) {
    if (!j.contains(key) || !j[key].is_array() || int64_t(j[key].size()) != features)
      AE_FAIL(where, ": normalisation '", key, "' must be an array of ", features, " numbers");
    for (const auto& v : j[key])
      if (!v.is_number()) AE_FAIL(where, ": normalisation '", key, "' holds a non-number");
  }
  n.shift = j["shift"].get<std::vector<float>>();
  n.scale = j["scale"].get<std::vector<float>>();
  for (float s : n.scale)
    if (!(s > 0) || !std::isfinite(s)) AE_FAIL(where, ": normalisation scale must be positive and finite");
  return n;
}

}  // namespace ae
