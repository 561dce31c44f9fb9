// Spec parsing: compact and JSON forms, the code layer, PyTorch names, and bad specs whose
// messages must name the field and the valid choices.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/param_registry.h"
#include "graph/spec.h"
#include "kernels/common/error.h"
#include "tests/expect_error.h"

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

// Found by fuzz/spec_fuzz.cpp: nlohmann throws out_of_range (not parse_error) for a number beyond
// double, which escaped parse_spec as a foreign exception (the CLI's catch-all, a crash elsewhere).
TEST(Spec, FuzzNumberBeyondDoubleIsAnAeError) {
  test::expect_error([] { parse_spec(R"({"input": 41e308, "encoder": [2], "decoder": [4]})"); },
                     {"--spec", "invalid JSON", "a number too large for a double"});
  test::expect_error([] { parse_spec(R"({"input": 4, "encoder": [2], "decoder": [4], "sparsity": {"kind": "l1", "lambda": -1e999}})"); },
                     {"--spec", "invalid JSON"});
}

// Found by the spec fuzz target: a .json name too long for the file system made std::filesystem
// throw its own exception out of parse_spec instead of an ae::Error.
TEST(Spec, FuzzFileNameTooLongIsAnAeError) {
  const std::string name = std::string(300, '\xff') + ".json";
  test::expect_error([&] { parse_spec(name); }, {"cannot open spec file", "File name too long"});
}

// Found while fuzzing (beyond the targets' 8 KB inputs): nlohmann's dump() recurses per nesting
// level, so a 200 KB "[[[[..." in a spec's message overflowed the stack (SIGSEGV in `ae plan`).
TEST(Spec, DeeplyNestedJsonIsRefusedNotAStackOverflow) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  test::expect_error([&] { parse_spec(R"({"input": 4, "encoder": [2], "decoder": [4], "tied": )" + deep + "}"); },
                     {"--spec", "invalid JSON", "nested deeper than 64 levels"});
  // ae's own nesting is far from the limit.
  const Spec ok = parse_spec(R"({"input": 4, "encoder": [{"units": 2}], "decoder": [4], "sparsity": {"kind": "l1", "lambda": 1}})");
  EXPECT_EQ(ok.sparsity.kind, Sparsity::Kind::l1);
}

TEST(Spec, TiedAndSparsityRoundTripThroughCompactAndJson) {
  Spec s = parse_spec("784-256r-32-256r-784s:tied:l1=0.001");
  EXPECT_TRUE(s.tied);
  EXPECT_EQ(s.sparsity.kind, Sparsity::Kind::l1);
  EXPECT_EQ(s.sparsity.lambda, 0.001);
  EXPECT_EQ(s.to_compact(), "784-256r-32-256r-784s:tied:l1=0.001");
  Spec j = parse_spec(s.to_json().dump());
  EXPECT_EQ(j.to_compact(), s.to_compact());
  EXPECT_EQ(parse_spec("784-256r-32-256r-784s:l1=0.5:tied").to_compact(), "784-256r-32-256r-784s:tied:l1=0.5");
  // Untied, unpenalised specs serialise exactly as before Graph v2.
  EXPECT_EQ(parse_spec("784-256r-32-256r-784s").to_json().dump(),
            R"({"decoder":[{"act":"relu","units":256},{"act":"sigmoid","units":784}],"encoder":[{"act":"relu","units":256},{"act":"linear","units":32}],"input":784})");
}

TEST(Spec, KlSparsityRoundTripsAndNeedsASigmoidCode) {
  Spec s = parse_spec("784-256r-32s-256r-784s:kl=0.05,3");
  EXPECT_EQ(s.sparsity.kind, Sparsity::Kind::kl);
  EXPECT_EQ(s.sparsity.rho, 0.05);
  EXPECT_EQ(s.sparsity.lambda, 3.0);
  EXPECT_EQ(parse_spec(s.to_compact()).sparsity, s.sparsity);
  EXPECT_EQ(parse_spec(s.to_json().dump()).sparsity, s.sparsity);
  EXPECT_EQ(parse_spec(s.to_json().dump()).to_compact(), s.to_compact());
  EXPECT_EQ(s.to_json()["sparsity"], nlohmann::json({{"kind", "kl"}, {"rho", 0.05}, {"beta", 3.0}}));
  EXPECT_EQ(parse_sparsity("kl:0.1:0", "--sparsity"), (Sparsity{Sparsity::Kind::kl, 0.0, 0.1}));
  test::expect_error([] { parse_spec("784-256r-32-256r-784s:kl=0.05,3"); },
                     {"--spec", "kl sparsity needs a sigmoid code layer", "encoder[1]", "linear", "32s"});
  test::expect_error([] { parse_spec(R"({"input": 4, "encoder": [{"units": 2, "act": "relu"}], "decoder": [4], "sparsity": {"kind": "kl", "rho": 0.1, "beta": 1}})"); },
                     {"--spec", "sigmoid code layer", "relu"});
  for (const char* bad : {"kl:0:3", "kl:1:3", "kl:1.5:3", "kl:-0.1:3"})
    test::expect_error([&] { parse_sparsity(bad, "--sparsity"); }, {"--sparsity", bad, "RHO", "(0, 1)"});
  test::expect_error([] { parse_sparsity("kl:0.05:-1", "--sparsity"); }, {"--sparsity", "BETA", "≥ 0"});
  for (const char* bad : {"kl:0.05", "kl:", "kl:x:1", "kl:0.05:inf"})
    test::expect_error([&] { parse_sparsity(bad, "--sparsity"); }, {"--sparsity", "kl:RHO:BETA"});
  test::expect_error([] { parse_sparsity("kld:0.05:1", "--sparsity"); }, {"unknown sparsity", "kl:RHO:BETA"});
  test::expect_error([] { parse_spec(R"({"input": 4, "encoder": [{"units": 2, "act": "sigmoid"}], "decoder": [4], "sparsity": {"kind": "kl", "rho": 0.1}})"); },
                     {"'sparsity' must be", "\"kind\": \"kl\""});
}

