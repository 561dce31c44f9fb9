// The cpu binary primitive with broadcast: forward against a naive loop in double for every op,
// broadcast and accumulate (and y aliasing a), and the gradients of L = Σ W ⊙ (a op b) against
// fp64 central differences, as autodiff builds them from the primitives: dA = W (add, sub) or
// W ⊙ b broadcast (mul); dB = ±W or W ⊙ a, summed by reduce_sum over the broadcast axis. The
// per-sample broadcasts (sample, tile, channel; G rows per sample) the same way, G in {1, 3, 7, 32}.
#include "kernels/cpu/binary.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/unary.h"
#include "tests/kernels/grad_check.h"

namespace ae::cpu {
namespace {

using gradcheck::all_near;

const BinaryOp ALL_OPS[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul};
const Broadcast ALL_BCAST[] = {Broadcast::none, Broadcast::row, Broadcast::col, Broadcast::scalar};

std::string label(BinaryOp op, Broadcast bb, int64_t M, int64_t N) {
  return std::string(binary_op_name(op)) + " bcast=" + broadcast_name(bb) + " M=" + std::to_string(M) +
         " N=" + std::to_string(N);
}

double b_at(Broadcast bb, const std::vector<double>& b, int64_t i, int64_t j, int64_t N) {
  switch (bb) {
    case Broadcast::none: return b[i * N + j];
    case Broadcast::row: return b[j];
    case Broadcast::col: return b[i];
    case Broadcast::scalar: return b[0];
  }
  return NAN;
}

TEST(Binary, ForwardMatchesNaiveLoop) {
  struct Shape {
    int64_t M, N;
  };
  uint64_t seed = 1;
  for (BinaryOp op : ALL_OPS)
    for (Broadcast bb : ALL_BCAST)
      for (Shape s : {Shape{1, 1}, Shape{7, 13}, Shape{37, 1}, Shape{1, 29}})
        for (bool accumulate : {false, true}) {
          SCOPED_TRACE(label(op, bb, s.M, s.N) + " accumulate=" + std::to_string(accumulate));
          const auto a = gradcheck::random_vec(s.M * s.N, seed++);
          const auto b = gradcheck::random_vec(broadcast_size(bb, s.M, s.N), seed++);
          const auto y0 = gradcheck::random_vec(s.M * s.N, seed++);
          std::vector<double> want(s.M * s.N);
          for (int64_t i = 0; i < s.M; ++i)
            for (int64_t j = 0; j < s.N; ++j) {
              const double av = a[i * s.N + j], bv = b_at(bb, b, i, j, s.N);
              const double v = op == BinaryOp::add ? av + bv : (op == BinaryOp::sub ? av - bv : av * bv);
              want[i * s.N + j] = accumulate ? y0[i * s.N + j] + v : v;
            }
          std::vector<double> y = accumulate ? y0 : std::vector<double>(s.M * s.N, NAN);
          binary<double>(op, a.data(), b.data(), y.data(), s.M, s.N, bb, accumulate);
          EXPECT_TRUE(all_near("y", y, want, 1e-15));
          if (!accumulate) {  // y aliasing a
            std::vector<double> ya = a;
            binary<double>(op, ya.data(), b.data(), ya.data(), s.M, s.N, bb, false);
            EXPECT_TRUE(all_near("y in place", ya, want, 1e-15));
          }
        }
}

// b's element for a[i, j], written out: sample takes row i/G, tile row i%G (of G rows per sample),
// channel the value i%G for every column (an NCHW tensor as [B·C, H·W], G = C).
double b_at_grouped(Broadcast bb, const std::vector<double>& b, int64_t i, int64_t j, int64_t N, int64_t G) {
  if (bb == Broadcast::channel) return b[i % G];
  return bb == Broadcast::sample ? b[(i / G) * N + j] : b[(i % G) * N + j];
}

// How many elements a grouped b holds, written out.
size_t grouped_size(Broadcast bb, int64_t samples, int64_t N, int64_t G) {
  return size_t(bb == Broadcast::sample ? samples * N : bb == Broadcast::tile ? G * N : G);
}

const Broadcast GROUPED_BCAST[] = {Broadcast::sample, Broadcast::tile, Broadcast::channel};

TEST(Binary, PerSampleForwardMatchesNaiveLoop) {
  struct Shape {
    int64_t samples, N;
  };
  uint64_t seed = 100;
  for (BinaryOp op : ALL_OPS)
    for (Broadcast bb : GROUPED_BCAST)
      for (int64_t G : {1, 3, 7, 32})
        for (Shape s : {Shape{1, 1}, Shape{1, 13}, Shape{2, 5}, Shape{9, 37}})
          for (bool accumulate : {false, true}) {
            const int64_t M = s.samples * G, N = s.N;
            SCOPED_TRACE(label(op, bb, M, N) + " G=" + std::to_string(G) + " accumulate=" + std::to_string(accumulate));
            const auto a = gradcheck::random_vec(M * N, seed++);
            const auto b = gradcheck::random_vec(broadcast_size(bb, M, N, G), seed++);
            const auto y0 = gradcheck::random_vec(M * N, seed++);
            ASSERT_EQ(b.size(), grouped_size(bb, s.samples, N, G));
            std::vector<double> want(M * N);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                const double av = a[i * N + j], bv = b_at_grouped(bb, b, i, j, N, G);
                const double v = op == BinaryOp::add ? av + bv : (op == BinaryOp::sub ? av - bv : av * bv);
                want[i * N + j] = accumulate ? y0[i * N + j] + v : v;
              }
            std::vector<double> y = accumulate ? y0 : std::vector<double>(M * N, NAN);
            binary<double>(op, a.data(), b.data(), y.data(), M, N, bb, accumulate, G);
            EXPECT_TRUE(all_near("y", y, want, 1e-15));
            if (!accumulate) {  // y aliasing a
              std::vector<double> ya = a;
              binary<double>(op, ya.data(), b.data(), ya.data(), M, N, bb, false, G);
              EXPECT_TRUE(all_near("y in place", ya, want, 1e-15));
            }
          }
}

// dB of a per-sample broadcast is the product reduced over its adjoint axis with the same G
// (groups for sample, samples for tile, channels for channel), as autodiff builds it.
TEST(Binary, PerSampleGradientsMatchCentralDifferences) {
  const int64_t samples = 3, N = 5;
  uint64_t seed = 400;
  for (BinaryOp op : ALL_OPS)
    for (Broadcast bb : GROUPED_BCAST)
      for (int64_t G : {1, 3, 7}) {
        const int64_t M = samples * G;
        SCOPED_TRACE(label(op, bb, M, N) + " G=" + std::to_string(G));
        auto a = gradcheck::random_vec(M * N, seed++);
        auto b = gradcheck::random_vec(broadcast_size(bb, M, N, G), seed++);
        const auto w = gradcheck::random_vec(M * N, seed++);  // dY
        auto loss = [&] {
          std::vector<double> y(M * N);
          binary<double>(op, a.data(), b.data(), y.data(), M, N, bb, false, G);
          return gradcheck::dot(w, y);
        };
        std::vector<double> da(M * N, NAN);
        if (op == BinaryOp::mul)
          binary<double>(BinaryOp::mul, w.data(), b.data(), da.data(), M, N, bb, false, G);
        else
          unary<double>(UnaryOp::scale, 1.0, w.data(), da.data(), M * N);
        std::vector<double> g = w;
        if (op == BinaryOp::mul)
          binary<double>(BinaryOp::mul, w.data(), a.data(), g.data(), M, N, Broadcast::none, false);
        std::vector<double> db(b.size(), NAN);
        reduce_sum<double>(adjoint_axis(bb), op == BinaryOp::sub ? -1.0 : 1.0, g.data(), db.data(), M, N, false, G);
        EXPECT_TRUE(all_near("dA", da, gradcheck::numeric_grad(a, loss), 1e-8));
        EXPECT_TRUE(all_near("dB", db, gradcheck::numeric_grad(b, loss), 1e-8));
      }
}

TEST(Binary, GradientsMatchCentralDifferences) {
  const int64_t M = 5, N = 4;
  uint64_t seed = 200;
  for (BinaryOp op : ALL_OPS)
    for (Broadcast bb : ALL_BCAST) {
      SCOPED_TRACE(label(op, bb, M, N));
      auto a = gradcheck::random_vec(M * N, seed++);
      auto b = gradcheck::random_vec(broadcast_size(bb, M, N), seed++);
      const auto w = gradcheck::random_vec(M * N, seed++);  // dY
      auto loss = [&] {
        std::vector<double> y(M * N);
        binary<double>(op, a.data(), b.data(), y.data(), M, N, bb, false);
        return gradcheck::dot(w, y);
      };
      // dA: W for add and sub, W ⊙ b (broadcast) for mul.
      std::vector<double> da(M * N, NAN);
      if (op == BinaryOp::mul)
        binary<double>(BinaryOp::mul, w.data(), b.data(), da.data(), M, N, bb, false);
      else
        unary<double>(UnaryOp::scale, 1.0, w.data(), da.data(), M * N);
      // dB: (W, −W or W ⊙ a) reduced over the broadcast axis.
      std::vector<double> g = w;
      if (op == BinaryOp::mul) binary<double>(BinaryOp::mul, w.data(), a.data(), g.data(), M, N, Broadcast::none, false);
      const double alpha = op == BinaryOp::sub ? -1.0 : 1.0;
      std::vector<double> db(b.size(), NAN);
      if (bb == Broadcast::none)
        unary<double>(UnaryOp::scale, alpha, g.data(), db.data(), M * N);
      else
        reduce_sum<double>(adjoint_axis(bb), alpha, g.data(), db.data(), M, N, false);
      EXPECT_TRUE(all_near("dA", da, gradcheck::numeric_grad(a, loss), 1e-8));
      EXPECT_TRUE(all_near("dB", db, gradcheck::numeric_grad(b, loss), 1e-8));
    }
}

TEST(Binary, BadArgumentsAreErrors) {
  std::vector<double> a(6, 1.0);
  EXPECT_THROW(binary<double>(BinaryOp::add, a.data(), a.data(), a.data(), -1, 2, Broadcast::none, false), ae::Error);
  EXPECT_THROW(binary<double>(BinaryOp::add, a.data(), nullptr, a.data(), 2, 3, Broadcast::row, false), ae::Error);
  EXPECT_THROW(
      binary<double>(BinaryOp::add, a.data(), a.data(), a.data(), 2, 3, static_cast<Broadcast>(BROADCAST_COUNT), false),
      ae::Error);
  EXPECT_NO_THROW(binary<double>(BinaryOp::add, nullptr, nullptr, nullptr, 0, 3, Broadcast::row, false));
  // Rows that are not whole samples, and G < 1.
  EXPECT_THROW(binary<double>(BinaryOp::add, a.data(), a.data(), a.data(), 3, 2, Broadcast::sample, false, 2),
               ae::Error);
  EXPECT_THROW(binary<double>(BinaryOp::add, a.data(), a.data(), a.data(), 2, 3, Broadcast::tile, false, 0), ae::Error);
  EXPECT_THROW(binary<double>(BinaryOp::add, a.data(), a.data(), a.data(), 3, 2, Broadcast::channel, false, 2),
               ae::Error);
}

}  // namespace
}  // namespace ae::cpu
