#!/usr/bin/python3
"""PyTorch parity of ae's training: for every activation, both losses and each of sgd, adam and
rmsprop, start ae and PyTorch from the same weights (ae's own `--steps 0` model file), train 50 steps on
the same batches in the same order (shuffling off), and compare the final weights:
max over tensors of ||W_ae - W_torch|| / ||W_torch|| must be at most 1e-4.

The model is 784-64X-16-64X-784s (X the activation letter; a linear 16-unit code; a sigmoid
output for both losses, so that bce gets probabilities and mse sees the same network). ae
computes bce of a sigmoid output from the logits; PyTorch runs nn.BCELoss on the sigmoid output,
which is the same function (the gradient differs only by rounding).

The model file is read by hand (8-byte little-endian header length, JSON header, raw
little-endian float32 data), so neither pip nor the `safetensors` package is needed. Without
torch the script prints "SKIPPED: torch not installed" and exits 0: ae's tests never need torch.

With --tied the models are tied (784-64X-16-64X-784s:tied): PyTorch's decoder applies
F.linear(x, encoder.N.weight.t(), bias), so its state_dict has the decoder biases only, as ae's
file; the optimizers default to sgd and adam, and for each run PyTorch's forward pass of ae's final
file must reproduce `ae reconstruct` within 1e-5.

With --sparsity l1:LAMBDA or kl:RHO:BETA both sides add the code penalty to the loss: l1 as
LAMBDA · mean over the batch of Σ_j |h_j|, kl as BETA · Σ_j KL(RHO ‖ mean over the batch of h_j),
written in PyTorch directly from those definitions; kl needs a sigmoid code, so the model is then
784-64X-16s-64X-784s.

With --noise mask:P, gaussian:S, gaussian:S:clip or saltpepper:P the models are denoising
autoencoders (the spec gains :mask=P, ...): each step PyTorch feeds the corrupted batch and
reconstructs the clean one. The corruption is ae's, reproduced bit for bit here in numpy: Philox4x32-10
keyed by (seed, step, purpose 4, element index) and the formulas of kernels/common/noise.h; the data
range of saltpepper and the clip is read from the initial model file, where ae recorded it.

With --contractive LAMBDA both sides add the contractive penalty LAMBDA · mean over the batch of
||dh(x_b)/dx_b||_F^2, h the code (the last encoder layer's output) and x the encoder's input (the
corrupted batch with --noise). ae's spec gains :contractive=LAMBDA; PyTorch reads LAMBDA back from
the initial model file, as the noise, and computes the penalty exactly by double backward,
independently of ae's closed form: for each code unit j, torch.autograd.grad(h[:, j].sum(), x,
create_graph=True) holds dh_bj/dx_b in row b (samples are independent), and the penalty is
LAMBDA · (1/B) Σ_b Σ_j Σ_i (dh_bj/dx_bi)^2, backpropagated like any loss. It costs one extra
backward pass per code unit and step: 0.2 to 4 seconds a step on 2 cores (64 code units of a
one-layer encoder cost the most).

--spec-template T replaces the model shape: T is an ae compact spec in which X stands for the
activation letter, e.g. 784-64X-784s (a one-layer encoder: the code is 64X) or
784-128X-32X-128X-784s; :tied and the penalty and noise options are appended to it as usual (the
kl rule's 16s code applies only to the default template).

With --vae the models are variational autoencoders (a 'v' code layer: heads mu and logvar, z =
μ + exp(½ logvar)·ε) and the runs are the configurations of --vae-configs, each LOSS:BETA[:WARMUP]
(default bce:1, bce:4, mse:1, mse:4, bce:1:20, mse:4:20), all with adam. PyTorch is vae_peer.py:
ae's objective (1/B)·Σ_b [Σ_features loss + β_t·KL_b], β_t = β·min(1, (t−1)/WARMUP), on ae's own ε
(its Philox draws keyed by (seed, step, purpose 5, batch row · N + unit), reproduced in numpy).
The default spec template is 784-400X-20v-400X-784s and --acts defaults to r. For each run
PyTorch's forward passes of ae's final file must reproduce `ae encode --with-logvar`, `ae decode`,
`ae reconstruct` and `ae score` (negative ELBO on ae's scoring ε) on 256 test rows within 1e-5.
The peer also trains in float64: a run whose float32 peer strays from the float64 one (a ReLU kink
flipped by float32 rounding, which Adam's normalisation of near-zero gradients can set up) passes
as "ok (f64)" when ae is within the tolerance of the float64 run.

--specs S1 S2 ... runs whole specs (no X) for each loss and optimizer (sgd and adam unless
--optimizers says otherwise), convolutional ones included: the model file's JSON spec builds the
peer's nn.Sequentials (torch_spec.py: nn.Conv2d [out, in, k, k], nn.ConvTranspose2d [in, out, k, k],
MaxPool2d / AvgPool2d with PyTorch's defaults, Upsample nearest, Unflatten, the implicit Flatten
before a dense layer), and ae's flat rows become (N, C, H, W). The max absolute difference of any
weight must be within the tolerance (the max relative difference is shown: PyTorch against itself
exceeds 1e-4 relative on small conv biases), and the peer also trains in float64 (columns ae-f64, f32-f64) to show how far each float32 side is from exact arithmetic.
--conv [LETTERS] adds the three convolutional specs of CONV_SPECS (stride-2 conv and transposed
conv; conv, max pool and upsample; a conv encoder with a dense code) for each hidden activation
letter (default e, elu); --peer-spread also trains the peer with oneDNN off and on 1 thread, to
show where PyTorch's own float32 configurations part by more than the tolerance (relu models
under adam: a ReLU pre-activation within rounding of 0, see PARITY.md).

Usage: /usr/bin/python3 bench/peers/parity.py [--ae build/ae] [--steps 50] [--batch 64] [--tied] [--sparsity S] [--noise N]
       [--contractive LAMBDA] [--spec-template T] [--vae [--vae-configs bce:1,mse:4:20]]
       [--conv [LETTERS]] [--specs S1 S2 ...] [--peer-spread] ...
Exit status 0 when every combination is within the tolerance, 1 otherwise.
"""
import argparse
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch_spec

