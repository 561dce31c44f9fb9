// libFuzzer target: model files. The safetensors container (load_model_file), then what ae reads
// from it (Model::load: format version, spec, loss, RNG, normalisation, threshold, history, the
// tensors against the spec) and a checkpoint with adam's two optimizer slots (load_checkpoint).
#include "fuzz/fuzz_input.h"
#include "runtime/model.h"
#include "runtime/model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ae::fuzz::ScratchFile file(".safetensors");
  const std::string& path = file.write(data, size);
  bool container_ok = false;
  ae::fuzz::expect_ok_or_error([&] {
    ae::load_model_file(path);
    container_ok = true;
  });
  if (!container_ok) return 0;  // Model::load would refuse it the same way
  ae::fuzz::expect_ok_or_error([&] { ae::Model::load(path); });
  ae::fuzz::expect_ok_or_error([&] {
    ae::Checkpoint ck;
    ae::load_checkpoint(path, 2, ck);
  });
  return 0;
}
