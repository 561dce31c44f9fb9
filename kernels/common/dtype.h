// Element types of ae's tensors, shared by the graph (which gives every tensor one) and the
// kernels (which take low-precision operands). f32 is the default; bf16 and f16 are the storage
// types of mixed precision, always with fp32 accumulation (issue 13). The low-precision storage
// types are plain 16-bit patterns on the host: kernels/cpu/lowp_round.h rounds to and from them
// bit for bit as CUDA does.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ae {

enum class DType : uint8_t { f32, bf16, f16 };
constexpr int DTYPE_COUNT = 3;

constexpr int64_t dtype_bytes(DType d) { return d == DType::f32 ? 4 : 2; }
constexpr const char* dtype_name(DType d) {
  return d == DType::f32 ? "f32" : d == DType::bf16 ? "bf16" : d == DType::f16 ? "f16" : "?";
}

// The names of --precision (and a model file's ae.precision) for a plan computing in d: "fp32",
// "bf16", "fp16". (tf32 is fp32 storage with tensor-core math: a GEMM setting, not a dtype.)
constexpr const char* precision_name(DType d) {
  return d == DType::f32 ? "fp32" : d == DType::bf16 ? "bf16" : d == DType::f16 ? "fp16" : "?";
}

// The DType precision_name() calls `name`, or nullopt: the one parser of "fp32"/"bf16"/"fp16".
inline std::optional<DType> dtype_of_precision_name(std::string_view name) {
  for (DType d : {DType::f32, DType::bf16, DType::f16})
    if (name == precision_name(d)) return d;
  return std::nullopt;
}

// A plan's precision (--precision, a model file's ae.precision): the dtype its GEMMs' operands and
// activations are stored in (graph/precision.cpp; f32 by default) and, with fp32 storage, whether
// its GEMMs may round their operands to tf32 for the tensor cores (a GEMM setting: cuda only).
// A DType converts to the precision that stores in it.
struct Precision {
  DType compute = DType::f32;
  bool tf32 = false;
  constexpr Precision() = default;
  constexpr Precision(DType d) : compute(d) {}  // NOLINT: implicit on purpose
  static constexpr Precision tf32_math() {
    Precision p;
    p.tf32 = true;
    return p;
  }
  constexpr bool operator==(const Precision&) const = default;
};

// "fp32", "bf16", "fp16" or "tf32".
constexpr const char* precision_name(Precision p) { return p.tf32 ? "tf32" : precision_name(p.compute); }
// The Precision precision_name() calls `name`, or nullopt: the one parser of --precision's values.
inline std::optional<Precision> precision_of_name(std::string_view name) {
  if (name == "tf32") return Precision::tf32_math();
  if (const auto d = dtype_of_precision_name(name)) return Precision(*d);
  return std::nullopt;
}

// A bf16 value as stored: the high 16 bits of the fp32 value it rounds (sign, 8-bit exponent,
// 7-bit mantissa). A distinct type, so a bf16 buffer is never passed where floats are expected.
struct bfloat16 {
  uint16_t bits;
};
static_assert(sizeof(bfloat16) == 2);

}  // namespace ae
