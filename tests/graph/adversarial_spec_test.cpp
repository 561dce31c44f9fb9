// An adversarial autoencoder's spec: the discriminator (":adversarial=DSPEC", JSON "adversarial")
// and its prior, both forms round-tripping, and every bad setting refused in one line that names
// the field or flag and says why.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "graph/spec.h"
#include "kernels/common/error.h"
#include "tests/expect_error.h"

namespace ae {
namespace {

using test::expect_error;

TEST(AdversarialSpec, CompactFormParsesAndRoundTrips) {
  const Spec s = parse_spec("784-256r-16-256r-784s:adversarial=16-64r-64r-1");
  ASSERT_TRUE(s.adversarial.enabled());
  EXPECT_EQ(s.adversarial.input, 16);
  ASSERT_EQ(s.adversarial.layers.size(), 3u);
  EXPECT_EQ(s.adversarial.layers[0].units, 64);
  EXPECT_EQ(s.adversarial.layers[0].act, Act::relu);
  EXPECT_EQ(s.adversarial.layers[2].units, 1);
  EXPECT_EQ(s.adversarial.layers[2].act, Act::linear);
  EXPECT_EQ(s.adversarial.prior, PriorKind::gaussian);
  EXPECT_EQ(s.to_compact(), "784-256r-16-256r-784s:adversarial=16-64r-64r-1");  // the default prior is not written
  EXPECT_EQ(s.code_units(), 16);
  EXPECT_EQ(s.num_layers(), 4);  // the discriminator is no autoencoder layer

  const Spec u = parse_spec("8-4t-2-4t-8s:prior=uniform:adversarial=2-5k-1");
  EXPECT_EQ(u.adversarial.prior, PriorKind::uniform);
  EXPECT_EQ(u.adversarial.layers[0].act, Act::leaky_relu);
  EXPECT_EQ(u.to_compact(), "8-4t-2-4t-8s:adversarial=2-5k-1:prior=uniform");
  EXPECT_EQ(parse_spec(u.to_compact()).adversarial, u.adversarial);
  EXPECT_EQ(parse_spec("8-4t-2-4t-8s:adversarial=2-1:prior=gaussian").to_compact(), "8-4t-2-4t-8s:adversarial=2-1");
  // with a noise: corruption applies to the reconstruction phase
  EXPECT_EQ(parse_spec("8-4t-2-4t-8s:mask=0.2:adversarial=2-3r-1").to_compact(), "8-4t-2-4t-8s:adversarial=2-3r-1:mask=0.2");
}

TEST(AdversarialSpec, JsonFormRoundTripsAndOldFilesAreUnchanged) {
  const Spec s = parse_spec("784-256r-16-256r-784s:adversarial=16-64r-64r-1:prior=uniform");
  const nlohmann::json j = s.to_json();
  ASSERT_TRUE(j.contains("adversarial"));
  EXPECT_EQ(j["adversarial"], (nlohmann::json{{"discriminator", "16-64r-64r-1"}, {"prior", "uniform"}}));
  const Spec back = parse_spec(j.dump());
  EXPECT_EQ(back.to_compact(), s.to_compact());
  EXPECT_EQ(back.adversarial, s.adversarial);
  const Spec g = parse_spec(R"({"input": 6, "encoder": [{"units": 4, "act": "relu"}, 3], "decoder": [6],
                                 "adversarial": {"discriminator": "3-8t-1"}})");
  EXPECT_EQ(g.adversarial.prior, PriorKind::gaussian);
  EXPECT_EQ(g.to_json()["adversarial"]["prior"], "gaussian");
  // No discriminator: no key, so every earlier file is written as before.
  const std::string plain = R"({"decoder":[{"act":"relu","units":256},{"act":"sigmoid","units":784}],)"
                            R"("encoder":[{"act":"relu","units":256},{"act":"linear","units":32}],"input":784})";
  EXPECT_EQ(parse_spec("784-256r-32-256r-784s").to_json().dump(), plain);
  EXPECT_EQ(parse_spec(plain).to_compact(), "784-256r-32-256r-784s");
}

TEST(AdversarialSpec, BadDiscriminatorsNameTheFieldAndSayWhy) {
  const auto bad = [](const std::string& spec, std::initializer_list<std::string> parts) {
    SCOPED_TRACE(spec);
    expect_error([&] { parse_spec(spec); }, parts);
  };
  bad("784-256r-16-256r-784s:adversarial=32-64r-1",
      {"--spec", "discriminator 32-64r-1", "its input width 32 is not the code width 16"});
  bad("8-4-2-4-8:adversarial=2-3r-2", {"--spec", "must end in one linear logit", "2 wide"});
  bad("8-4-2-4-8:adversarial=2-3r-1s", {"--spec", "must end in one linear logit", "sigmoid"});
  bad("8-4-2-4-8:adversarial=2", {"--spec", "discriminator '2' has no layers", "2-64r-64r-1"});
  bad("8-4-2-4-8:adversarial=", {"--spec", "''"});
  bad("8-4-2-4-8:adversarial=2-3x-1", {"--spec", "unknown activation letter 'x'", "discriminator layer '3x'"});
  bad("8-4-2-4-8:adversarial=2-0-1", {"--spec", "width 0"});
  bad("8-4-2-4-8:prior=uniform", {"--spec", ":prior=uniform", "has none", ":adversarial=2-64r-64r-1"});
  bad("8-4-2-4-8:adversarial=2-1:prior=laplace", {"--spec", "unknown prior 'laplace'", "gaussian", "uniform"});
  bad("8-4-2-4-8:adversarial=2-1:adversarial=2-1", {"':adversarial=' is given twice"});
  bad("8-4-2-4-8:prior=uniform:prior=uniform:adversarial=2-1", {"':prior=' is given twice"});
  bad("8-4-2v-4-8:adversarial=2-1", {"cannot regularise a variational code", "KL term"});
  bad("8-4-2-4-8:tied:adversarial=2-1", {"cannot be combined with tied weights", "generator phase updates the encoder alone"});
  bad("8-4-2s-4-8:l1=0.1:adversarial=2-1", {"cannot be combined with a sparsity penalty"});
  bad("8-4-2-4-8:contractive=0.1:adversarial=2-1", {"cannot be combined with the contractive penalty"});
  bad(R"({"input": 4, "encoder": [2], "decoder": [4], "adversarial": {"discriminator": "3-1"}})",
      {"its input width 3 is not the code width 2"});
  bad(R"({"input": 4, "encoder": [2], "decoder": [4], "adversarial": {"discriminator": "2-1", "prior": "cauchy"}})",
      {"--spec adversarial.prior", "unknown prior 'cauchy'"});
  bad(R"({"input": 4, "encoder": [2], "decoder": [4], "adversarial": {"discriminator": "2"}})",
      {"--spec adversarial.discriminator", "has no layers"});
  bad(R"({"input": 4, "encoder": [2], "decoder": [4], "adversarial": {"prior": "uniform"}})",
      {"'adversarial' must be {\"discriminator\""});
  bad(R"({"input": 4, "encoder": [2], "decoder": [4], "adversarial": {"discriminator": "2-1", "lr": 3}})",
      {"'adversarial' must be"});
  bad(R"({"input": 4, "encoder": [2], "decoder": [4], "adversarial": "2-1"})", {"'adversarial' must be"});
}

TEST(AdversarialSpec, FlagParsersNameTheirFlag) {
  EXPECT_NO_THROW(parse_discriminator("16-64r", "--adversarial"));  // parses; validate_spec judges the fit
  EXPECT_EQ(parse_discriminator("16-64r-1", "--adversarial").to_string(), "16-64r-1");
  expect_error([] { parse_discriminator("16", "--adversarial"); }, {"--adversarial", "has no layers"});
  expect_error([] { parse_prior("normal", "--prior"); }, {"--prior", "unknown prior 'normal'"});
  EXPECT_EQ(parse_prior("uniform", "--prior"), PriorKind::uniform);
}

TEST(AdversarialSpec, DiscriminatorParamNamesAreNnSequentialIndices) {
  const Spec s = parse_spec("784-256r-16-256r-784s:adversarial=16-64r-64-32t-1");
  EXPECT_EQ(discriminator_param_prefix(s, 0), "discriminator.0");
  EXPECT_EQ(discriminator_param_prefix(s, 1), "discriminator.2");  // after the relu module
  EXPECT_EQ(discriminator_param_prefix(s, 2), "discriminator.3");  // a linear layer has no activation module
  EXPECT_EQ(discriminator_param_prefix(s, 3), "discriminator.5");
}

}  // namespace
}  // namespace ae
