// Spec parsing: compact and JSON forms, the code layer, PyTorch names, and bad specs whose
// messages must name the field and the valid choices.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/build.h"
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

// ---- Convolutional layers (issue 12): the spec (the graph: tests/runtime/conv_graph_test.cpp). ----

constexpr const char* CLASSIC = "1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7|-T32k7r-T16k3s2p1o1r-T1k3s2p1o1s";

// name → shape of every stored parameter, in order.
std::vector<std::pair<std::string, std::vector<int64_t>>> params_of(const Spec& s) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> r;
  for (const ParamDef& p : param_registry(s).params) r.emplace_back(p.name, p.dims);
  return r;
}

void expect_round_trips(const Spec& s) {
  EXPECT_EQ(parse_spec(s.to_compact()), s) << s.to_compact();
  EXPECT_EQ(parse_spec(s.to_json().dump()), s) << s.to_json().dump();
  EXPECT_EQ(parse_spec_json(s.to_json(), "test"), s) << s.to_json().dump();
}

TEST(SpecConv, ClassicShapesCodeAndCompact) {
  Spec s = parse_spec(CLASSIC);
  EXPECT_EQ(s.input, 784);
  EXPECT_EQ(s.input_shape, (Shape{1, 28, 28}));
  ASSERT_EQ(s.encoder.size(), 3u);
  ASSERT_EQ(s.decoder.size(), 3u);
  EXPECT_TRUE(s.convolutional());
  EXPECT_EQ(s.code_units(), 64);
  const LayerSpec& c = s.encoder[0];
  EXPECT_EQ(c.kind, LayerKind::conv2d);
  EXPECT_EQ(c.channels, 16);
  EXPECT_EQ(c.kernel, 3);
  EXPECT_EQ(c.stride, 2);
  EXPECT_EQ(c.padding, 1);
  EXPECT_EQ(c.act, Act::relu);
  EXPECT_EQ(s.decoder[2].kind, LayerKind::conv_transpose2d);
  EXPECT_EQ(s.decoder[2].output_padding, 1);
  EXPECT_EQ(s.decoder[2].act, Act::sigmoid);
  const std::vector<Shape> want = {{16, 14, 14}, {32, 7, 7}, {64, 1, 1}, {32, 7, 7}, {16, 14, 14}, {1, 28, 28}};
  EXPECT_EQ(s.layer_shapes(), want);
  // The code is the narrowest anyway, so the canonical form has no mark.
  EXPECT_EQ(s.to_compact(), "1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7-T32k7r-T16k3s2p1o1r-T1k3s2p1o1s");
  EXPECT_EQ(parse_spec("1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7*-T32k7r-T16k3s2p1o1r-T1k3s2p1o1s"), s);
  expect_round_trips(s);
  EXPECT_FALSE(parse_spec("784-256r-32-256r-784s").convolutional());
}

TEST(SpecConv, ClassicPyTorchNamesShapesAndCount) {
  // encoder = Sequential(Conv2d(1,16,3,2,1), ReLU, Conv2d(16,32,3,2,1), ReLU, Conv2d(32,64,7))
  // decoder = Sequential(ConvTranspose2d(64,32,7), ReLU, ConvTranspose2d(32,16,3,2,1,1), ReLU,
  //                      ConvTranspose2d(16,1,3,2,1,1), Sigmoid)
  Spec s = parse_spec(CLASSIC);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> want = {
      {"encoder.0.weight", {16, 1, 3, 3}},  {"encoder.0.bias", {16}}, {"encoder.2.weight", {32, 16, 3, 3}},
      {"encoder.2.bias", {32}},             {"encoder.4.weight", {64, 32, 7, 7}}, {"encoder.4.bias", {64}},
      {"decoder.0.weight", {64, 32, 7, 7}}, {"decoder.0.bias", {32}}, {"decoder.2.weight", {32, 16, 3, 3}},
      {"decoder.2.bias", {16}},             {"decoder.4.weight", {16, 1, 3, 3}},  {"decoder.4.bias", {1}}};
  EXPECT_EQ(params_of(s), want);
  EXPECT_EQ(s.parameter_count(), 144 + 16 + 4608 + 32 + 100352 + 64 + 100352 + 32 + 4608 + 16 + 144 + 1);
}

