// Spec → IR graph, for one of the things ae runs: a training step, an evaluation (loss and
// per-sample errors, no gradients), encode (input → code), decode (code → reconstruction) and
// reconstruct (input → reconstruction).
#pragma once

#include "graph/ir.h"
#include "graph/spec.h"

namespace ae {

enum class GraphMode : uint8_t { train, eval, encode, decode, reconstruct };
const char* graph_mode_name(GraphMode m);

struct BuildOptions {
  GraphMode mode = GraphMode::train;
  Loss loss = Loss::mse;
};

// Forward graph of `mode`; for train, also the backward graph (autodiff) and one
// optimizer_update per parameter. Params are named as PyTorch's nn.Sequential state_dict.
Graph build_graph(const Spec& spec, const BuildOptions& opt);

// Reverse-mode autodiff of g with respect to every param, each objective term seeded with its weight.
void append_backward(Graph& g);

}  // namespace ae