TEST(Spec, TiedParametersComeFromTheRegistryOnce) {
  ParamRegistry r = param_registry(parse_spec("6-4t-2-4t-6s:tied"));
  std::vector<std::string> names;
  for (const auto& p : r.params) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
                                             "decoder.0.bias", "decoder.2.bias"}));
  ASSERT_EQ(r.layers.size(), 4u);
  EXPECT_EQ(r.layers[3].weight, 0);  // the output layer uses encoder.0.weight ...
  EXPECT_TRUE(r.layers[3].trans_w);  // ... transposed
  EXPECT_EQ(r.layers[2].weight, 2);
  EXPECT_FALSE(r.layers[0].trans_w);
  EXPECT_EQ(r.count(), 4 * 6 + 4 + 2 * 4 + 2 + 4 + 6);
  EXPECT_EQ(parse_spec("6-4t-2-4t-6s:tied").parameter_count(), r.count());
  EXPECT_EQ(parse_spec("6-4t-2-4t-6s").parameter_count(), 6 * 4 + 4 + 4 * 2 + 2 + 2 * 4 + 4 + 4 * 6 + 6);
}

TEST(Spec, BadTiedAndSparsitySettingsNameTheField) {
  EXPECT_NE(error_of("6-4t-2-3t-6s:tied").find("decoder[0] is 3 wide where its mirror encoder[1] takes 4 inputs"), std::string::npos);
  EXPECT_NE(error_of("6-4-2-6:tied").find("as many decoder layers as encoder layers"), std::string::npos);
  EXPECT_NE(error_of("6-4-2-4-6:tide").find("unknown spec option ':tide'"), std::string::npos);
  EXPECT_NE(error_of("6-4-2-4-6:l1=-2").find("finite LAMBDA"), std::string::npos);
  EXPECT_NE(error_of("6-4-2-4-6:tied:tied").find("':tied' is given twice"), std::string::npos);
  EXPECT_NE(error_of("6-4-2-4-6:l1=1:l1=2").find("':l1=' is given twice"), std::string::npos);
  EXPECT_NE(error_of(R"({"input": 4, "encoder": [2], "decoder": [4], "tied": 1})").find("'tied' must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"input": 4, "encoder": [2], "decoder": [4], "sparsity": {"kind": "kl"}})").find("'sparsity' must be"),
            std::string::npos);
}

// A variational code layer: 'v' on the code layer, its heads in the registry as one [2N, K] GEMM
// stored under two names, β and the warm-up in both forms; 'v' never moves the code.
TEST(Spec, VariationalRoundTripsAndStaysOnTheCodeLayer) {
  const Spec s = parse_spec("784-400r-20v-400r-784s:beta=4:kl_warmup=1000");
  ASSERT_TRUE(s.variational());
  EXPECT_EQ(s.code_units(), 20);
  EXPECT_EQ(s.beta, 4);
  EXPECT_EQ(s.kl_warmup, 1000);
  EXPECT_EQ(s.to_compact(), "784-400r-20v-400r-784s:beta=4:kl_warmup=1000");
  const Spec j = parse_spec(s.to_json().dump());
  EXPECT_EQ(j.to_compact(), s.to_compact());
  EXPECT_EQ(s.to_json()["encoder"][1].value("variational", false), true);
  EXPECT_FALSE(s.to_json()["encoder"][0].contains("variational"));
  EXPECT_FALSE(parse_spec("784-400r-20v-400r-784s").to_json().contains("beta")) << "defaults are not written";
  const ParamRegistry reg = param_registry(s);
  const ParamDef& w = reg.params[size_t(reg.layers[1].weight)];
  EXPECT_EQ(w.dims, (std::vector<int64_t>{40, 400}));
  EXPECT_EQ(w.file_names, (std::vector<std::string>{"mu.weight", "logvar.weight"}));
  EXPECT_EQ(reg.params[size_t(reg.layers[1].bias)].file_names, (std::vector<std::string>{"mu.bias", "logvar.bias"}));
  EXPECT_EQ(s.parameter_count(), 784 * 400 + 400 + 2 * (400 * 20 + 20) + 20 * 400 + 400 + 400 * 784 + 784);
  // An overcomplete VAE: the code marked with '*' may carry 'v'.
  EXPECT_EQ(parse_spec("784-1024v*-784s").to_compact(), "784-1024v-784s");
  EXPECT_EQ(parse_spec("784-512r-1024v*-512r-784s").to_compact(), "784-512r-1024v*-512r-784s");
  // 'v' on a layer that is not the code: an error naming both layers, never a silently moved code.
  const std::string e = error_of("784-400v-20-400r-784s");
  EXPECT_NE(e.find("encoder[0] (400 units) is variational ('v'), but only the code layer can be"), std::string::npos) << e;
  EXPECT_NE(e.find("encoder[1] (20 units"), std::string::npos) << e;
  EXPECT_NE(error_of("784-400r-20v-400r-784s:beta=-2").find("beta '-2' must be a finite number ≥ 0"), std::string::npos);
  EXPECT_NE(error_of("784-400r-20-400r-784s:beta=2").find("no variational code layer"), std::string::npos);
  EXPECT_NE(error_of("784-400r-20v-400r-784s:kl_warmup=1.5").find("whole number of steps"), std::string::npos);
}

}  // namespace
}  // namespace ae