TEST(SpecConv, PoolsUpsampleReshapeAndDenseCode) {
  // encoder = Sequential(Conv2d(1,8,3,padding=1), ReLU, MaxPool2d(2), AvgPool2d(2), Flatten, Linear(392,32))
  // decoder = Sequential(Linear(32,392), ReLU, Unflatten(1,(8,7,7)), Upsample(2), ConvTranspose2d(8,1,3,2,1,1), Sigmoid)
  Spec s = parse_spec("1x28x28-C8k3p1r-M2-A2-32-392r-R8x7x7-U2-T1k3s2p1o1s");
  ASSERT_EQ(s.encoder.size(), 4u);
  EXPECT_EQ(s.code_units(), 32);
  EXPECT_EQ(s.encoder[1].kind, LayerKind::max_pool2d);
  EXPECT_EQ(s.encoder[1].stride, 2);  // a pool's stride defaults to its kernel
  EXPECT_EQ(s.encoder[2].kind, LayerKind::avg_pool2d);
  const std::vector<Shape> want_shapes = {{8, 28, 28}, {8, 14, 14}, {8, 7, 7}, {32}, {392}, {8, 7, 7}, {8, 14, 14}, {1, 28, 28}};
  EXPECT_EQ(s.layer_shapes(), want_shapes);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> want = {
      {"encoder.0.weight", {8, 1, 3, 3}}, {"encoder.0.bias", {8}},   {"encoder.5.weight", {32, 392}}, {"encoder.5.bias", {32}},
      {"decoder.0.weight", {392, 32}},    {"decoder.0.bias", {392}}, {"decoder.4.weight", {8, 1, 3, 3}}, {"decoder.4.bias", {1}}};
  EXPECT_EQ(params_of(s), want);
  EXPECT_EQ(s.parameter_count(), 72 + 8 + 392 * 32 + 32 + 32 * 392 + 392 + 72 + 1);
  EXPECT_EQ(layer_param_prefix(s, 1), "encoder.2");
  EXPECT_EQ(layer_param_prefix(s, 2), "encoder.3");
  EXPECT_EQ(layer_param_prefix(s, 5), "decoder.2");
  EXPECT_EQ(layer_param_prefix(s, 6), "decoder.3");
  const ParamRegistry r = param_registry(s);
  EXPECT_EQ(r.layers[1].weight, -1);  // a pool has no parameters
  EXPECT_EQ(r.layers[1].bias, -1);
  expect_round_trips(s);
}

TEST(SpecConv, FlattenBeforeDenseDecoderOnImageCode) {
  // encoder = Sequential(Conv2d(1,2,3, bias=False)); decoder = Sequential(Flatten, Linear(8,8), Linear(8,16), Unflatten)
  Spec s = parse_spec("1x4x4-C2k3b0-8-16-R1x4x4");
  EXPECT_EQ(s.code_units(), 8);  // [2,2,2]: 8 elements, the first of the narrowest
  ASSERT_EQ(s.encoder.size(), 1u);
  EXPECT_FALSE(s.encoder[0].bias);
  const std::vector<std::pair<std::string, std::vector<int64_t>>> want = {
      {"encoder.0.weight", {2, 1, 3, 3}}, {"decoder.1.weight", {8, 8}}, {"decoder.1.bias", {8}},
      {"decoder.2.weight", {16, 8}},      {"decoder.2.bias", {16}}};
  EXPECT_EQ(params_of(s), want);
  EXPECT_EQ(s.parameter_count(), 18 + 64 + 8 + 128 + 16);
  expect_round_trips(s);
}

