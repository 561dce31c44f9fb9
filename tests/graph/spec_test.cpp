// Spec parsing: compact and JSON forms, the code layer, PyTorch names, and bad specs whose
// messages must name the field and the valid choices.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/spec.h"
#include "kernels/common/error.h"

namespace ae {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_spec(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Spec, CompactDefault) {
  Spec s = parse_spec("784-256r-32-256r-784s");
  EXPECT_EQ(s.input, 784);
  ASSERT_EQ(s.encoder.size(), 2u);
  ASSERT_EQ(s.decoder.size(), 2u);
  EXPECT_EQ(s.code_units(), 32);
  EXPECT_EQ(s.encoder[0].act, Act::relu);
  EXPECT_EQ(s.encoder[1].act, Act::linear);
  EXPECT_EQ(s.decoder[1].act, Act::sigmoid);
  EXPECT_EQ(s.to_compact(), "784-256r-32-256r-784s");
  EXPECT_EQ(s.parameter_count(), 784 * 256 + 256 + 256 * 32 + 32 + 32 * 256 + 256 + 256 * 784 + 784);
}

TEST(Spec, EveryActivationLetter) {
  Spec s = parse_spec("10-9l-8r-7k-6s-5t-4u-3e-2p-1g-3-10");
  Act want[] = {Act::linear, Act::relu, Act::leaky_relu, Act::sigmoid, Act::tanh, Act::selu, Act::elu, Act::softplus, Act::gelu};
  for (int l = 0; l < 9; ++l) EXPECT_EQ(s.layer(l).act, want[l]) << l;
  EXPECT_EQ(s.code_units(), 1);  // narrowest layer
  EXPECT_EQ(parse_spec(s.to_compact()).to_compact(), s.to_compact());
}

TEST(Spec, OvercompleteCodeMarkedAndJsonRoundTrip) {
  Spec s = parse_spec("20-64r*-50r-20");
  EXPECT_EQ(s.code_units(), 64);
  EXPECT_EQ(s.decoder.size(), 2u);
  EXPECT_EQ(s.to_compact(), "20-64r*-50r-20");
  EXPECT_EQ(parse_spec("20-64r-20").code_units(), 64);  // a single hidden layer is the code
  Spec j = parse_spec(s.to_json().dump());
  EXPECT_EQ(j.to_compact(), s.to_compact());
  Spec k = parse_spec(R"({"input": 6, "layers": [{"units": 8, "act": "tanh"}, {"units": 3}, {"units": 6, "act": "sigmoid"}], "code": 0})");
  EXPECT_EQ(k.code_units(), 8);
  EXPECT_EQ(k.decoder.size(), 2u);
}

TEST(Spec, PyTorchSequentialNames) {
  Spec s = parse_spec("784-256r-32-256r-784s");
  EXPECT_EQ(layer_param_prefix(s, 0), "encoder.0");
  EXPECT_EQ(layer_param_prefix(s, 1), "encoder.2");
  EXPECT_EQ(layer_param_prefix(s, 2), "decoder.0");
  EXPECT_EQ(layer_param_prefix(s, 3), "decoder.2");
  Spec t = parse_spec("8-4-2-4-8");
  EXPECT_EQ(layer_param_prefix(t, 1), "encoder.1");
}

TEST(Spec, BadInputNamesFieldAndChoices) {
  EXPECT_NE(error_of("784-256x-32-784").find("unknown activation letter 'x'"), std::string::npos);
  EXPECT_NE(error_of("784-256x-32-784").find("r relu"), std::string::npos);
  EXPECT_NE(error_of("784-0r-32-784").find("width 0"), std::string::npos);
  EXPECT_NE(error_of("784-256r-32-780").find("decoder's output has 780 features but the input has 784"), std::string::npos);
  EXPECT_NE(error_of("784").find("at least two layers"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("784--32-784").find("layer ''"), std::string::npos);
  std::string e = error_of(R"({"input": 4, "encoder": [{"units": 2, "act": "rleu"}], "decoder": [4]})");
  EXPECT_NE(e.find("unknown activation 'rleu' in encoder[0].act"), std::string::npos) << e;
  EXPECT_NE(e.find("linear, relu"), std::string::npos) << e;
  EXPECT_NE(error_of(R"({"input": 4, "encoder": [{"units": 0}], "decoder": [4]})").find("encoder[0].units"), std::string::npos);
  EXPECT_NE(error_of(R"({"input": 4, "encoder": [2], "decoder": [4], "extra": 1})").find("unknown field 'extra'"), std::string::npos);
  EXPECT_NE(error_of(R"({"input": 4, "encoder": [2]})").find("'decoder' is missing"), std::string::npos);
  EXPECT_NE(error_of(R"({"input": 4, "encoder": [2], )").find("invalid JSON"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent/spec.json").find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace ae
