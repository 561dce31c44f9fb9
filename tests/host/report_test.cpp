// Unit tests of `ae report`'s parts: the principal components of the code scatter (against
// matrices with known eigen-decompositions), the gnuplot driver (quoting, a failing script, a
// missing gnuplot), label ordering and HTML escaping.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "host/report/figures.h"
#include "host/report/pca.h"
#include "host/report/plot.h"
#include "host/report/report.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ae::report {
namespace {

std::vector<double> random_symmetric(int64_t d, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> n(0, 1);
  std::vector<double> a(size_t(d * d));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = i; j < d; ++j) a[size_t(i * d + j)] = a[size_t(j * d + i)] = n(rng);
  return a;
}

// A·v = λ·v for every pair, the vectors orthonormal, the values descending, their sum the trace.
void check_decomposition(const std::vector<double>& a, int64_t d, const SymmetricEigen& e) {
  ASSERT_EQ(e.values.size(), size_t(d));
  double trace = 0, sum = 0;
  for (int64_t k = 0; k < d; ++k) {
    trace += a[size_t(k * d + k)], sum += e.values[size_t(k)];
    if (k > 0) EXPECT_GE(e.values[size_t(k - 1)], e.values[size_t(k)]);
    for (int64_t i = 0; i < d; ++i) {
      double av = 0;
      for (int64_t j = 0; j < d; ++j) av += a[size_t(i * d + j)] * e.vectors[size_t(k * d + j)];
      EXPECT_NEAR(av, e.values[size_t(k)] * e.vectors[size_t(k * d + i)], 1e-9) << "d=" << d << " k=" << k << " i=" << i;
    }
    for (int64_t l = 0; l < d; ++l) {
      double dot = 0;
      for (int64_t j = 0; j < d; ++j) dot += e.vectors[size_t(k * d + j)] * e.vectors[size_t(l * d + j)];
      EXPECT_NEAR(dot, k == l ? 1.0 : 0.0, 1e-10);
    }
  }
  EXPECT_NEAR(sum, trace, 1e-9 * std::max(1.0, std::abs(trace)));
}

TEST(ReportPca, EigenOfDiagonalIsSortedIdentity) {
  const SymmetricEigen e = symmetric_eigen({1, 0, 0, 0, 5, 0, 0, 0, 3}, 3);
  EXPECT_EQ(e.values, (std::vector<double>{5, 3, 1}));
  EXPECT_EQ(e.vectors, (std::vector<double>{0, 1, 0, 0, 0, 1, 1, 0, 0}));
}

TEST(ReportPca, EigenOfRandomSymmetricMatrices) {
  for (int64_t d : {1, 2, 3, 7, 32, 65}) {
    const std::vector<double> a = random_symmetric(d, uint32_t(d));
    check_decomposition(a, d, symmetric_eigen(a, d));
  }
}

TEST(ReportPca, EigenSignConventionLargestComponentPositive) {
  const SymmetricEigen e = symmetric_eigen(random_symmetric(9, 4), 9);
  for (int64_t k = 0; k < 9; ++k) {
    double big = 0;
    for (int64_t j = 0; j < 9; ++j)
      if (std::abs(e.vectors[size_t(k * 9 + j)]) > std::abs(big)) big = e.vectors[size_t(k * 9 + j)];
    EXPECT_GT(big, 0);
  }
}