ACTS = ["l", "r", "k", "s", "t", "u", "e", "p", "g"]
ACT_NAMES = {"l": "linear", "r": "relu", "k": "leaky_relu", "s": "sigmoid", "t": "tanh",
             "u": "selu", "e": "elu", "p": "softplus", "g": "gelu"}
LOSSES = ["mse", "bce"]
OPTIMIZERS = ["sgd", "adam", "rmsprop"]
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "rmsprop": 1e-3}  # given to both sides explicitly
TOLERANCE = 1e-4
FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
# --conv: a stride-2 conv encoder with transposed-conv decoder (the classic 28→14→7→1 model), conv
# + max pool with upsampling, and a conv encoder with a dense code (a dense layer and a reshape back);
# X is the hidden activation (--conv's letters, elu by default: with relu, a pre-activation within
# float32 rounding of 0 flips now and then, and Adam turns the flip into lr-sized steps; PARITY.md).
CONV_SPECS = ["1x28x28-C16k3s2p1X-C32k3s2p1X-C64k7|-T32k7X-T16k3s2p1o1X-T1k3s2p1o1s",
              "1x28x28-C8k3p1X-M2-C16k3p1X-M2|-U2-C8k3p1X-U2-C1k3p1s",
              "1x28x28-C16k3s2p1X-C32k3s2p1X-64|-1568X-R32x7x7-T16k3s2p1o1X-T1k3s2p1o1s"]
VAE_CONFIGS = ["bce:1", "bce:4", "mse:1", "mse:4", "bce:1:20", "mse:4:20"]  # --vae: LOSS:BETA[:KL_WARMUP]


def read_safetensors(path):
    """(tensors as {name: numpy float32 array}, metadata dict) of a safetensors file."""
    import numpy as np
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            raise SystemExit(f"{path}: tensor {name} has dtype {e['dtype']}, expected F32")
        b, end = e["data_offsets"]
        tensors[name] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).copy()
    return tensors, meta


def read_idx_u8(path, rows):
    """The first `rows` images of a (gzip) IDX u8 file as float32 [rows, h*w], scaled by 1/255
    exactly as ae does (v / 255 in float32)."""
    import numpy as np
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        magic = f.read(4)
        if magic[:3] != b"\x00\x00\x08":
            raise SystemExit(f"{path}: not a u8 IDX file")
        dims = struct.unpack(">" + "I" * magic[3], f.read(4 * magic[3]))
        width = 1
        for d in dims[1:]:
            width *= d
        rows = min(rows, dims[0])
        px = np.frombuffer(f.read(rows * width), dtype=np.uint8).reshape(rows, width)
    return px.astype(np.float32) / np.float32(255.0)


