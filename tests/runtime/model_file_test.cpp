// Model file (safetensors) and AtomicFile tests: a bit-exact round trip, the writer compared byte by
// byte with a file built here from the format description, the reader on hand-built files, one bad
// file per validation rule, and the atomic-write guarantees.
#include <gtest/gtest.h>

#include "tests/expect_error.h"
#include "tests/temp_dir.h"
#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>

#include "kernels/common/error.h"
#include "runtime/atomic_file.h"
#include "runtime/model.h"
#include "runtime/model_file.h"

namespace ae {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

using TempDir = test::TempDir;
using test::expect_error;

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void append_u64_le(Bytes& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void append_f32_le(Bytes& b, uint32_t bits) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(bits >> (8 * i)));
}

// A safetensors file from its parts: header length (little-endian u64), header text, data.
Bytes safetensors_bytes(const std::string& header, const Bytes& data) {
  Bytes b;
  append_u64_le(b, header.size());
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// `count` floats 0.5, 1.5, ... as little-endian bytes.
Bytes floats_le(size_t count) {
  Bytes b;
  for (size_t i = 0; i < count; ++i) {
    const float f = static_cast<float>(i) + 0.5f;
    uint32_t bits = 0;
    std::memcpy(&bits, &f, 4);
    append_f32_le(b, bits);
  }
  return b;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST(ModelFile, RoundTripIsBitExactAndKeepsOrder) {
  TempDir dir;
  ModelFile f;
  // Names deliberately not in sorted order; values include the bit patterns a text format loses.
  f.tensors.push_back({"encoder.0.weight", {3, 4}, {}});
  for (int i = 0; i < 12; ++i) f.tensors[0].data.push_back(std::ldexp(1.0f + i / 7.0f, i - 6));
  f.tensors.push_back({"encoder.0.bias", {3},
                       {-0.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::infinity()}});
  f.tensors.push_back({"a.scalar", {}, {std::numeric_limits<float>::quiet_NaN()}});
  f.tensors.push_back({"empty", {0, 5}, {}});
  f.tensors.push_back({"decoder.1.weight", {2, 1, 2}, {1e-30f, -3.5f, 65504.0f, 0.1f}});
  f.metadata = {{"ae.format_version", "1"},
                {"ae.spec", R"({"layers":[784,32,784],"act":"relu"})"},
                {"note", "ünïcødé, \"quotes\", newline\n"},
                {"empty", ""}};
  save_model_file(dir.file("m.safetensors"), f);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"m.safetensors"});  // no temporary left

  const Bytes raw = read_bytes(dir.file("m.safetensors"));
  ASSERT_GE(raw.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | raw[i];
  EXPECT_EQ(n % 8, 0u) << "header must be padded so the data starts 8-byte aligned";

  const ModelFile g = load_model_file(dir.file("m.safetensors"));
  ASSERT_EQ(g.tensors.size(), f.tensors.size());
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    EXPECT_EQ(g.tensors[i].name, f.tensors[i].name);
    EXPECT_EQ(g.tensors[i].shape, f.tensors[i].shape);
    EXPECT_TRUE(same_bits(g.tensors[i].data, f.tensors[i].data)) << f.tensors[i].name;
  }
  EXPECT_EQ(g.metadata, f.metadata);
  ASSERT_NE(g.find("encoder.0.bias"), nullptr);
  EXPECT_EQ(g.find("encoder.0.bias")->shape, std::vector<int64_t>{3});
  EXPECT_EQ(g.find("encoder.0"), nullptr);
}

