// Launchers of a one-layer encoder's contractive penalty in closed form on the GPU
// (kernels/common/contractive.h on the code layer's pre-activation z [M, N] and weight W [N, K]),
// checked against kernels/cpu/contractive.h: the forward (s_j = Σ_m a′(z_mj)², n_j = ‖W_j‖², the
// value (1/M) Σ_j s_j n_j) and the two elementwise gradients. Deterministic: no atomics, every sum
// in a fixed order. Pointers are device memory; throws ae::Error on bad arguments.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/common/contractive.h"

namespace ae::cuda {

// s is summed in the order of sparsity.cuh's column sums (column_partials.cuh), with a′² for the
// statistic — the order a fused dense_fwd epilogue could reproduce, as it does for sparsity (not
// fused today: the penalty's forward is a few µs beside the layer's GEMM): rows in chunks of CONTRACTIVE_CHUNK_ROWS = 64, a chunk's partial for column j is
// Σ_{g=0..15} ( Σ_{i=0..3} a′(z[64c + 4g + i, j])² ), both sums in T from 0 in ascending order,
// rows ≥ M skipped; then s_j = Σ_c partial[c, j] in ascending c, in T, from 0.
constexpr int64_t CONTRACTIVE_CHUNK_ROWS = 64;
constexpr int64_t CONTRACTIVE_GROUP_ROWS = 4;  // rows of one inner sum; 16 groups per chunk

inline int64_t contractive_chunks(int64_t M) {
  return (M + CONTRACTIVE_CHUNK_ROWS - 1) / CONTRACTIVE_CHUNK_ROWS;
}

// Elements of T of workspace contractive_forward needs (the [chunks, N] partials of s); at least 1,
// so a planner never reserves an empty buffer. K is not needed (the norms take no scratch) but is
// part of the signature, so the plan's sizing call names the whole shape.
inline int64_t contractive_workspace_floats(int64_t M, int64_t N, int64_t K) {
  (void)K;
  const int64_t n = contractive_chunks(M > 0 ? M : 0) * (N > 0 ? N : 0);
  return n > 0 ? n : 1;
}

// s [N], norms [N] and value [1] as cpu::contractive_forward, the sums in the fixed orders of
// contractive.cu: s in T in the order above, n_j in T (lane l of a warp takes k ≡ l mod 32 in
// ascending order, then a fixed 32-lane tree), the value in double (thread t the units t, t + 256,
// ... in order, then a fixed shared-memory tree) divided by M and rounded to T once. Any M, N, K ≥ 0:
// M = 0 gives s 0 and value 0 (the norms are still written), N = 0 value 0, K = 0 norms 0.
template <typename T>
void contractive_forward(Act act,
                         const T* z,  // [M, N] the code layer's pre-activation
                         const T* w,  // [N, K] its weight
                         int64_t M, int64_t N, int64_t K,
                         T* s,          // [N] out: Σ_m a′(z_mj)²
                         T* norms,      // [N] out: Σ_k W_jk²
                         T* value,      // [1] out
                         T* workspace,  // [contractive_workspace_floats(M, N, K)] scratch
                         cudaStream_t stream);

// dz (+)= contractive_grad_z(act, z, norms[j], dvalue[0], T(1)/T(M)) elementwise, accumulating with
// __fadd_rn (no FMA contraction, as a fused dense_bwd adding it to its dy). M or N = 0 writes nothing.
template <typename T>
void contractive_backward_z(Act act,
                            const T* dvalue,  // [1] device: the term's gradient seed (its weight)
                            const T* z,       // [M, N]
                            const T* norms,   // [N] from contractive_forward
                            int64_t M, int64_t N,
                            T* dz,  // [M, N] out; aliases none of the above
                            bool accumulate, cudaStream_t stream);

// dw (+)= contractive_grad_w(w, s[j], dvalue[0], M > 0 ? T(1)/T(M) : 0) elementwise, accumulating
// with __fadd_rn. M is the batch the value averaged over; N or K = 0 writes nothing.
template <typename T>
void contractive_backward_w(const T* dvalue,  // [1] device
                            const T* w,       // [N, K]
                            const T* s,       // [N] from contractive_forward
                            int64_t M, int64_t N, int64_t K,
                            T* dw,  // [N, K] out; aliases none of the above
                            bool accumulate, cudaStream_t stream);

}  // namespace ae::cuda
