// Model files with BF16 and F16 weights (ae train --save-dtype): the container writes the exact
// round-to-nearest-even patterns of kernels/cpu/lowp_round.h and reads them back as their exact fp32
// values, refuses an fp16 overflow before writing anything and a BF16 tensor of the wrong length,
// and a Model saved in bf16/fp16 loads as fp32 master weights that remember the stored dtype, while
// checkpoints stay fp32.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "kernels/common/error.h"
#include "kernels/cpu/lowp_round.h"
#include "runtime/model.h"
#include "runtime/model_file.h"
#include "tests/expect_error.h"
#include "tests/temp_dir.h"

namespace ae {
namespace {

namespace fs = std::filesystem;
using test::expect_error;
using test::TempDir;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The header JSON of a safetensors file (its first 8 bytes are the header length).
nlohmann::json header_of(const std::string& path) {
  const std::string raw = read_all(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  return nlohmann::json::parse(raw.substr(8, n));
}

// A safetensors file from its header text and data bytes.
void write_file(const std::string& path, const std::string& header, const std::string& data) {
  std::string raw(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(raw.data(), &n, 8);
  std::ofstream(path, std::ios::binary) << raw << header << data;
}

float rounded(DType d, float v) {
  return d == DType::bf16 ? cpu::bf16_value(cpu::bf16_bits(v)) : cpu::fp16_value(cpu::fp16_bits(v));
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Values that separate round-to-nearest-even from truncation and from ties-away, in both types,
// plus signed zero, a subnormal half and fp16's largest finite value.
std::vector<float> tricky_values() {
  return {1.0f + 0x1p-8f,        // bf16 tie: even is 1.0 (truncation agrees, ties-away does not)
          1.0f + 3 * 0x1p-8f,    // bf16 tie: even is 1 + 2^-6 (truncation gives 1 + 2^-7)
          1.0f + 0x1p-11f,       // fp16 tie: even is 1.0
          1.0f + 3 * 0x1p-11f,   // fp16 tie: even is 1 + 2^-9
          -0.0f, 3e-6f, 65504.0f, 65519.0f, -0.1f, 0.3333333f, 1e-30f, 12345.678f};
}

TEST(SaveDtype, ContainerRoundsToNearestEvenAndReadsExactly) {
  TempDir dir;
  const std::vector<float> v = tricky_values();
  for (DType d : {DType::bf16, DType::f16}) {
    ModelFile f;
    f.tensors.push_back({"w", {3, 4}, v, d});
    f.tensors.push_back({"f32", {2}, {0.1f, -7.25f}});  // dtypes may mix in one file
    f.metadata = {{"format", "ae"}};
    const std::string p = dir.file(std::string(precision_name(d)) + ".safetensors");
    save_model_file(p, f);
    const nlohmann::json h = header_of(p);
    EXPECT_EQ(h["w"]["dtype"], d == DType::bf16 ? "BF16" : "F16");  // the safetensors spec's names
    EXPECT_EQ(h["w"]["data_offsets"], nlohmann::json::array({0, 24}));  // 12 elements × 2 bytes
    EXPECT_EQ(h["f32"]["data_offsets"], nlohmann::json::array({24, 32}));

    const ModelFile g = load_model_file(p);
    const NamedTensor* w = g.find("w");
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->dtype, d);
    EXPECT_EQ(g.find("f32")->dtype, DType::f32);
    EXPECT_EQ(g.find("f32")->data, (std::vector<float>{0.1f, -7.25f}));
    ASSERT_EQ(w->data.size(), v.size());
    for (size_t i = 0; i < v.size(); ++i)
      EXPECT_TRUE(same_bits(w->data[i], rounded(d, v[i]))) << precision_name(d) << " element " << i << ": " << v[i];
  }
  // The ties against values written out by hand, so the test does not only agree with itself.
  const ModelFile b = load_model_file(dir.file("bf16.safetensors")), h = load_model_file(dir.file("fp16.safetensors"));
  EXPECT_EQ(b.find("w")->data[0], 1.0f);
  EXPECT_EQ(b.find("w")->data[1], 1.0f + 0x1p-6f);
  EXPECT_EQ(h.find("w")->data[2], 1.0f);
  EXPECT_EQ(h.find("w")->data[3], 1.0f + 0x1p-9f);
  EXPECT_EQ(h.find("w")->data[6], 65504.0f);
  EXPECT_EQ(h.find("w")->data[7], 65504.0f) << "65519 is below the halfway point to inf (65520)";
  EXPECT_TRUE(std::signbit(h.find("w")->data[4]));
}

// The exact bytes: little-endian 16-bit patterns in the order written.
TEST(SaveDtype, WriterBytesAreLittleEndianPatterns) {
  TempDir dir;
  ModelFile f;
  f.tensors.push_back({"b", {2}, {1.0f, -2.0f}, DType::bf16});  // 0x3F80, 0xC000
  f.tensors.push_back({"h", {2}, {1.0f, -2.0f}, DType::f16});   // 0x3C00, 0xC000
  save_model_file(dir.file("m.safetensors"), f);
  const std::string raw = read_all(dir.file("m.safetensors"));
  ASSERT_GE(raw.size(), 8u);
  EXPECT_EQ(raw.substr(raw.size() - 8), std::string("\x80\x3F\x00\xC0\x00\x3C\x00\xC0", 8));
}

TEST(SaveDtype, Fp16OverflowIsRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  ModelFile f;
  f.tensors.push_back({"encoder.0.weight", {2, 2}, {0.5f, 1.0f, -70000.0f, 2.0f}, DType::f16});
  expect_error([&] { save_model_file(p, f); },
               {p, "tensor 'encoder.0.weight'", "F16", "element 2 is -70000", "65504", "bf16"});
  EXPECT_TRUE(dir.entries().empty()) << "a refused save leaves no file, not even a temporary";
  f.tensors[0].data[2] = 65520.0f;  // the halfway point: rounds to inf
  expect_error([&] { save_model_file(p, f); }, {"element 2 is 65520"});
  f.tensors[0].dtype = DType::bf16;  // bf16 has fp32's range
  save_model_file(p, f);
  EXPECT_EQ(load_model_file(p).tensors[0].data[2], 65536.0f);
  // An existing file is left as it was by a refused save.
  const std::string before = read_all(p);
  f.tensors[0].dtype = DType::f16;
  EXPECT_THROW(save_model_file(p, f), Error);
  EXPECT_EQ(read_all(p), before);
}

TEST(SaveDtype, WrongByteLengthIsRefused) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  // 3 BF16 elements are 6 bytes; a writer that kept 4 bytes per element would say 12.
  write_file(p, R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,12]}})", std::string(12, '\0'));
  expect_error([&] { load_model_file(p); }, {p, "tensor 'w'", "span 12 bytes", "shape [3] of BF16 needs 6 (2 per element)"});
  write_file(p, R"({"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,6]}})", std::string(6, '\0'));
  expect_error([&] { load_model_file(p); }, {p, "tensor 'w'", "span 6 bytes", "shape [2, 2] of F16 needs 8"});
  // Right length: read.
  write_file(p, R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}})", std::string("\x80\x3F\x00\xC0\x00\x00", 6));
  EXPECT_EQ(load_model_file(p).tensors[0].data, (std::vector<float>{1.0f, -2.0f, 0.0f}));
}