// The writer checked against the format, not against the reader: the exact bytes of a file built
// here from the specification (header fields in ae's order, compact JSON, space padding to 8).
TEST(ModelFile, WriterMatchesHandBuiltBytes) {
  TempDir dir;
  ModelFile f;
  f.metadata = {{"format", "ae"}};
  f.tensors.push_back({"w", {2, 2}, {1.0f, -2.0f, 0.5f, 0.0f}});
  f.tensors.push_back({"b", {2}, {3.0f, -0.0f}});
  save_model_file(dir.file("m.safetensors"), f);

  std::string header =
      R"({"__metadata__":{"format":"ae"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]}})";
  ASSERT_EQ(header.size(), 143u);
  header.append(1, ' ');  // 143 + 1 = 144, a multiple of 8
  Bytes data;
  for (uint32_t bits : {0x3F800000u, 0xC0000000u, 0x3F000000u, 0x00000000u, 0x40400000u, 0x80000000u})
    append_f32_le(data, bits);
  const Bytes expected = safetensors_bytes(header, data);
  EXPECT_EQ(read_bytes(dir.file("m.safetensors")), expected);
}

// The reader on a file as another writer may produce it: other key order, whitespace, JSON order
// unlike data order, no metadata. Tensors come back in data-offset order.
TEST(ModelFile, ReaderAcceptsHandBuiltFile) {
  TempDir dir;
  const std::string header =
      "{ \"second\": {\"data_offsets\": [8, 20], \"shape\": [3], \"dtype\": \"F32\"},\n"
      "  \"first\" : {\"shape\": [1, 2], \"dtype\": \"F32\", \"data_offsets\": [0, 8]} }   ";
  write_bytes(dir.file("h.safetensors"), safetensors_bytes(header, floats_le(5)));
  const ModelFile f = load_model_file(dir.file("h.safetensors"));
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "first");
  EXPECT_EQ(f.tensors[0].shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(f.tensors[0].data, (std::vector<float>{0.5f, 1.5f}));
  EXPECT_EQ(f.tensors[1].name, "second");
  EXPECT_EQ(f.tensors[1].data, (std::vector<float>{2.5f, 3.5f, 4.5f}));
  EXPECT_TRUE(f.metadata.empty());
}

