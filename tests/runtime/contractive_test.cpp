// The contractive penalty is what it claims to be: the "contractive" term the graph builds (a
// closed form for one-layer encoders, a code-side chain and W₁W₁ᵀ for deeper ones) equals
// (1/B) Σ_b ‖∂h(x_b)/∂x_b‖²_F with the Jacobian taken by fp64 central differences of the encoder's
// forward pass, input element by input element — an independent computation of the same number.
// (The term's gradient is checked against central differences in autodiff_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "graph/build.h"
#include "graph/spec.h"
#include "tests/runtime/ir_reference.h"

namespace ae::test {
namespace {

constexpr int64_t BATCH = 3;

int tensor_named(const Graph& g, const std::string& name) {
  for (size_t t = 0; t < g.tensors.size(); ++t)
    if (g.tensors[t].name == name) return int(t);
  return -1;
}

double term_value(const Graph& g, IrValues& v, const std::string& name) {
  for (const Term& t : g.terms)
    if (t.name == name) return v[t.tensor][0];
  ADD_FAILURE() << "no term " << name;
  return NAN;
}

struct Case {
  const char* spec;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.spec; }

class Contractive : public ::testing::TestWithParam<Case> {};

TEST_P(Contractive, TermIsTheSquaredJacobianNormByCentralDifferences) {
  const Spec spec = parse_spec(GetParam().spec);
  BuildOptions o;
  o.mode = GraphMode::train;
  const Graph g = build_graph(spec, o);
  const int n_enc = int(spec.encoder.size());
  const std::string code_name =
      "layer" + std::to_string(n_enc - 1) + (spec.encoder.back().act == Act::linear ? ".z" : ".y");
  const int code = tensor_named(g, code_name), x = g.inputs.at(0);
  ASSERT_GE(code, 0) << code_name;

  IrValues v(g, BATCH);
  ir_fill_leaves(v, 7);
  const int fwd = forward_end(g);
  ir_run(v, fwd);
  const double term = term_value(g, v, "contractive");

  // ‖J‖²_F by central differences: perturb each input element, difference the code.
  const int64_t d = spec.input, c = spec.code_units();
  const double h = 1e-5;
  double sum = 0;
  for (int64_t b = 0; b < BATCH; ++b)
    for (int64_t i = 0; i < d; ++i) {
      double& xi = v.v[size_t(x)][size_t(b * d + i)];
      const double keep = xi;
      xi = keep + h;
      ir_run(v, fwd);
      const std::vector<double> plus(v[code] + b * c, v[code] + (b + 1) * c);
      xi = keep - h;
      ir_run(v, fwd);
      for (int64_t j = 0; j < c; ++j) {
        const double dh = (plus[size_t(j)] - v[code][b * c + j]) / (2 * h);
        sum += dh * dh;
      }
      xi = keep;
    }
  const double numeric = sum / double(BATCH);
  std::printf("%s: contractive term %.12g, central differences %.12g\n", GetParam().spec, term, numeric);
  EXPECT_GT(numeric, 1e-3);  // a real Jacobian, not an empty sum
  EXPECT_NEAR(term, numeric, 1e-6 * numeric);
}

INSTANTIATE_TEST_SUITE_P(Specs, Contractive,
                         ::testing::Values(Case{"9-4t-9s:contractive=1"}, Case{"9-4g-9:contractive=1"},
                                           Case{"9-6s-3s-6s-9s:contractive=1"}, Case{"9-7t-5g-3e-5r-9:contractive=1"},
                                           Case{"9-7p-6u-4l-3s-5-9s:contractive=1"}, Case{"9-6k-5-6-9:contractive=1"}),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           std::string s = i.param.spec;
                           s = s.substr(0, s.find(':'));
                           for (char& ch : s)
                             if (ch == '-') ch = '_';
                           return "e" + s;
                         });

}  // namespace
}  // namespace ae::test