// The default model in each dtype: exact rounded values, about half the bytes, the dtype recorded
// and remembered; a reloaded bf16 model saves to the same bytes (rounding a rounded value is exact).
TEST(SaveDtype, ModelRoundTripInEachDtype) {
  TempDir dir;
  Model m = Model::create(parse_spec("784-256r-32-256r-784s"), 7, Loss::mse);
  for (size_t i = 0; i < m.params.count(); ++i)  // non-zero biases too, so every tensor is checked
    for (int64_t k = 0; k < m.params.info(i).size(); ++k) m.params.value(i)[k] += 1e-3f * float(k % 7);
  m.params.bump_version();
  const std::string p32 = dir.file("f32.safetensors");
  m.save(p32);
  EXPECT_EQ(Model::load(p32).save_dtype, DType::f32);
  EXPECT_EQ(load_model_file(p32).metadata.at("ae.save_dtype"), "fp32");
  const auto size32 = fs::file_size(p32);
  for (DType d : {DType::bf16, DType::f16}) {
    const std::string p = dir.file(std::string(precision_name(d)) + ".safetensors");
    m.save_dtype = d;
    m.save(p);
    const ModelFile f = load_model_file(p);
    EXPECT_EQ(f.metadata.at("ae.save_dtype"), precision_name(d));
    for (const NamedTensor& t : f.tensors) EXPECT_EQ(t.dtype, d) << t.name;
    const double ratio = double(fs::file_size(p)) / double(size32);
    EXPECT_GT(ratio, 0.49) << precision_name(d);
    EXPECT_LT(ratio, 0.51) << precision_name(d);

    const Model back = Model::load(p);
    EXPECT_EQ(back.save_dtype, d);
    ASSERT_EQ(back.params.count(), m.params.count());
    size_t changed = 0;
    for (size_t i = 0; i < m.params.count(); ++i)
      for (int64_t k = 0; k < m.params.info(i).size(); ++k) {
        const float want = rounded(d, m.params.value(i)[k]), got = back.params.value(i)[k];
        ASSERT_TRUE(same_bits(got, want)) << m.params.info(i).name << "[" << k << "]: " << got << " vs " << want;
        changed += got != m.params.value(i)[k];
      }
    EXPECT_GT(changed, size_t(m.spec.parameter_count() / 2)) << "most weights lose mantissa bits";
    const std::string again = dir.file("again.safetensors");
    back.save(again);
    EXPECT_EQ(read_all(again), read_all(p));
  }
}