TEST(ModelFile, RefusesBadContainers) {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  auto load = [&] { load_model_file(p); };
  const std::string good_w = R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})";

  expect_error([&] { load_model_file(dir.file("missing.safetensors")); },
               {dir.file("missing.safetensors"), "cannot open", "No such file"});
  write_bytes(p, {});
  expect_error(load, {p, "empty file"});
  write_bytes(p, {1, 2, 3, 4});
  expect_error(load, {p, "truncated", "8-byte header length"});
  // Header length larger than the file.
  Bytes big;
  append_u64_le(big, 1000);
  big.push_back('{');
  write_bytes(p, big);
  expect_error(load, {p, "header length 1000 is larger than the file (9 bytes)"});
  // Absurd header length (e.g. a random binary file).
  Bytes absurd;
  append_u64_le(absurd, 0x7F454C4602010100ull);
  absurd.resize(64, 0);
  write_bytes(p, absurd);
  expect_error(load, {p, "header length", "absurd"});
  // Truncated data: the last tensor runs past the end of the file.
  write_bytes(p, safetensors_bytes("{" + good_w + "}", floats_le(5)));
  expect_error(load, {p, "tensor 'w'", "data_offsets [0, 24]", "past the data buffer (20 bytes)"});
  // Corrupted header JSON: the message says where.
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,3]"data_offsets":[0,24]}})", floats_le(6)));
  expect_error(load, {p, "safetensors header: invalid JSON at byte 54", "unexpected string literal; expected '}'",
                      "data_offsets"});
  write_bytes(p, safetensors_bytes("[1, 2]", {}));
  expect_error(load, {p, "header is a JSON array"});
  // Offsets that do not match shape × 4 bytes.
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,24]}})", floats_le(6)));
  expect_error(load, {p, "tensor 'w'", "span 24 bytes", "shape [2, 2] of F32 needs 16"});
  // Offsets ending before they begin.
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w'", "ends before it begins"});
  // A dtype ae does not read (a valid safetensors file, just not one ae reads) and an unknown one.
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", Bytes(16, 0)));
  expect_error(load, {p, "tensor 'w'", "dtype F64", "ae reads F32, BF16 and F16 tensors"});
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"float","shape":[2],"data_offsets":[0,8]}})", Bytes(8, 0)));
  expect_error(load, {p, "unknown dtype 'float'"});
  // Missing fields.
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w'", "no 'shape' field"});
  write_bytes(p, safetensors_bytes(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w'", "no 'dtype' field"});
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w'", "no 'data_offsets' field"});
  write_bytes(p, safetensors_bytes(R"({"w":[1,2]})", {}));
  expect_error(load, {p, "tensor 'w' is array"});
  // Negative, fractional and overflowing dimensions; malformed offsets.
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w': shape[0]", "negative"});
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w': shape[0] is 2.5", "integer"});
  write_bytes(p, safetensors_bytes(
                     R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w'", "overflows"});
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", floats_le(2)));
  expect_error(load, {p, "tensor 'w': data_offsets is [0]", "[begin, end]"});
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", floats_le(2)));
  expect_error(load, {p, "data_offsets[0]", "negative"});
}

// Found by fuzz/model_fuzz.cpp: a number beyond double in the header or in an ae.* metadata JSON
// made nlohmann throw out_of_range, which the loaders did not catch (only parse_error).
TEST(ModelFile, FuzzNumberBeyondDoubleIsAnAeError) {
  TempDir dir;
  const std::string p = dir.file("big.safetensors");
  write_bytes(p, safetensors_bytes(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8e999]}})", floats_le(2)));
  expect_error([&] { load_model_file(p); }, {p, "safetensors header: invalid JSON", "a number too large for a double"});

  const std::string m = dir.file("m.safetensors");
  Model::create(parse_spec("4-2-4"), 1, Loss::mse).save(m);
  for (const char* key : {"ae.spec", "ae.rng", "ae.threshold", "ae.history", "ae.normalization"}) {
    ModelFile f = load_model_file(m);
    f.metadata[key] = "[1e400]";
    save_model_file(p, f);
    expect_error([&] { Model::load(p); }, {p, std::string("__metadata__ field '") + key + "' holds invalid JSON", "a number too large for a double"});
  }
}

// ae.code_stats (the codes' training medians and deviations for `ae hash`) round-trips exactly, is
// optional (files written before it load with none), and a malformed record is refused naming the field.
TEST(ModelFile, CodeStatsRoundTripAreOptionalAndChecked) {
  TempDir dir;
  const std::string m = dir.file("m.safetensors"), p = dir.file("p.safetensors");
  Model model = Model::create(parse_spec("4-2-4"), 1, Loss::mse);
  model.save(m);
  EXPECT_EQ(load_model_file(m).metadata.count("ae.code_stats"), 0u) << "no statistics, no key";
  EXPECT_TRUE(Model::load(m).code_median.empty());
  model.code_median = {0.1f, -3.25e-7f};
  model.code_std = {1.0f / 3.0f, 0.f};
  model.code_stats_rows = 60000;
  model.save(m);
  const Model back = Model::load(m);
  EXPECT_EQ(back.code_median, model.code_median);  // bit for bit through JSON
  EXPECT_EQ(back.code_std, model.code_std);
  EXPECT_EQ(back.code_stats_rows, 60000);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"median": [0.5], "std": [1, 1]})", "ae.code_stats.median must be an array of 2 numbers"},
      {R"({"median": [0.5, "x"], "std": [1, 1]})", "ae.code_stats.median holds \"x\""},
      {R"({"median": [0.5, 0.5]})", "ae.code_stats.std must be an array of 2 numbers"},
      {R"({"median": [0.5, 0.5], "std": [1, -1]})", "ae.code_stats.std holds a negative deviation"},
      {R"([1, 2])", "ae.code_stats.median must be an array"}};
  for (const auto& [text, why] : bad) {
    ModelFile f = load_model_file(m);
    f.metadata["ae.code_stats"] = text;
    save_model_file(p, f);
    expect_error([&] { Model::load(p); }, {p, why});
  }
}