def torch_module(act):
    import torch.nn as nn
    return torch_spec._activation(nn, act)


def torch_model(spec):
    """nn.Module with .encoder and .decoder nn.Sequential built like ae's state_dict names
    (torch_spec.build: nn.Linear, nn.Conv2d, nn.ConvTranspose2d, pools, nn.Upsample, nn.Unflatten,
    each non-linear activation its own module, nn.Flatten before a dense layer that reads an image).
    A tied spec's decoder layer l is a TiedLinear holding only a bias and using the mirror encoder
    Linear's weight, transposed."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class TiedLinear(nn.Module):
        def __init__(self, source, out):
            super().__init__()
            self.source = [source]  # a list: not registered, so its weight is a parameter once
            self.bias = nn.Parameter(torch.zeros(out))

        def forward(self, x):
            return F.linear(x, self.source[0].weight.t(), self.bias)

    n_enc, linears = len(spec["encoder"]), []

    def linear(i, width, units):  # dense layers only: a tied spec has no other kind
        lin = nn.Linear(width, units) if not spec.get("tied") or i < n_enc else TiedLinear(linears[2 * n_enc - 1 - i], units)
        linears.append(lin)
        return lin

    m = nn.Module()
    m.encoder, m.decoder = torch_spec.build(torch, spec, linear)
    return m


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")


def philox_words(seed, step, purpose, index):
    """The first two 32-bit words of Philox4x32-10 for counters (index, step, purpose) under key
    seed, as kernels/common/philox.h's philox_draw: index an array of uint64 element offsets."""
    import numpy as np
    mask = np.uint64(0xFFFFFFFF)
    index = index.astype(np.uint64)
    c0, c1 = index & mask, index >> np.uint64(32)
    c2 = np.full_like(c0, step & 0xFFFFFFFF)
    c3 = np.full_like(c0, ((step >> 32) & 0x00FFFFFF) | (purpose << 24))
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0, p1 = np.uint64(0xD2511F53) * c0, np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & mask, \
            (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & mask
    return c0, c1


def corrupt(x, noise, seed, step):
    """ae's corruption of the row-major float32 batch x at 1-based training step `step`
    (kernels/common/noise.h): noise = {"kind", "p" or "sigma", "clip", "range"}."""
    import numpy as np
    w0, w1 = philox_words(seed, step, 4, np.arange(x.size, dtype=np.uint64))
    w0, w1 = w0.reshape(x.shape), w1.reshape(x.shape)
    lo, hi = (np.float32(v) for v in noise.get("range", [0.0, 1.0]))
    if noise["kind"] == "gaussian":
        u1 = (w0.astype(np.float64) + 1.0) * (1.0 / 4294967296.0)
        u2 = w1.astype(np.float64) * (1.0 / 4294967296.0)
        eps = (np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586476925 * u2)).astype(np.float32)
        y = (x.astype(np.float64) + np.float64(np.float32(noise["sigma"])) * eps.astype(np.float64)).astype(np.float32)
        return np.clip(y, lo, hi) if noise.get("clip") else y
    u = (w0 >> np.uint64(8)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    hit = u < np.float32(noise["p"])
    if noise["kind"] == "mask":
        return np.where(hit, np.float32(0), x)
    return np.where(hit, np.where((w1 & np.uint64(1)) == 1, hi, lo), x)


def penalty(h, sparsity):
    """The code penalty ae adds for --sparsity (see the module's docstring), or 0."""
    import torch
    if not sparsity:
        return 0.0
    kind, *v = sparsity.split(":")
    if kind == "l1":
        return float(v[0]) * h.abs().sum(dim=1).mean()
    rho, beta = float(v[0]), float(v[1])
    m = h.mean(dim=0)
    return beta * (rho * torch.log(rho / m) + (1 - rho) * torch.log((1 - rho) / (1 - m))).sum()


def contractive_penalty(h, x, lam):
    """lam · (1/B) Σ_b ||dh_b/dx_b||_F^2 by double backward: one autograd.grad per code unit j gives
    dh_bj/dx_b for every sample b at once (h_b depends on x_b only), with create_graph so the
    penalty itself can be differentiated."""
    import torch
    total = 0.0
    for j in range(h.shape[1]):
        (g,) = torch.autograd.grad(h[:, j].sum(), x, create_graph=True)
        total = total + (g * g).sum()
    return lam * total / x.shape[0]


def torch_train(init_path, x, loss, opt, lr, steps, batch, sparsity=None, seed=1, dtype="float32"):
    """Trains the model of `init_path` in PyTorch (in float64 with dtype="float64", to see how far
    each float32 run is from exact arithmetic); returns {name: float32 array}. ae's flat rows
    become (N, C, H, W) for a convolutional spec (torch_spec.as_input)."""
    import torch
    import torch.nn as nn
    tensors, meta = read_safetensors(init_path)
    spec = json.loads(meta["ae.spec"])
    noise = spec.get("noise")
    contractive = spec.get("contractive", 0.0)  # λ as ae recorded it in the spec
    model = torch_model(spec)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model = model.to(getattr(torch, dtype))
    crit = nn.MSELoss() if loss == "mse" else nn.BCELoss()
    make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    o = make[opt](model.parameters(), lr=lr)
    xt = torch_spec.as_input(torch.from_numpy(x.astype(dtype)), spec)
    per_epoch = (x.shape[0] + batch - 1) // batch
    for step in range(steps):
        b = step % per_epoch  # shuffling off: every epoch visits the rows in file order
        xb = xt[b * batch:(b + 1) * batch]
        xin = xb if not noise else torch.from_numpy(corrupt(xb.numpy(), noise, seed, step + 1))
        if contractive:  # the Jacobian is taken with respect to the encoder's (corrupted) input
            xin = xin.detach().clone().requires_grad_(True)
        o.zero_grad()
        h = model.encoder(xin)
        out = model.decoder(h)
        objective = crit(out, xb) + penalty(h, sparsity)
        if contractive:
            objective = objective + contractive_penalty(h, xin, contractive)
        objective.backward()
        o.step()
    return {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items()}


def torch_reconstruct(model_path, x):
    """PyTorch's forward pass of an ae model file (float32)."""
    import torch
    tensors, meta = read_safetensors(model_path)
    model_spec = json.loads(meta["ae.spec"])
    model = torch_model(model_spec)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    with torch.no_grad():
        y = model.decoder(model.encoder(torch_spec.as_input(torch.from_numpy(x), model_spec)))
        return y.reshape(x.shape[0], -1).numpy()


def compare(ae_w, torch_w, init_w):
    """(max over tensors of ||W_ae - W_torch|| / ||W_torch||, the tensor attaining it, max over
    tensors of ||W_ae - W_torch|| / ||W_torch - W_init||: the share of the training update on
    which the two disagree, which shows the steps really moved the weights)."""
    import numpy as np
    worst, where, of_update = 0.0, "", 0.0
    if set(ae_w) != set(torch_w):
        raise SystemExit(f"tensor names differ: ae {sorted(ae_w)} torch {sorted(torch_w)}")
    for k, t in torch_w.items():
        t64 = t.astype(np.float64)
        diff = np.linalg.norm(ae_w[k].astype(np.float64).reshape(t.shape) - t64)
        rel = diff / np.linalg.norm(t64)
        if rel > worst:
            worst, where = rel, k
        update = np.linalg.norm(t64 - init_w[k].astype(np.float64).reshape(t.shape))
        of_update = max(of_update, diff / update if update > 0 else float("inf"))
    return worst, where, of_update


def max_abs_diff(ae_w, torch_w):
    """(max over every weight of |W_ae - W_torch|, the tensor holding it)."""
    import numpy as np
    worst, where = 0.0, ""
    for k, t in torch_w.items():
        d = float(np.max(np.abs(ae_w[k].reshape(t.shape).astype(np.float64) - t.astype(np.float64))))
        if d > worst:
            worst, where = d, k
    return worst, where


def specs_parity(a, x, work, lr, optimizers):
    """--specs / --conv: each whole spec (convolutional ones included: the peer reshapes ae's flat
    rows to (N, C, H, W)) for each loss and optimizer, from one `ae train --steps 0` file per spec
    and loss; the max absolute weight difference must be within the tolerance (the max relative
    difference of the dense table is shown beside it). The peer also trains in float64: how far each float32
    side is from exact arithmetic, to tell rounding from a real difference when a run fails."""
    import torch
    print(f"ae: {os.path.realpath(a.ae)}; torch {torch.__version__}, {a.threads} threads; "
          f"{x.shape[0]} rows of {a.data}; {a.steps} steps, batch {a.batch}, shuffle off, seed {a.seed}; "
          f"lr {', '.join(f'{o} {lr[o]}' for o in optimizers)}; tolerance {TOLERANCE:g} (max abs diff)")
    width = max(len(s) for s in a.specs)
    print(f"{'spec':<{width}} {'loss':<4} {'opt':<7} {'max rel diff':>12}  {'worst tensor':<17} {'max abs diff':>12}  "
          f"{'worst tensor':<17} {'of update':>9} {'ae-f64':>9} {'f32-f64':>9}"
          f"{' spread-r  spread-a  ae-near' if a.peer_spread else ''}  result")
    failures, rows = 0, 0
    for n, spec in enumerate(a.specs):
        for loss in a.losses.split(","):
            init = os.path.join(work, f"init-spec{n}-{loss}.safetensors")
            run([a.ae, "train", "--spec", spec, "--loss", loss, "--seed", str(a.seed), "--steps", "0",
                 "--data", a.data, "--max-rows", str(a.batch), "--quiet", "--out", init])
            init_w, _ = read_safetensors(init)
            for opt in optimizers:
                out = os.path.join(work, f"ae-spec{n}-{loss}-{opt}.safetensors")
                run([a.ae, "train", "--init", init, "--data", a.data, "--max-rows", str(a.rows),
                     "--steps", str(a.steps), "--batch", str(a.batch), "--shuffle", "off",
                     "--optimizer", opt, "--lr", repr(lr[opt]), "--loss", loss,
                     "--threads", str(a.threads), "--quiet", "--out", out])
                ae_w, _ = read_safetensors(out)
                torch_w = torch_train(init, x, loss, opt, lr[opt], a.steps, a.batch, seed=a.seed)
                t64 = torch_train(init, x, loss, opt, lr[opt], a.steps, a.batch, seed=a.seed, dtype="float64")
                worst, where, of_update = compare(ae_w, torch_w, init_w)
                abs_worst, abs_where = max_abs_diff(ae_w, torch_w)
                vs64, f32_64 = max_abs_diff(ae_w, t64)[0], max_abs_diff(torch_w, t64)[0]
                # The absolute difference decides: a conv bias can have a small norm (the classic model's
                # code bias, ~1e-3 after 50 sgd steps), where PyTorch's own configurations part by more
                # than 1e-4 relative (--peer-spread's spread-r) while every weight agrees within 1e-5.
                ok = abs_worst <= TOLERANCE
                failures += not ok
                rows += 1
                spread = ""
                if a.peer_spread:
                    others = peer_variants(init, x, loss, opt, lr[opt], a)
                    spread = (f" {max(compare(w, torch_w, init_w)[0] for w in others.values()):9.2e}"
                              f" {max(max_abs_diff(w, torch_w)[0] for w in others.values()):9.2e}"
                              f" {min([abs_worst] + [max_abs_diff(ae_w, w)[0] for w in others.values()]):9.2e}")
                print(f"{spec:<{width}} {loss:<4} {opt:<7} {worst:12.3e}  {where:<17} {abs_worst:12.3e}  "
                      f"{abs_where:<17} {of_update:9.2e} {vs64:9.2e} {f32_64:9.2e}{spread}  {'ok' if ok else 'FAIL'}",
                      flush=True)
    print(f"{rows - failures}/{rows} within {TOLERANCE:g} (max rel diff: max over tensors of ||W_ae - W_torch|| / "
          f"||W_torch||; max abs diff: max over weights of |W_ae - W_torch|; of update: max over tensors of "
          f"||W_ae - W_torch|| / ||W_torch - W_init||; ae-f64, f32-f64: max abs diff of ae's and the float32 "
          f"peer's weights from the peer's float64 run"
          f"{'; spread-r, spread-a: max rel and max abs diff of the peer with oneDNN off or on 1 thread from the peer; ae-near: ae against the nearest of the three peers (max abs diff)' if a.peer_spread else ''})")
    return 1 if failures else 0


def peer_variants(init, x, loss, opt, lr, a):
    """The float32 peer in two other configurations of PyTorch itself: oneDNN off (ATen's own
    convolution, another summation order) and 1 thread. Where they part from the default peer by
    more than the tolerance, two correct float32 engines need not agree within it on that run."""
    import warnings
    import torch
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2's note on TF32 for Intel GPUs when the flags change
        with torch.backends.mkldnn.flags(enabled=False):
            out["no-onednn"] = torch_train(init, x, loss, opt, lr, a.steps, a.batch, seed=a.seed)
    torch.set_num_threads(1)
    try:
        out["1-thread"] = torch_train(init, x, loss, opt, lr, a.steps, a.batch, seed=a.seed)
    finally:
        torch.set_num_threads(a.threads)
    return out


def vae_parity(a, x, work):
    """--vae: each configuration of --vae-configs for each activation, ae against vae_peer.py from
    the same init file; returns the exit status."""
    import torch
    import vae_peer
    if a.tied or a.sparsity or a.noise or a.contractive:
        raise SystemExit("--vae runs plain VAEs: drop --tied, --sparsity, --noise and --contractive")
    if (a.optimizers or "adam") != "adam":
        raise SystemExit("--vae trains with adam only (vae_peer.py's optimizer)")
    template = a.spec_template or "784-400X-20v-400X-784s"
    test = vae_peer.read_idx_u8(vae_peer.FASHION_TEST, 256)
    print(f"ae: {os.path.realpath(a.ae)}; torch {torch.__version__}, {a.threads} threads; "
          f"{x.shape[0]} rows of {a.data}; {a.steps} steps, batch {a.batch}, shuffle off; adam lr {a.lr_adam}; "
          f"VAE {template}, seed {a.seed}; tolerance {TOLERANCE:g}; forward passes of the final file on 256 "
          f"test rows within 1e-5")
    print(f"{'spec':<24} {'loss':<4} {'beta':>4} {'warmup':>6} {'max rel diff':>12}  {'worst tensor':<17} "
          f"{'of update':>9} {'vs f64':>9} {'f32-f64':>9} {'forward':>9}  result")
    failures, rows = 0, 0
    for act in a.acts or "r":
        spec = template.replace("X", act)
        for config in a.vae_configs.split(","):
            loss, beta, *warm = config.split(":")
            warmup = int(warm[0]) if warm else 0
            tag = f"{act}-{loss}-{beta}-{warmup}"
            init = os.path.join(work, f"vae-init-{tag}.safetensors")
            run([a.ae, "train", "--spec", spec, "--loss", loss, "--seed", str(a.seed), "--steps", "0",
                 "--data", a.data, "--max-rows", str(a.batch), "--no-val", "--quiet", "--out", init])
            init_w, _ = read_safetensors(init)
            out = os.path.join(work, f"vae-ae-{tag}.safetensors")
            run([a.ae, "train", "--init", init, "--data", a.data, "--max-rows", str(a.rows), "--no-val",
                 "--steps", str(a.steps), "--batch", str(a.batch), "--shuffle", "off", "--optimizer", "adam",
                 "--lr", repr(a.lr_adam), "--loss", loss, "--beta", beta, "--kl-warmup", str(warmup),
                 "--seed", str(a.seed), "--threads", str(a.threads), "--quiet", "--out", out])
            ae_w, _ = read_safetensors(out)
            peer = {}
            for dtype in ("float32", "float64"):
                model, _ = vae_peer.load(init)
                model = model.to(getattr(torch, dtype))
                vae_peer.train(model, x.astype(dtype), loss, a.lr_adam, steps=a.steps, batch=a.batch,
                               beta=float(beta), warmup=warmup, seed=a.seed, eps="ae")
                peer[dtype] = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
            worst, where, of_update = compare(ae_w, peer["float32"], init_w)
            vs64 = compare(ae_w, peer["float64"], init_w)[0]
            f32_vs_64 = compare(peer["float32"], peer["float64"], init_w)[0]
            checks = vae_peer.forward_checks(a.ae, out, test, 0, work)
            forward = max(vae_peer.rel(got, want) for _, got, want in checks)
            # Passing against float64 alone counts only when the float32 peer is the one that left it.
            result = "ok" if worst <= TOLERANCE else \
                "ok (f64)" if vs64 <= TOLERANCE and f32_vs_64 > TOLERANCE else "FAIL"
            result = result if forward <= 1e-5 else "FAIL"
            failures += result == "FAIL"
            rows += 1
            print(f"{spec:<24} {loss:<4} {beta:>4} {warmup:>6} {worst:12.3e}  {where:<17} {of_update:9.2e} "
                  f"{vs64:9.2e} {f32_vs_64:9.2e} {forward:9.2e}  {result}", flush=True)
    print(f"{rows - failures}/{rows} within {TOLERANCE:g} (max rel diff: max over tensors of ||W_ae - W_torch|| / "
          f"||W_torch||, against the float32 peer; of update: ... / ||W_torch - W_init||; vs f64: ae against the "
          f"peer run in float64; f32-f64: the float32 peer against the float64 one; ok (f64): ae is within the "
          f"tolerance of the float64 peer and the float32 peer is not; forward: the largest ||ae - peer|| / "
          f"||peer|| of encode --with-logvar, decode, reconstruct and score on ae's final file)")
    return 1 if failures else 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ae", default=os.environ.get("AE", os.path.join(here, "..", "..", "build", "ae")),
                   help="the ae binary [default: $AE or build/ae]")
    p.add_argument("--data", default=FASHION)
    p.add_argument("--rows", type=int, default=3200, help="training rows (50 steps × 64 = one epoch)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--acts", help="activation letters to test [default: all; with --vae r]")
    p.add_argument("--losses", default=",".join(LOSSES))
    p.add_argument("--optimizers", help="comma-separated [default: sgd,adam,rmsprop; with --tied sgd,adam]")
    p.add_argument("--tied", action="store_true", help="tied models (the decoder uses the encoder's weights)")
    p.add_argument("--sparsity", help="a code penalty on both sides: l1:LAMBDA or kl:RHO:BETA (kl: a sigmoid code)")
    p.add_argument("--noise", help="denoising on both sides: mask:P, gaussian:S, gaussian:S:clip or saltpepper:P")
    p.add_argument("--contractive", type=float, help="the contractive penalty's weight LAMBDA on both sides")
    p.add_argument("--spec-template", help="the model's compact spec with X for the activation letter "
                   "[default: 784-64X-16-64X-784s; with kl sparsity 784-64X-16s-64X-784s]")
    p.add_argument("--specs", nargs="+", metavar="SPEC",
                   help="whole specs (no X), each run for --losses and --optimizers [default there: sgd,adam]; "
                        "convolutional ones too")
    p.add_argument("--conv", nargs="?", const="e", metavar="LETTERS",
                   help="--specs of the three convolutional models, X each activation letter given [default: e]: "
                        + " ".join(CONV_SPECS))
    p.add_argument("--peer-spread", action="store_true",
                   help="with --specs/--conv: also train the peer with oneDNN off and on 1 thread, and show how far "
                        "PyTorch's own configurations part")
    p.add_argument("--lr-sgd", type=float, default=DEFAULT_LR["sgd"])
    p.add_argument("--lr-adam", type=float, default=DEFAULT_LR["adam"])
    p.add_argument("--lr-rmsprop", type=float, default=DEFAULT_LR["rmsprop"])
    p.add_argument("--keep", help="keep the model files in this directory")
    p.add_argument("--vae", action="store_true", help="variational autoencoders, the runs of --vae-configs (adam)")
    p.add_argument("--vae-configs", default=",".join(VAE_CONFIGS), help="LOSS:BETA[:KL_WARMUP], comma-separated")
    a = p.parse_args()

    for module in ("torch", "numpy"):
        try:
            __import__(module)
        except ImportError as e:
            print(f"SKIPPED: {module} not installed ({e}); install python3-torch and python3-numpy "
                  f"(Debian) to run the parity check, or run it with a Python that has them (a venv: bench/peers/README.md)")
            return 0
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)  # unused (weights come from ae), but keeps any default init quiet and fixed
    if not os.access(a.ae, os.X_OK):
        raise SystemExit(f"{a.ae}: no ae binary; build it (cmake --build build --target ae_cli) or pass --ae")
    lr = {"sgd": a.lr_sgd, "adam": a.lr_adam, "rmsprop": a.lr_rmsprop}
    optimizers = a.optimizers or ("sgd,adam" if a.tied else ",".join(OPTIMIZERS))

    x = read_idx_u8(a.data, a.rows)
    work = a.keep or tempfile.mkdtemp(prefix="ae_parity_")
    os.makedirs(work, exist_ok=True)
    if a.vae:
        return vae_parity(a, x, work)
    if a.conv or a.specs:
        if a.tied or a.sparsity or a.noise or a.contractive or a.spec_template or a.acts:
            raise SystemExit("--specs and --conv take whole specs: drop --tied, --sparsity, --noise, --contractive, "
                             "--spec-template and --acts")
        a.specs = (a.specs or []) + [t.replace("X", act) for act in (a.conv or "") for t in CONV_SPECS]
        return specs_parity(a, x, work, lr, (a.optimizers or "sgd,adam").split(","))
    a.acts = a.acts or "".join(ACTS)
    print(f"ae: {os.path.realpath(a.ae)}; torch {torch.__version__}, {a.threads} threads; "
          f"{x.shape[0]} rows of {a.data}; {a.steps} steps, batch {a.batch}, shuffle off; "
          f"lr sgd {lr['sgd']}, adam {lr['adam']}, rmsprop {lr['rmsprop']}; tolerance {TOLERANCE:g}"
          f"{'; tied weights' if a.tied else ''}{'; sparsity ' + a.sparsity if a.sparsity else ''}"
          f"{'; noise ' + a.noise if a.noise else ''}"
          f"{'; contractive ' + repr(a.contractive) if a.contractive else ''}"
          f"{'; spec ' + a.spec_template if a.spec_template else ''}")
    print(f"{'activation':<11} {'loss':<4} {'opt':<5} {'max rel diff':>12}  {'worst tensor':<17} {'of update':>9}  result")
    failures, rows = 0, []
    for act in a.acts:
        code = "16s" if a.sparsity and a.sparsity.startswith("kl") else "16"
        template = a.spec_template or f"784-64X-{code}-64X-784s"
        spec = template.replace("X", act) + (":tied" if a.tied else "")
        if a.contractive:
            spec += f":contractive={a.contractive!r}"
        if a.noise:  # the compact option: mask:0.3 → :mask=0.3, gaussian:0.2:clip → :gaussian=0.2,clip
            kind, _, rest = a.noise.partition(":")
            spec += f":{kind}={rest.replace(':', ',')}"
        for loss in a.losses.split(","):
            init = os.path.join(work, f"init-{act}-{loss}.safetensors")
            run([a.ae, "train", "--spec", spec, "--loss", loss, "--seed", str(a.seed), "--steps", "0",
                 "--data", a.data, "--max-rows", str(a.batch), "--quiet", "--out", init])
            init_w, _ = read_safetensors(init)
            for opt in optimizers.split(","):
                out = os.path.join(work, f"ae-{act}-{loss}-{opt}.safetensors")
                run([a.ae, "train", "--init", init, "--data", a.data, "--max-rows", str(a.rows),
                     "--steps", str(a.steps), "--batch", str(a.batch), "--shuffle", "off",
                     "--optimizer", opt, "--lr", repr(lr[opt]), "--loss", loss,
                     "--threads", str(a.threads), "--quiet", "--out", out]
                    + (["--sparsity", a.sparsity] if a.sparsity else []))
                ae_w, _ = read_safetensors(out)
                torch_w = torch_train(init, x, loss, opt, lr[opt], a.steps, a.batch, a.sparsity, a.seed)
                worst, where, of_update = compare(ae_w, torch_w, init_w)
                ok = worst <= TOLERANCE
                if a.tied:  # PyTorch's tied forward pass of ae's file reproduces ae's reconstruction
                    recon = os.path.join(work, f"recon-{act}-{loss}-{opt}.npy")
                    sample = os.path.join(work, "sample.npy")
                    import numpy as np
                    np.save(sample, x[:256])
                    run([a.ae, "reconstruct", "--model", out, "--data", sample, "--out", recon])
                    gap = float(np.max(np.abs(np.load(recon) - torch_reconstruct(out, x[:256]))))
                    if gap > 1e-5:
                        print(f"  PyTorch's forward pass of {out} differs from ae reconstruct by {gap:.3g}")
                        ok = False
                failures += not ok
                rows.append((ACT_NAMES[act], loss, opt, worst, where, of_update, ok))
                print(f"{ACT_NAMES[act]:<11} {loss:<4} {opt:<5} {worst:12.3e}  {where:<17} {of_update:9.2e}  "
                      f"{'ok' if ok else 'FAIL'}", flush=True)
    print(f"{len(rows) - failures}/{len(rows)} within {TOLERANCE:g} "
          f"(max rel diff: max over tensors of ||W_ae - W_torch|| / ||W_torch||; "
          f"of update: max over tensors of ||W_ae - W_torch|| / ||W_torch - W_init||)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
