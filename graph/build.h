// Spec → IR graph, for one of the things ae runs: a training step, an evaluation (loss and
// per-sample errors, no gradients), encode (input → code), decode (code → reconstruction) and
// reconstruct (input → reconstruction).
#pragma once

#include "graph/ir.h"
#include "graph/spec.h"

#include <string>
#include <vector>

namespace ae {

enum class GraphMode : uint8_t { train, eval, encode, decode, reconstruct };
const char* graph_mode_name(GraphMode m);

struct BuildOptions {
  GraphMode mode = GraphMode::train;
  Loss loss = Loss::mse;
  int phase = 0;  // train: which training phase (training_phases) the graph differentiates
};

// A training phase: part of a training step with its own objective terms and the parameter groups
// it updates; the others are constants in it. A step runs its model's phases in order. Every model
// today has one phase training group 0 (an adversarial discriminator will be a second group and
// phase, not a second engine).
struct TrainingPhase {
  std::string name;
  std::vector<int> groups;
};
std::vector<TrainingPhase> training_phases(const Spec& spec);

// Forward graph of `mode`; for train, also the backward graph (autodiff) and one
// optimizer_update per parameter. Params are named as PyTorch's nn.Sequential state_dict.
Graph build_graph(const Spec& spec, const BuildOptions& opt);

// Reverse-mode autodiff of g's objective (each term seeded with its weight) with respect to the
// params of `groups` (empty: every group), then one optimizer_update per trained param.
void append_backward(Graph& g, const std::vector<int>& groups = {});

}  // namespace ae
