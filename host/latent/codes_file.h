// .aec files: an autoencoder's codes stored as compressed data (`ae compress`), decoded later by the
// same model (`ae decompress`). The header names the model by a fingerprint, so another model's
// decoder is refused instead of decoding nonsense; codes are float32, or quantised per unit to 8 or
// 16 bits (min/max affine, round to nearest: |error| ≤ scale/2).
//
// Layout, little-endian:
//   "AECODES\0" (8) | u32 version (1) | u32 quantisation bits (0 = float32, 8, 16) | u64 rows |
//   u64 units | u64 model fingerprint | u32 spec length | spec text (the model's compact spec) |
//   quantised only: f32 scale[units], f32 offset[units] |
//   codes row-major: f32, u8 or u16 each | u64 FNV-1a checksum of every byte before it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ae {
struct Model;
}

namespace ae::latent {

inline constexpr uint32_t CODES_FILE_VERSION = 1;

struct CodesFile {
  int64_t rows = 0, units = 0;
  int quant_bits = 0;            // 0 (float32), 8 or 16
  uint64_t fingerprint = 0;      // model_fingerprint() of the model that wrote them
  std::string spec;              // that model's compact spec, for messages
  std::vector<float> scale, offset;  // [units] when quantised: value = offset + q·scale
  std::vector<float> codes;      // [rows, units]: float32 as stored, or already dequantised
};

// FNV-1a 64 over the compact spec, the normalisation record and every parameter's bytes: two
// models decode alike only when all three agree.
uint64_t model_fingerprint(const Model& m);

// Quantises `codes` [rows, units] to `bits` (8 or 16) per unit: scale = (max − min)/(2^bits − 1)
// (0 for a constant unit), q = round((v − min)/scale). Returns the dequantised values in f.codes
// and the integers in `q`.
void quantize(CodesFile& f, int bits, std::vector<uint16_t>& q);

// Writes f (codes as float32, or quantised to f.quant_bits from f.codes) atomically; returns the
// file's size in bytes. With quantisation, f.codes, f.scale and f.offset become what was stored.
uint64_t write_codes_file(const std::string& path, CodesFile& f);
// Reads and fully checks a file (magic, version, sizes, checksum); codes come back dequantised.
// Any problem is one ae::Error naming `path`.
CodesFile read_codes_file(const std::string& path);

}  // namespace ae::latent
