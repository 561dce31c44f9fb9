// The convolutional part of the spec parser (issue 12), internal to graph/spec.cpp: the compact
// tokens (C16k3s2p1r, T1k3s2p1o1s, M2, A2, U2, R32x7x7, the input 1x28x28), the typed JSON layers,
// and the shape inference that derives each layer's output shape and checks it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "graph/spec.h"

namespace ae::spec_conv {

// A compact layer token of a non-dense kind: it starts with one of C T M A U R (a dense token
// starts with a digit).
bool is_layer_token(std::string_view token);
// Parses such a token (without a code mark); errors name `origin` and the token.
LayerSpec parse_layer_token(std::string_view token, std::string_view origin);
// The token of a non-dense layer, canonical: parameters at their defaults are left out.
std::string layer_token(const LayerSpec& l);
// "CxHxW" → {C, H, W}; nullopt when `token` has no 'x' (a flat width).
std::optional<Shape> parse_input_token(std::string_view token, std::string_view origin);

// A JSON layer object with a "type" other than "dense"; `where` is "encoder[2]".
LayerSpec parse_layer_json(const nlohmann::json& l, const std::string& where, std::string_view origin);
nlohmann::json layer_json(const LayerSpec& l);  // a non-dense layer's object, with "type"
// A JSON "input": an integer or [C, H, W]; sets spec.input and spec.input_shape.
void parse_input_json(const nlohmann::json& j, Spec& spec, std::string_view origin);

// Each layer's output shape from `in`; sets every non-dense layer's `units` to its output's C·H·W.
// Errors (one line) name the layer as name(i) gives it and show its input and output shapes.
std::vector<Shape> infer_shapes(const Shape& in, std::vector<LayerSpec>& layers, const std::function<std::string(size_t)>& name,
                                std::string_view origin);

// validate_spec's part for a convolutional spec: shapes (the decoder returns to the input's), and
// the options that are not yet combined with convolutional layers.
void validate_conv(const Spec& spec, std::string_view origin);

}  // namespace ae::spec_conv