TEST(SpecConv, EveryParameterRoundTrips) {
  for (const char* text : {"3x10x10-C4k3s2p1d2b0t-T3k3s2p1o1d2g", "2x8x8-M3s2p1-A2s1-U2-R8x3x3-T2k2s3", "1x6x6-C1k3-T1k3", "1x8x8-C4k3s-T1k3s"})
    expect_round_trips(parse_spec(text));
  Spec d = parse_spec("3x10x10-C4k3s2p1d2b0t-T3k3s2p1o1d2g");
  EXPECT_EQ(d.encoder[0].dilation, 2);
  EXPECT_EQ(d.encoder[0].act, Act::tanh);
  EXPECT_EQ(d.decoder[0].act, Act::gelu);
  // A letter with digits is a parameter, a letter alone at the end the activation: C4k3s is a
  // sigmoid convolution of stride 1.
  Spec t = parse_spec("1x8x8-C4k3s-T1k3s");
  EXPECT_EQ(t.encoder[0].stride, 1);
  EXPECT_EQ(t.encoder[0].act, Act::sigmoid);
  EXPECT_EQ(parse_spec("2x8x8-M3s2p1-A2s1-U2-R8x3x3-T2k2s3").encoder[0].padding, 1);
}

TEST(SpecConv, JsonForm) {
  Spec s = parse_spec(R"({"input": [1, 28, 28],
    "encoder": [{"type": "conv2d", "out_channels": 16, "kernel": 3, "stride": 2, "padding": 1, "act": "relu"},
                {"type": "conv2d", "out_channels": 32, "kernel": 3, "stride": 2, "padding": 1, "act": "relu"},
                {"type": "conv2d", "out_channels": 64, "kernel": 7}],
    "decoder": [{"type": "conv_transpose2d", "out_channels": 32, "kernel": 7, "act": "relu"},
                {"type": "conv_transpose2d", "out_channels": 16, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1, "act": "relu"},
                {"type": "conv_transpose2d", "out_channels": 1, "kernel": 3, "stride": 2, "padding": 1, "output_padding": 1, "act": "sigmoid"}]})");
  EXPECT_EQ(s, parse_spec(CLASSIC));
  Spec p = parse_spec(R"({"input": [1, 28, 28], "layers": [{"type": "max_pool2d", "kernel": 2}, {"type": "dense", "units": 10},
    {"units": 196}, {"type": "reshape", "shape": [1, 14, 14]}, {"type": "upsample", "scale": 2}]})");
  EXPECT_EQ(p.code_units(), 10);
  EXPECT_EQ(p.to_compact(), "1x28x28-M2-10-196-R1x14x14-U2");
  EXPECT_EQ(p.to_json()["input"], nlohmann::json::parse("[1, 28, 28]"));
  // "code": true marks another layer as the code, as '|' does.
  Spec m = parse_spec(R"({"input": [1, 4, 4], "layers": [{"type": "conv2d", "out_channels": 4, "kernel": 3, "code": true},
    {"units": 2}, {"units": 16}, {"type": "reshape", "shape": [1, 4, 4]}]})");
  EXPECT_EQ(m, parse_spec("1x4x4-C4k3|-2-16-R1x4x4"));
  EXPECT_EQ(m.code_units(), 16);
  EXPECT_EQ(m.to_compact(), "1x4x4-C4k3*-2-16-R1x4x4");
  expect_round_trips(m);
  test::expect_error([] { parse_spec(R"({"input": 4, "layers": [{"units": 2, "code": true}, {"units": 4, "code": true}]})"); },
                     {"more than one code layer is marked"});
  expect_round_trips(p);
  // A dense spec's JSON is as before.
  EXPECT_EQ(parse_spec("784-32-784").to_json()["input"], 784);
}

TEST(SpecConv, ParseErrorsNameTheFieldAndChoices) {
  using test::expect_error;
  expect_error([] { parse_spec(R"({"input": [1, 8, 8], "encoder": [{"type": "conv3d"}], "decoder": [8]})"); },
               {"unknown layer type \"conv3d\" in encoder[0].type", "expected one of: dense, conv2d, conv_transpose2d, max_pool2d"});
  expect_error([] { parse_spec(R"({"input": [1, 8, 8], "encoder": [{"type": "conv2d", "out_channels": 2, "kernel": 3, "strides": 2}], "decoder": [8]})"); },
               {"unknown field 'strides' in encoder[0] (conv2d)", "expected: type, out_channels, kernel, stride, padding, dilation, bias, act"});
  expect_error([] { parse_spec(R"({"input": [1, 8, 8], "encoder": [{"type": "max_pool2d"}], "decoder": [8]})"); },
               {"encoder[0].kernel is missing"});
  expect_error([] { parse_spec(R"({"input": [1, 8], "encoder": [4], "decoder": [8]})"); }, {"'input' must be a width (784) or an image shape [C, H, W]"});
  expect_error([] { parse_spec("1x8x8-C4k3x2-64"); }, {"layer 'C4k3x2'", "unknown parameter 'x' for a conv2d; expected: k kernel, s stride"});
  expect_error([] { parse_spec("1x8x8-C4-64"); }, {"layer 'C4'", "needs its kernel size"});
  expect_error([] { parse_spec("1x8x8-M2r-64"); }, {"layer 'M2r'", "a max_pool2d has no activation"});
  expect_error([] { parse_spec("1x8x8-C4k3k3-64"); }, {"parameter 'k' is given twice"});
  expect_error([] { parse_spec("1x8-C4k3-64"); }, {"input '1x8' must be a width (784) or an image shape CxHxW"});
  expect_error([] { parse_spec("1x8x8-C4k3v-64"); }, {"not yet with convolutional layers"});
}

