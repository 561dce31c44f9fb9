// `ae train --save-dtype bf16|fp16` through the real `ae` binary: the same run saved in fp32 and
// in bf16/fp16 differs only by the rounding of its weights, the file is about half the size, every
// command that reads a model opens it, its codes are close to the fp32 model's, --init from it
// starts from its exact values and writes fp32 again, checkpoints stay fp32, and PyTorch reads the
// BF16 tensors with ae's values (when /usr/bin/python3 has torch).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "host/data/npy.h"
#include "kernels/cpu/lowp_round.h"
#include "runtime/model.h"
#include "tests/e2e/e2e_util.h"

namespace ae::e2e {
namespace {

class SaveDtype : public ::testing::Test {
 protected:
  ScratchDir dir;
  // One epoch of the default model on 2000 images: the same run for every --save-dtype.
  RunResult train(const std::string& out, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"train", "--data", TRAIN_IMAGES, "--max-rows", "2000", "--epochs", "1",
                                     "--threads", "2", "--quiet", "--out", dir / out};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ae(args, dir);
  }
  Matrix encode(const std::string& model) {
    expect_success(run_ae({"encode", "--model", dir / model, "--data", TEST_IMAGES, "--max-rows", "500", "--quiet", "--out",
                           dir / (model + ".codes.npy")}, dir));
    return read_npy(dir / (model + ".codes.npy"));
  }
};

// Every weight of `low` is the fp32 model's weight rounded to `d`.
void expect_rounded(const Model& f32, const Model& low, DType d) {
  ASSERT_EQ(f32.params.count(), low.params.count());
  for (size_t i = 0; i < f32.params.count(); ++i)
    for (int64_t k = 0; k < f32.params.info(i).size(); ++k) {
      const float v = f32.params.value(i)[k];
      const float want = d == DType::bf16 ? cpu::bf16_value(cpu::bf16_bits(v)) : cpu::fp16_value(cpu::fp16_bits(v));
      ASSERT_EQ(std::memcmp(&want, &low.params.value(i)[k], 4), 0) << f32.params.info(i).name << "[" << k << "]";
    }
}

TEST_F(SaveDtype, Bf16AndFp16FilesAreTheRoundedRunAndEveryCommandReadsThem) {
  expect_success(train("f.safetensors"));
  const RunResult b = train("b.safetensors", {"--save-dtype", "bf16"});
  expect_success(b);
  EXPECT_NE(b.out.find("(bf16 weights)"), std::string::npos) << b.out;
  expect_success(train("h.safetensors", {"--save-dtype", "fp16"}));
  const Model f = Model::load(dir / "f.safetensors"), mb = Model::load(dir / "b.safetensors"),
              mh = Model::load(dir / "h.safetensors");
  EXPECT_EQ(f.save_dtype, DType::f32);
  EXPECT_EQ(mb.save_dtype, DType::bf16);
  EXPECT_EQ(mh.save_dtype, DType::f16);
  expect_rounded(f, mb, DType::bf16);
  expect_rounded(f, mh, DType::f16);
  EXPECT_EQ(mb.history, f.history);  // the same run, only stored differently
  const double size32 = double(fs::file_size(dir / "f.safetensors"));
  for (const char* m : {"b.safetensors", "h.safetensors"}) {
    const double ratio = double(fs::file_size(dir / m)) / size32;
    EXPECT_GT(ratio, 0.49) << m;
    EXPECT_LT(ratio, 0.52) << m;
  }
  // The checkpoint beside it stays fp32 (it holds the optimizer state and resumes exactly).
  for (const NamedTensor& t : load_model_file(dir / "b.safetensors.ckpt").tensors) EXPECT_EQ(t.dtype, DType::f32) << t.name;

  // The header as any safetensors reader sees it: BF16 tensors tiling the buffer, 2 bytes each.
  const std::string raw = read_text(dir / "b.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  const nlohmann::json h = nlohmann::json::parse(raw.substr(8, n));
  EXPECT_EQ(h["__metadata__"]["ae.save_dtype"], "bf16");
  uint64_t end = 0;
  for (const auto& [name, e] : h.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(e["dtype"], "BF16") << name;
    uint64_t elems = 1;
    for (const auto& d : e["shape"]) elems *= d.get<uint64_t>();
    EXPECT_EQ(e["data_offsets"][1].get<uint64_t>() - e["data_offsets"][0].get<uint64_t>(), 2 * elems) << name;
    end = std::max(end, e["data_offsets"][1].get<uint64_t>());
  }
  EXPECT_EQ(8 + n + end, raw.size());

  const RunResult info = run_ae({"info", "--model", dir / "b.safetensors"}, dir);
  expect_success(info);
  EXPECT_NE(info.out.find("stored: bf16 weights, file " + std::to_string(raw.size()) + " bytes"), std::string::npos) << info.out;
  const RunResult info32 = run_ae({"info", "--model", dir / "f.safetensors"}, dir);
  EXPECT_NE(info32.out.find("stored: fp32 weights"), std::string::npos) << info32.out;

  // Codes of the bf16 and fp16 models: close to the fp32 model's, not equal.
  const Matrix c32 = encode("f.safetensors");
  for (const char* m : {"b.safetensors", "h.safetensors"}) {
    const Matrix c = encode(m);
    ASSERT_EQ(c.data.size(), c32.data.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < c.data.size(); ++i) {
      num += std::pow(double(c.data[i]) - double(c32.data[i]), 2);
      den += std::pow(double(c32.data[i]), 2);
    }
    ASSERT_GT(den, 0);
    EXPECT_GT(num, 0) << m << ": the rounded weights gave exactly the fp32 codes";
    EXPECT_LT(std::sqrt(num / den), 0.02) << m << ": relative RMS difference of the codes";
  }
  // The other commands that read a model.
  expect_success(run_ae({"decode", "--model", dir / "b.safetensors", "--codes", dir / "b.safetensors.codes.npy", "--quiet",
                         "--out", dir / "dec.npy"}, dir));
  expect_success(run_ae({"reconstruct", "--model", dir / "h.safetensors", "--data", TEST_IMAGES, "--max-rows", "100",
                         "--quiet", "--out", dir / "rec.npy"}, dir));
  expect_success(run_ae({"score", "--model", dir / "b.safetensors", "--data", TEST_IMAGES, "--max-rows", "100", "--quiet",
                         "--out", dir / "scores.csv"}, dir));

  // PyTorch reads the BF16 and F16 tensors as ae wrote them, rounded as torch rounds.
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    std::printf("note: /usr/bin/python3 has no torch; the header was checked above instead\n");
    return;
  }
  for (const char* m : {"b.safetensors", "h.safetensors"}) {
    const std::string cmd = std::string("/usr/bin/python3 ") + AE_SOURCE_DIR + "/tests/e2e/torch_lowp_check.py " +
                            (dir / "f.safetensors") + " " + (dir / m) + " >" + (dir / "torch.txt") + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << read_text(dir / "torch.txt");
    EXPECT_EQ(read_text(dir / "torch.txt").rfind("ok ", 0), 0u) << read_text(dir / "torch.txt");
  }
}

// --init from a bf16 file: training starts from its exact fp32 values, and the new file is fp32
// unless --save-dtype is given again.
TEST_F(SaveDtype, InitFromBf16StartsFromItsExactValuesAndSavesFp32) {
  expect_success(train("b.safetensors", {"--save-dtype", "bf16"}));
  expect_success(train("i.safetensors", {"--init", dir / "b.safetensors", "--steps", "0"}));
  const Model b = Model::load(dir / "b.safetensors"), i = Model::load(dir / "i.safetensors");
  EXPECT_EQ(i.save_dtype, DType::f32);
  for (const NamedTensor& t : load_model_file(dir / "i.safetensors").tensors) EXPECT_EQ(t.dtype, DType::f32) << t.name;
  for (size_t p = 0; p < b.params.count(); ++p)
    EXPECT_EQ(std::memcmp(b.params.value(p), i.params.value(p), size_t(b.params.info(p).size()) * 4), 0) << b.params.info(p).name;
  // Training on from it, in bf16 again.
  expect_success(train("j.safetensors", {"--init", dir / "b.safetensors", "--steps", "5", "--save-dtype", "bf16"}));
  EXPECT_EQ(Model::load(dir / "j.safetensors").save_dtype, DType::bf16);
}

TEST_F(SaveDtype, BadValueIsAOneLineErrorAndWritesNothing) {
  expect_one_line_error(dir, {"train", "--data", TRAIN_IMAGES, "--max-rows", "100", "--save-dtype", "int8", "--out",
                              dir / "m.safetensors"}, "--save-dtype int8: unknown dtype; expected one of: fp32, bf16, fp16");
  expect_one_line_error(dir, {"train", "--data", TRAIN_IMAGES, "--max-rows", "100", "--save-dtype", "f16", "--out",
                              dir / "m.safetensors"}, "--save-dtype f16");
}

// A weight beyond fp16's range: refused with one line naming the tensor and the value (and bf16),
// and no model file written.
TEST_F(SaveDtype, Fp16OverflowIsAOneLineErrorAndWritesNoModel) {
  Model big = Model::create(parse_spec("784-8-784"), 1, Loss::mse);
  big.params.value(size_t(big.params.index_of("decoder.0.weight")))[3] = 1e5f;
  big.params.bump_version();
  big.save(dir / "big.safetensors");
  expect_one_line_error(dir, {"train", "--data", TRAIN_IMAGES, "--max-rows", "100", "--init", dir / "big.safetensors",
                              "--steps", "0", "--checkpoint", "none", "--quiet", "--save-dtype", "fp16", "--out", dir / "m.safetensors"},
                        "cannot save tensor 'decoder.0.weight' as F16: element 3 is 100000");
  const RunResult r = run_ae({"train", "--data", TRAIN_IMAGES, "--max-rows", "100", "--init", dir / "big.safetensors", "--steps",
                              "0", "--checkpoint", "none", "--save-dtype", "fp16", "--out", dir / "m.safetensors"}, dir);
  EXPECT_NE(r.err.find("save it as bf16"), std::string::npos) << r.err;
  expect_success(train("m.safetensors", {"--init", dir / "big.safetensors", "--steps", "0", "--checkpoint", "none",
                                         "--save-dtype", "bf16"}));
}

}  // namespace
}  // namespace ae::e2e
