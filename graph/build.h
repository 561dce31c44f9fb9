// Spec → IR graph, for one of the things ae runs: a training step, an evaluation (loss and
// per-sample errors, no gradients), encode (input → code), decode (code → reconstruction) and
// reconstruct (input → reconstruction).
#pragma once

#include "graph/ir.h"
#include "graph/spec.h"

#include <string>
#include <vector>

namespace ae {

// encode_logvar and encode_sample exist for a VAE: its code as μ ‖ log σ² (2N columns) or as a draw
// z = μ + σ⊙ε (ε keyed by the data row, at VAE_SCORE_STEP); plain encode gives μ.
// eval_iw is a VAE's eval whose KL rows are the one-sample log q(z|x) − log p(z): each row's error is
// then −log w of one importance sample, what `ae score --iw K` averages in log space.
enum class GraphMode : uint8_t { train, eval, encode, decode, reconstruct, encode_logvar, encode_sample, eval_iw };
const char* graph_mode_name(GraphMode m);
bool is_eval(GraphMode m);    // eval, eval_iw
bool is_encode(GraphMode m);  // encode, encode_logvar, encode_sample
// Columns of a forward-only mode's input and output rows.
int64_t mode_input_width(const Spec& spec, GraphMode m);
int64_t mode_output_width(const Spec& spec, GraphMode m);

struct BuildOptions {
  GraphMode mode = GraphMode::train;
  Loss loss = Loss::mse;
  int phase = 0;  // train: which training phase (training_phases) the graph differentiates
};

// A training phase: part of a training step with its own objective terms and the parameter groups
// it updates; the others are constants in it. A step runs its model's phases in order. Every model
// has one phase training group 0 ("autoencoder"), but an adversarial autoencoder, which has three:
// "reconstruction" (group 0: encoder and decoder; the term recon), "discriminator" (group 1; the
// terms d_real and d_fake) and "generator" (group 2: the encoder again; the term gen).
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
