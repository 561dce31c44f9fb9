// The output tile of the tensor-core GEMMs (kernels/cuda/gemm_wmma.cuh), a launcher argument of
// dense_fwd_tc and dense_bwd_tc: 64×64 outputs per block reuse each staged operand twice as often;
// 32×32 gives 4× the blocks, which is what a small layer needs to occupy the device (at batch 256
// the default model's first layer has 16 blocks of 64×64 for 132 SMs). `automatic` takes 64×64 when
// that grid has at least one block per SM of the current device, else 32×32. Tests name a tile to
// cover both.
#pragma once

#include <cstdint>

namespace ae::cuda {

enum class TcTile : uint8_t { automatic, t32, t64 };

}  // namespace ae::cuda
