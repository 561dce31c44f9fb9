// The output tile of the tensor-core GEMMs (kernels/cuda/gemm_wmma.cuh), a launcher argument of
// dense_fwd_tc and dense_bwd_tc. Larger tiles reuse each staged operand more often; 32×32 gives 4×
// the blocks of 64×64, which is what a small layer needs to occupy the device (at batch 256 the
// default model's first layer has 16 blocks of 64×64 for 132 SMs). t32: 32×32 in 4 warps of 16×16;
// t64: 64×64 in 8 warps of 32×16; t64_w4: 64×64 in 4 warps of 32×32; t128: 128×64 in 8 warps of
// 32×32. `automatic` takes a 64×64 tile when that grid has at least one block per SM of the current
// device (t64_w4 for the tf32 forward, t64 otherwise), else t32 (gemm_wmma::pick_tile); t128
// measured no faster anywhere on the H200 and is chosen only by name. Tests name each tile.
#pragma once

#include <cstdint>

namespace ae::cuda {

enum class TcTile : uint8_t { automatic, t32, t64, t64_w4, t128 };

// Its name in test names and reports: "32", "64", "64w4", "128x64", "auto".
inline const char* tc_tile_name(TcTile t) {
  switch (t) {
    case TcTile::t32: return "32";
    case TcTile::t64: return "64";
    case TcTile::t64_w4: return "64w4";
    case TcTile::t128: return "128x64";
    case TcTile::automatic: break;
  }
  return "auto";
}

}  // namespace ae::cuda