TEST(SpecConv, ShapeErrorsNameTheLayerAndBothShapes) {
  using test::expect_error;
  expect_error([] { parse_spec("1x5x5-C4k7-T1k7"); }, {"layer 'C4k7' (conv2d): kernel 7 is larger than its padded input [1,5,5] (5 + 2·0 = 5)"});
  expect_error([] { parse_spec(R"({"input": [1, 5, 5], "encoder": [{"type": "conv2d", "out_channels": 2, "kernel": 3, "dilation": 3}], "decoder": [25]})"); },
               {"encoder[0] (conv2d): kernel 3 (dilated to 7) is larger than its padded input [1,5,5]"});
  expect_error([] { parse_spec("1x8x8-C4k2s2-T1k2s2o2"); },
               {"layer 'T1k2s2o2' (conv_transpose2d): output padding 2 must be smaller than the stride 2 or the dilation 1", "input [4,4,4]"});
  expect_error([] { parse_spec("1x8x8-16-C4k3-64"); },
               {"layer 'C4k3' (conv2d): needs a [C,H,W] input but gets the output [16] of layer '16', which is flat", "R16x7x7"});
  expect_error([] { parse_spec("64-M2-64"); }, {"layer 'M2' (max_pool2d): needs a [C,H,W] input but gets the input [64]", "1x28x28"});
  expect_error([] { parse_spec("1x8x8-16-R2x3x3-64"); },
               {"layer 'R2x3x3' (reshape): reshape to [2,3,3] (18 elements) but its input [16] has 16"});
  expect_error([] { parse_spec("1x8x8-M3p2-64"); }, {"padding 2 must be at most half the kernel 3"});
  expect_error([] { parse_spec("1x28x28-C16k3p1r-C16k3p1"); }, {"decoder ends at [16,28,28] but the input is [1,28,28]"});
  expect_error([] { parse_spec("1x28x28-C16k3p1r-784"); }, {"decoder ends at [784] but the input is [1,28,28]", "R1x28x28"});
  expect_error([] { parse_spec(R"({"input": [1, 28, 28], "encoder": [{"type": "conv2d", "out_channels": 4, "kernel": 3}],
      "decoder": [{"type": "conv_transpose2d", "out_channels": 4, "kernel": 3}]})"); },
               {"decoder ends at [4,28,28] but the input is [1,28,28]"});
}

TEST(SpecConv, ASpecWithoutParametersIsRefused) {
  for (const char* spec : {"1x8x8-M2|-U2", "1x8x8-R1x8x8|-R1x8x8", "1x8x8-A2|-U2"})
    test::expect_error([&] { parse_spec(spec); }, {"no layer has parameters (only pools, upsampling and reshapes)"});
  EXPECT_NO_THROW(parse_spec("1x8x8-M2|-U2-C1k3p1s"));
}

TEST(SpecConv, OptionsNotYetWithConvolutionalLayers) {
  using test::expect_error;
  const std::string base = "1x28x28-C16k3s2p1r-T1k3s2p1o1s";
  for (const char* opt : {":tied", ":contractive=0.1", ":l1=0.001", ":mask=0.3", ":adversarial=3136-64r-1"})
    expect_error([&] { parse_spec(base + opt); }, {"not yet with convolutional layers"});
}

}  // namespace
}  // namespace ae