// Found while fuzzing (beyond the target's 8 KB inputs): nlohmann's dump() recurses per nesting
// level, so a deeply nested header or ae.* metadata record overflowed the stack in a message
// (SIGSEGV in `ae info`).
TEST(ModelFile, DeeplyNestedJsonIsRefusedNotAStackOverflow) {
  TempDir dir;
  const std::string p = dir.file("deep.safetensors");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  write_bytes(p,
              safetensors_bytes(R"({"w":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,8]}})", floats_le(2)));
  expect_error([&] { load_model_file(p); }, {p, "safetensors header: invalid JSON", "nested deeper than 64 levels"});

  const std::string m = dir.file("m.safetensors");
  Model::create(parse_spec("4-2-4"), 1, Loss::mse).save(m);
  for (const char* key : {"ae.spec", "ae.history", "ae.data"}) {
    ModelFile f = load_model_file(m);
    f.metadata[key] = key == std::string("ae.history") ? "[" + deep + "]" : R"({"input": )" + deep + "}";
    save_model_file(p, f);
    const std::string field = std::string("__metadata__ field '") + key + "' holds invalid JSON";
    expect_error([&] { Model::load(p); }, {p, field, "nested deeper than 64 levels"});
  }
}

TEST(ModelFile, RefusesBadTiling) {
  TempDir dir;
  const std::string p = dir.file("bad.safetensors");
  auto load = [&] { load_model_file(p); };
  // Overlap: b starts inside a.
  write_bytes(p, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                   floats_le(3)));
  expect_error(load, {p, "tensor 'b'", "overlap tensor 'a'"});
  // Gap between tensors.
  write_bytes(p, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                   R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                   floats_le(3)));
  expect_error(load, {p, "bytes [4, 8)", "not covered by any tensor", "before tensor 'b'"});
  // Trailing bytes after the last tensor.
  write_bytes(p, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats_le(3)));
  expect_error(load, {p, "8 trailing bytes", "not covered by any tensor"});
  // A name given twice (a JSON parser would silently keep only the last).
  write_bytes(p, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                   R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                   floats_le(2)));
  expect_error(load, {p, "header names 'a' twice"});
  // Metadata values must be strings.
  write_bytes(p, safetensors_bytes(R"({"__metadata__":{"step":100},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                   floats_le(1)));
  expect_error(load, {p, "__metadata__['step']", "must be strings"});
  write_bytes(p, safetensors_bytes(R"({"__metadata__":"x"})", {}));
  expect_error(load, {p, "__metadata__ is string"});
}

TEST(ModelFile, SaveRefusesInconsistentTensorsAndLeavesNoFile) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  ModelFile f;
  f.tensors.push_back({"w", {2, 3}, std::vector<float>(5, 1.0f)});
  expect_error([&] { save_model_file(p, f); }, {p, "tensor 'w'", "shape [2, 3] holds 6 elements but data has 5"});
  f.tensors[0].data.resize(6);
  f.tensors.push_back({"w", {1}, {2.0f}});
  expect_error([&] { save_model_file(p, f); }, {p, "two tensors named 'w'"});
  f.tensors[1].name = "__metadata__";
  expect_error([&] { save_model_file(p, f); }, {p, "reserved"});
  f.tensors[1].name = "b";
  f.tensors[1].shape = {-1};
  expect_error([&] { save_model_file(p, f); }, {p, "negative dimension"});
  f.tensors[1].shape = {1};
  f.metadata["bad"] = std::string("\xff\xfe", 2);
  expect_error([&] { save_model_file(p, f); }, {p, "not valid UTF-8"});
  EXPECT_TRUE(dir.entries().empty());
  expect_error([&] { save_model_file(dir.file("no/such/dir/m.safetensors"), ModelFile{}); },
               {"no/such/dir/m.safetensors", "No such file or directory"});
}

