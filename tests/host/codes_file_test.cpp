// .aec codes files (host/latent/codes_file.h): float32 round trip to the bit, quantisation within
// half a step per unit, and every damaged file refused with one line naming it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "graph/spec.h"
#include "host/latent/codes_file.h"
#include "runtime/model.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ae::latent {
namespace {

CodesFile sample(int64_t rows, int64_t units, uint32_t seed) {
  CodesFile f;
  f.rows = rows, f.units = units, f.fingerprint = 0x1234abcd5678ef90ull, f.spec = "784-256r-32-256r-784s";
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, 3.f);
  f.codes.resize(size_t(rows * units));
  for (auto& v : f.codes) v = nd(rng);
  for (int64_t r = 0; r < rows; ++r) f.codes[size_t(r * units + units - 1)] = 2.5f;  // a constant unit: scale 0
  return f;
}

TEST(CodesFile, Float32RoundTripIsExact) {
  test::TempDir dir;
  CodesFile f = sample(37, 5, 1);
  const std::vector<float> codes = f.codes;
  const uint64_t bytes = write_codes_file(dir.file("c.aec"), f);
  EXPECT_EQ(bytes, 8 + 4 + 4 + 8 + 8 + 8 + 4 + f.spec.size() + 37 * 5 * 4 + 8);
  const CodesFile g = read_codes_file(dir.file("c.aec"));
  EXPECT_EQ(g.rows, 37);
  EXPECT_EQ(g.units, 5);
  EXPECT_EQ(g.quant_bits, 0);
  EXPECT_EQ(g.fingerprint, f.fingerprint);
  EXPECT_EQ(g.spec, f.spec);
  EXPECT_EQ(g.codes, codes);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"c.aec"});  // no temporary left
}

// Each value within scale/2 of the original (plus float rounding), the min and max exact, and what
// the writer reports as stored is what the reader dequantises, to the bit.
TEST(CodesFile, QuantisedErrorIsAtMostHalfAStep) {
  test::TempDir dir;
  for (int bits : {8, 16}) {
    CodesFile f = sample(200, 6, 2);
    const std::vector<float> orig = f.codes;
    f.quant_bits = bits;
    const uint64_t bytes = write_codes_file(dir.file("q.aec"), f);
    EXPECT_EQ(bytes, 8 + 4 + 4 + 8 + 8 + 8 + 4 + f.spec.size() + 2 * 6 * 4 + 200 * 6 * (bits / 8) + 8);
    const CodesFile g = read_codes_file(dir.file("q.aec"));
    EXPECT_EQ(g.codes, f.codes) << bits;
    EXPECT_EQ(g.scale, f.scale);
    EXPECT_EQ(g.scale[5], 0.f) << "a constant unit";
    double worst = 0;
    for (int64_t u = 0; u < 6; ++u) {
      const float s = g.scale[size_t(u)];
      for (int64_t r = 0; r < 200; ++r) {
        const size_t i = size_t(r * 6 + u);
        const double err = std::abs(double(g.codes[i]) - double(orig[i]));
        EXPECT_LE(err, 0.5 * s + 1e-6 * (1 + std::abs(orig[i]))) << bits << "-bit, row " << r << " unit " << u;
        if (s > 0) worst = std::max(worst, err / s);
      }
    }
    EXPECT_GT(worst, 0.3) << "rounding to nearest should come near half a step somewhere";
    // Float rounding of offset + q·scale (about 1e-6 of a value near 10) is a visible part of a
    // 16-bit step (range/65535), not of an 8-bit one.
    EXPECT_LE(worst, bits == 8 ? 0.5 + 1e-3 : 0.5 + 0.02);
  }
}

// A file of no rows is valid and reads back empty (fuzz/corpus/aec/crash-zero-rows-null-memcpy: the
// reader once copied 0 bytes from a null vector, undefined behaviour UBSan reports).
TEST(CodesFile, ZeroRowsReadBackEmpty) {
  test::TempDir dir;
  for (int bits : {0, 8}) {
    CodesFile f = sample(0, 3, 5);
    f.quant_bits = bits;
    write_codes_file(dir.file("zero.aec"), f);
    const CodesFile g = read_codes_file(dir.file("zero.aec"));
    EXPECT_EQ(g.rows, 0);
    EXPECT_EQ(g.units, 3);
    EXPECT_TRUE(g.codes.empty());
  }
}

TEST(CodesFile, DamagedFilesAreRefusedNamingTheFile) {
  test::TempDir dir;
  CodesFile f = sample(10, 4, 3);
  f.quant_bits = 8;
  write_codes_file(dir.file("good.aec"), f);
  const std::string good = test::read_all(dir.file("good.aec"));
  auto refused = [&](const std::string& name, const std::string& bytes, const std::string& why) {
    const std::string p = dir.write(name, bytes);
    test::expect_error([&] { read_codes_file(p); }, {p, why});
  };
  refused("empty.aec", "", "not an .aec codes file");
  refused("magic.aec", "X" + good.substr(1), "not an .aec codes file");
  refused("short.aec", good.substr(0, 20), "truncated .aec file");
  refused("cut.aec", good.substr(0, good.size() - 1), "truncated .aec file");
  refused("long.aec", good + "x", "corrupt .aec file");
  std::string flipped = good;
  flipped[good.size() - 20] ^= 0x10;  // a code byte
  refused("flip.aec", flipped, "checksum");
  std::string version = good;
  version[8] = 9;
  refused("version.aec", version, ".aec version 9");
  std::string quant = good;
  quant[12] = 7;
  refused("quant.aec", quant, "quantisation bits 7");
  std::string rows = good;
  rows[23] = 0x7f;  // the top byte of rows: an absurd count, refused before any allocation
  refused("rows.aec", rows, "corrupt .aec header");
  test::expect_error([&] { read_codes_file(dir.file("missing.aec")); }, {dir.file("missing.aec"), "cannot open"});
  // 2^40 rows × 2^24 float32 units: within each field's limit, but rows·units·4 wraps to 0 in 64
  // bits, so a file of header + spec + checksum alone would match the size it implies.
  std::string wrap = good;
  wrap[12] = 0;  // float32: no scales
  const uint64_t big_rows = uint64_t(1) << 40, big_units = uint64_t(1) << 24;
  std::memcpy(wrap.data() + 16, &big_rows, 8);
  std::memcpy(wrap.data() + 24, &big_units, 8);
  const uint32_t spec_len = uint32_t(f.spec.size());
  wrap = wrap.substr(0, 44 + spec_len) + std::string(8, '\0');
  refused("wrap.aec", wrap, "cannot hold its header's 1099511627776 rows × 16777216 units");
}

// The fingerprint tells models apart by spec and by weights, and is stable for one model.
TEST(CodesFile, FingerprintFollowsSpecAndWeights) {
  const Model a = Model::create(parse_spec("8-4-8"), 1, Loss::mse), b = Model::create(parse_spec("8-4-8"), 1, Loss::mse),
              c = Model::create(parse_spec("8-4-8"), 2, Loss::mse), d = Model::create(parse_spec("8-5-8"), 1, Loss::mse);
  EXPECT_EQ(model_fingerprint(a), model_fingerprint(b));
  EXPECT_NE(model_fingerprint(a), model_fingerprint(c));
  EXPECT_NE(model_fingerprint(a), model_fingerprint(d));
}

}  // namespace
}  // namespace ae::latent