// Points t·u + s·v (+ tiny noise) in 5-D with var(t) ≫ var(s): the first component is ±u, the
// second ±v, and the projections recover t and s.
TEST(ReportPca, ProjectionRecoversKnownPlane) {
  const double u[5] = {0.6, 0.8, 0, 0, 0}, v[5] = {0, 0, 0, 1, 0};
  std::mt19937 rng(7);
  std::normal_distribution<double> n(0, 1);
  const int64_t rows = 500;
  std::vector<float> x(size_t(rows * 5));
  std::vector<double> t(static_cast<size_t>(rows)), s(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) t[size_t(r)] = 10 * n(rng), s[size_t(r)] = 2 * n(rng);
  // Centred and made exactly uncorrelated in this sample, so the sample covariance's eigenvectors
  // are u and v themselves (up to the 1e-3 noise), not a slightly rotated pair.
  auto centre = [&](std::vector<double>& z) {
    double m = 0;
    for (double q : z) m += q / double(rows);
    for (double& q : z) q -= m;
  };
  centre(t), centre(s);
  double st = 0, tt = 0;
  for (int64_t r = 0; r < rows; ++r) st += s[size_t(r)] * t[size_t(r)], tt += t[size_t(r)] * t[size_t(r)];
  for (int64_t r = 0; r < rows; ++r) s[size_t(r)] -= st / tt * t[size_t(r)];
  for (int64_t r = 0; r < rows; ++r)
    for (int j = 0; j < 5; ++j)
      x[size_t(r * 5 + j)] = float(3.0 + t[size_t(r)] * u[j] + s[size_t(r)] * v[j] + 1e-3 * n(rng));
  const Projection2d p = principal_components_2d(x.data(), rows, 5);
  ASSERT_EQ(p.xy.size(), size_t(2 * rows));
  EXPECT_GT(p.explained[0], 0.9);
  EXPECT_GT(p.explained[1], 0.03);
  EXPECT_LT(p.explained[0] + p.explained[1], 1.0 + 1e-12);
  // The sign convention makes u's largest component (0.8) and v's (1) positive: projections are +t, +s.
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_NEAR(p.xy[size_t(2 * r)], t[size_t(r)], 0.01) << r;
    EXPECT_NEAR(p.xy[size_t(2 * r + 1)], s[size_t(r)], 0.01) << r;
  }
}

TEST(ReportPca, ConstantCodesProjectToZero) {
  const std::vector<float> x(30, 1.5f);
  const Projection2d p = principal_components_2d(x.data(), 10, 3);
  for (float c : p.xy) EXPECT_EQ(c, 0.0f);
  EXPECT_EQ(p.explained[0], 0.0);
}

TEST(ReportText, GnuplotQuoteDoublesQuotesAndDropsLineBreaks) {
  EXPECT_EQ(gnuplot_quote("it's"), "'it''s'");
  EXPECT_EQ(gnuplot_quote("a\nb"), "'a b'");
  EXPECT_EQ(gnuplot_quote("$x \\ \"y\""), "'$x \\ \"y\"'");
}

TEST(ReportText, HtmlEscape) { EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"); }

TEST(ReportText, LabelClassesNumericOrTextOrder) {
  EXPECT_EQ(label_classes({"10", "9", "2", "9", "-1"}), (std::vector<std::string>{"-1", "2", "9", "10"}));
  EXPECT_EQ(label_classes({"cat", "ant", "10", "cat"}), (std::vector<std::string>{"10", "ant", "cat"}));
}

TEST(ReportGnuplot, DrawsAPngAndReportsAScriptError) {
  test::TempDir dir("ae_report_gnuplot");
  const std::string gnuplot = find_gnuplot();  // throws (fails the test) when gnuplot-nox is missing
  dir.write("ok.gp", "set terminal pngcairo size 200,100\nset output 'ok.png'\nplot x\n");
  run_gnuplot(gnuplot, dir.path().string(), "ok.gp");
  EXPECT_TRUE(std::filesystem::file_size(dir.file("ok.png")) > 100);
  dir.write("bad.gp", "set terminal pngcairo size 200,100\nset output 'bad.png'\nplot 'missing.dat'\n");
  test::expect_error([&] { run_gnuplot(gnuplot, dir.path().string(), "bad.gp"); },
                     {"gnuplot failed drawing bad.gp", "missing.dat"});
  // A warning is a figure drawn wrong, not a success.
  dir.write("warn.gp", "set terminal pngcairo size 200,100\nset output 'warn.png'\nset xrange [1:1]\nplot x\n");
  test::expect_error([&] { run_gnuplot(gnuplot, dir.path().string(), "warn.gp"); }, {"gnuplot failed drawing warn.gp"});
}

TEST(ReportGnuplot, MissingGnuplotIsOneLineNamingThePackage) {
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  ::setenv("PATH", "/nonexistent-ae-dir", 1);
  test::expect_error([] { find_gnuplot(); }, {"gnuplot not found", "install gnuplot-nox"});
  ::setenv("PATH", saved.c_str(), 1);
}

}  // namespace
}  // namespace ae::report
