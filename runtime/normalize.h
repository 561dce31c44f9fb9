// Input normalisation, fitted on the training data and stored in the model, so every later
// command (encode, score, reconstruct, ...) sees data scaled exactly as in training and
// reconstructions come back in the data's own units: x' = (x − shift) · inv_scale per feature.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ae {

enum class NormKind : uint8_t { none, minmax, zscore };
const char* norm_kind_name(NormKind k);
NormKind parse_norm_kind(const std::string& name, const std::string& where);  // throws naming `where`

struct Normalizer {
  NormKind kind = NormKind::none;
  std::vector<float> shift, scale;  // [features]; x' = (x − shift) / scale; scale is never 0

  // minmax: shift = min, scale = max − min; zscore: shift = mean, scale = population std.
  // Constant features get scale 1, so they map to 0 instead of dividing by zero.
  static Normalizer fit(NormKind kind, const float* x /*[rows, cols]*/, int64_t rows, int64_t cols);
  void apply(float* x /*[rows, cols]*/, int64_t rows, int64_t cols) const;
  void invert(float* x /*[rows, cols]*/, int64_t rows, int64_t cols) const;
  nlohmann::json to_json() const;
  static Normalizer from_json(const nlohmann::json& j, int64_t features, const std::string& where);
};

}  // namespace ae