TEST(SaveDtype, CheckpointsStayFp32) {
  TempDir dir;
  Model m = Model::create(parse_spec("6-3-6"), 1, Loss::mse);
  m.ensure_state_slots(2);
  m.save_dtype = DType::bf16;
  Checkpoint ck;
  ck.train_state = nlohmann::json::object();
  save_checkpoint(dir.file("c.ckpt"), m, ck);
  const ModelFile f = load_model_file(dir.file("c.ckpt"));
  EXPECT_EQ(f.metadata.at("ae.save_dtype"), "fp32");
  for (const NamedTensor& t : f.tensors) EXPECT_EQ(t.dtype, DType::f32) << t.name;
  Checkpoint back;
  const Model loaded = load_checkpoint(dir.file("c.ckpt"), 2, back);
  EXPECT_EQ(loaded.save_dtype, DType::f32);
  for (size_t i = 0; i < m.params.count(); ++i)
    EXPECT_EQ(0, std::memcmp(loaded.params.value(i), m.params.value(i), size_t(m.params.info(i).size()) * sizeof(float)));
}

TEST(SaveDtype, MetadataMustMatchTheTensors) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors"), q = dir.file("q.safetensors");
  Model m = Model::create(parse_spec("4-2-4"), 1, Loss::mse);
  m.save(p);
  ModelFile f = load_model_file(p);
  f.metadata["ae.save_dtype"] = "bf16";
  save_model_file(q, f);
  expect_error([&] { Model::load(q); }, {q, "is stored as fp32 but __metadata__ ae.save_dtype says bf16"});
  f.metadata["ae.save_dtype"] = "int8";
  save_model_file(q, f);
  expect_error([&] { Model::load(q); }, {q, "ae.save_dtype is 'int8'", "expected one of: fp32, bf16, fp16"});
  // Without the key (written before --save-dtype, or converted elsewhere): the tensors' dtype.
  f.metadata.erase("ae.save_dtype");
  for (NamedTensor& t : f.tensors) t.dtype = DType::bf16;
  save_model_file(q, f);
  EXPECT_EQ(Model::load(q).save_dtype, DType::bf16);
  f.tensors[0].dtype = DType::f32;  // mixed: still read exactly, reported as fp32
  save_model_file(q, f);
  EXPECT_EQ(Model::load(q).save_dtype, DType::f32);
}

}  // namespace
}  // namespace ae