TEST(AtomicFile, UncommittedLeavesNothing) {
  TempDir dir;
  const std::string p = dir.file("out.bin");
  try {
    AtomicFile out(p);
    out.write("partial");
    EXPECT_TRUE(fs::exists(out.temp_path()));
    EXPECT_FALSE(fs::exists(p));
    throw std::runtime_error("writer failed half way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(AtomicFile, CommitReplacesTargetAtomically) {
  TempDir dir;
  const std::string p = dir.file("out.bin");
  write_bytes(p, {'o', 'l', 'd'});
  {
    AtomicFile out(p);
    // <path>.tmp.<pid>.<n>: beside the target, and unique per writer
    EXPECT_EQ(out.temp_path().rfind(p + ".tmp." + std::to_string(getpid()) + ".", 0), 0u) << out.temp_path();
    AtomicFile second(p);
    EXPECT_NE(second.temp_path(), out.temp_path());
    out.write("new ");
    // Larger than the internal buffer, so the direct path is exercised too.
    const std::string big(3u << 20, 'x');
    out.write(big);
    out.write(" end");
    EXPECT_EQ(read_bytes(p), (Bytes{'o', 'l', 'd'})) << "target must be untouched before commit";
    out.commit();
    EXPECT_TRUE(out.committed());
    expect_error([&] { out.write("more"); }, {p, "already committed"});
  }
  const Bytes got = read_bytes(p);
  ASSERT_EQ(got.size(), 4 + (3u << 20) + 4);
  EXPECT_EQ(std::string(got.begin(), got.begin() + 4), "new ");
  EXPECT_EQ(std::string(got.end() - 4, got.end()), " end");
  EXPECT_EQ(got[4 + 12345], 'x');
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.bin"});

  // An aborted rewrite keeps the previous complete file.
  try {
    AtomicFile out(p);
    out.write("half");
    throw std::runtime_error("abort");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_bytes(p).size(), got.size());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.bin"});
}

TEST(AtomicFile, UnwritableDirectoryIsAClearError) {
  TempDir dir;
  expect_error([&] { AtomicFile out(dir.file("missing/out.bin")); },
               {dir.file("missing/out.bin"), "temporary file", "No such file or directory"});
  expect_error([&] { AtomicFile out(""); }, {"empty path"});
}

}  // namespace

// Interop with Python's safetensors, run by hand through tests/host/safetensors_interop.py (the
// suite itself needs no Python, hence DISABLED_). The script writes python_written.safetensors into
// $AE_INTEROP_DIR; this test checks it and writes ae_written.safetensors for the script to check.
// Both sides use the same pattern: "encoder.0.weight" [3, 5] = (i - 7) * 0.375, "encoder.0.bias"
// [3] = {1e-30, -0.0, 3.4e38}, metadata {"ae.format_version": "1", "note": "ünï \"q\""}.
namespace {
ModelFile interop_pattern() {
  ModelFile f;
  f.tensors.push_back({"encoder.0.weight", {3, 5}, {}});
  for (int i = 0; i < 15; ++i) f.tensors[0].data.push_back(static_cast<float>(i - 7) * 0.375f);
  f.tensors.push_back({"encoder.0.bias", {3}, {1e-30f, -0.0f, 3.4e38f}});
  f.metadata = {{"ae.format_version", "1"}, {"note", "ünï \"q\""}};
  return f;
}
}  // namespace

TEST(ModelFileInterop, DISABLED_PythonSafetensors) {
  const char* dir = std::getenv("AE_INTEROP_DIR");
  ASSERT_NE(dir, nullptr) << "run through tests/host/safetensors_interop.py";
  const ModelFile want = interop_pattern();
  const ModelFile got = load_model_file(std::string(dir) + "/python_written.safetensors");
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (const NamedTensor& t : want.tensors) {
    const NamedTensor* g = got.find(t.name);
    ASSERT_NE(g, nullptr) << t.name;
    EXPECT_EQ(g->shape, t.shape) << t.name;
    EXPECT_TRUE(same_bits(g->data, t.data)) << t.name;
  }
  EXPECT_EQ(got.metadata, want.metadata);
  save_model_file(std::string(dir) + "/ae_written.safetensors", want);
}

}  // namespace ae
