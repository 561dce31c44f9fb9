#!/usr/bin/python3
"""A PyTorch peer of ae's adversarial autoencoder (Makhzani et al., 2016): loads an ae AAE model file,
computes the codes, the reconstruction and the discriminator's logits, and trains the three phases of
an ae training step with three torch optimizers on ae's own prior samples, for parity.

The model (spec `784-64r-8-64r-784s:adversarial=8-32r-32r-1`, say) is an nn.Module named like ae's
file tensors: `encoder`, `decoder` and `discriminator`, each an nn.Sequential of nn.Linear and
activation modules (so discriminator.0, .2, .4 for 8-32r-32r-1; the last layer is the linear logit).
One training step t (1-based) on the batch x [B, D], as written from ae's definition (graph/build.cpp
training_phases, runtime/trainer.cpp run_phases), each phase with its own optimizer and state:
  1. reconstruction: loss(decoder(encoder(x)), x), mean over every element (nn.MSELoss; bce from the
     decoder's logits when its output is a sigmoid, as ae computes it); updates encoder + decoder (--lr);
  2. discriminator: d_real + d_fake with d_real = BCEWithLogits(D(p), 1), d_fake = BCEWithLogits(
     D(encoder(x)), 0), the codes detached (from the encoder just updated by phase 1); updates D (--d-lr);
  3. generator: gen = BCEWithLogits(D(encoder(x)), 1), D's parameters not stepped; updates the
     encoder with an optimizer of its own, i.e. Adam moments apart from phase 1's (--g-lr).
The prior samples p [B, N] are ae's (kernels/common/prior.h): element i = r·N + j of step t is
float32(philox_normal_f64(seed, t, purpose 7, i)) (gaussian) or 2·u − 1 with u = (w0 >> 8)·2^-24
(uniform), reproduced here with parity.py's numpy Philox. `ae sample` draws the same at step 0.

Subcommands:
  parity  the parity cases (default: mse gaussian, bce gaussian, bce uniform, and mse gaussian with
          --d-lr/--g-lr apart from --lr): ae and the peer from one `ae train --steps 0` file, shuffling
          off, then the final weights of every tensor (discriminator included) within 1e-4 relative,
          every step's logged terms (recon, d_real, d_fake, gen) against the peer's, and the peer's
          forward passes of ae's final file against `ae encode`, `ae reconstruct` and `ae sample`.
          The peer also trains in float64, as parity.py --vae does: "ok (f64)" when ae is within the
          tolerance of the float64 run and only the float32 peer left it.
  check   the forward checks alone on one model file (codes, reconstruction, decoded prior draws),
          and the discriminator's mean logit on the codes and on prior draws.
  series  one case's max rel diff after each step, ae (one `--steps N` run per N) against the
          float32 and float64 peers: where a divergence starts.

Usage: /usr/bin/python3 bench/peers/aae_peer.py parity [--ae build/ae] [--cases mse:gaussian,bce:uniform:2e-4:5e-4]
       /usr/bin/python3 bench/peers/aae_peer.py check --ae build/ae --model M
       /usr/bin/python3 bench/peers/aae_peer.py series --case bce:gaussian [--at 1,2,5,10,20,50]
A case is LOSS:PRIOR[:D_LR:G_LR]. Exit status 0 when every case passes, 1 otherwise; without torch
"SKIPPED", exit 0.
"""
import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import FASHION, compare, philox_words, read_idx_u8, read_safetensors, run, torch_module  # noqa: E402

FASHION_TEST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
PRIOR = 7  # PhiloxPurpose::prior
ACT_LETTERS = {"l": "linear", "r": "relu", "k": "leaky_relu", "s": "sigmoid", "t": "tanh", "u": "selu", "e": "elu",
               "p": "softplus", "g": "gelu"}
CASES = ["mse:gaussian", "bce:gaussian", "bce:uniform", "mse:gaussian:2e-4:3e-3"]
SPEC = "784-64r-8-64r-784s"
DISCRIMINATOR = "8-32r-32r-1"
TOLERANCE = 1e-4
FORWARD_TOLERANCE = 1e-5


def prior_samples(kind, seed, step, rows, n):
    """ae's prior draws [rows, n] float32 at Philox step `step` (kernels/common/prior.h)."""
    import numpy as np
    w0, w1 = philox_words(seed, step, PRIOR, np.arange(rows * n, dtype=np.uint64))
    if kind == "uniform":  # 2·u − 1 with u's 24 bits: exact in float32 and in double
        u = (w0 >> np.uint64(8)).astype(np.float64) * (1.0 / 16777216.0)
        return (2.0 * u - 1.0).astype(np.float32).reshape(rows, n)
    u1 = (w0.astype(np.float64) + 1.0) * (1.0 / 4294967296.0)
    u2 = w1.astype(np.float64) * (1.0 / 4294967296.0)
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586476925 * u2)
    return z.astype(np.float32).reshape(rows, n)


def discriminator_layers(text):
    """[(units, activation name)] of a DSPEC such as 8-32r-32r-1 (the first number is its input, the
    code width; a layer without a letter is linear)."""
    layers = []
    for token in text.split("-")[1:]:
        act = ACT_LETTERS[token[-1]] if token[-1].isalpha() else "linear"
        layers.append((int(token.rstrip("".join(ACT_LETTERS))), act))
    return layers


def build(spec):
    """The AAE of an ae spec (a dict, ae.spec's JSON): .encoder, .decoder, .discriminator."""
    import torch.nn as nn
    if "adversarial" not in spec:
        raise SystemExit(f"spec {spec}: no 'adversarial' discriminator; not an adversarial autoencoder")
    if spec.get("tied") or spec.get("noise") or spec.get("sparsity") or spec.get("contractive"):
        raise SystemExit("aae_peer.py covers plain adversarial autoencoders: no tied weights, noise or penalties")

    def seq(width, layers):
        mods = []
        for units, act in layers:
            mods.append(nn.Linear(width, units))
            if act != "linear":
                mods.append(torch_module(act))
            width = units
        return nn.Sequential(*mods), width

    m = nn.Module()
    m.encoder, code = seq(spec["input"], [(l["units"], l["act"]) for l in spec["encoder"]])
    m.decoder, _ = seq(code, [(l["units"], l["act"]) for l in spec["decoder"]])
    m.discriminator, _ = seq(code, discriminator_layers(spec["adversarial"]["discriminator"]))
    m.code_units = code
    m.prior = spec["adversarial"]["prior"]
    return m


def load(path):
    """(model, metadata) of an ae AAE model file; float32 weights, strict names."""
    import torch
    tensors, meta = read_safetensors(path)
    model = build(json.loads(meta["ae.spec"]))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return model, meta


def recon_loss(model, xb, loss):
    """Phase 1's objective, mean over every element; bce from the decoder's logits when its output
    layer is a sigmoid (ae's bce+logits), else on the output itself."""
    import torch.nn as nn
    import torch.nn.functional as F
    h = model.encoder(xb)
    if loss == "bce" and isinstance(model.decoder[-1], nn.Sigmoid):
        return F.binary_cross_entropy_with_logits(model.decoder[:-1](h), xb)
    out = model.decoder(h)
    return F.mse_loss(out, xb) if loss == "mse" else F.binary_cross_entropy(out, xb)


def bce_logits(logits, target):
    import torch
    import torch.nn.functional as F
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def train(model, x, loss, opt, lr, d_lr, g_lr, steps, batch, seed, on_step=None):
    """ae's three phases per step on the rows x (numpy [R, D], in the model's dtype), batches in
    file order (shuffling off); modifies model in place. Returns each step's terms
    [{"recon", "d_real", "d_fake", "gen"}]; on_step(t, model) runs after step t."""
    import torch
    make = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}[opt]
    enc, dec, dis = (list(s.parameters()) for s in (model.encoder, model.decoder, model.discriminator))
    opt_ae, opt_d, opt_g = make(enc + dec, lr=lr), make(dis, lr=d_lr), make(enc, lr=g_lr)
    xt = torch.from_numpy(x)
    per_epoch = (x.shape[0] + batch - 1) // batch
    history = []
    for s in range(steps):
        t, b = s + 1, s % per_epoch
        xb = xt[b * batch:(b + 1) * batch]
        # 1. reconstruction: encoder and decoder
        opt_ae.zero_grad()
        recon = recon_loss(model, xb, loss)
        recon.backward()
        opt_ae.step()
        # 2. discriminator on prior samples (real) and the updated encoder's codes (fake)
        p = torch.from_numpy(prior_samples(model.prior, seed, t, xb.shape[0], model.code_units)).to(xt.dtype)
        opt_d.zero_grad()
        with torch.no_grad():
            h = model.encoder(xb)
        d_real, d_fake = bce_logits(model.discriminator(p), 1.0), bce_logits(model.discriminator(h), 0.0)
        (d_real + d_fake).backward()
        opt_d.step()
        # 3. generator: the encoder against the updated discriminator, its own optimizer state
        opt_g.zero_grad()
        for q in dis:
            q.requires_grad_(False)
        gen = bce_logits(model.discriminator(model.encoder(xb)), 1.0)
        gen.backward()
        opt_g.step()
        for q in dis:
            q.requires_grad_(True)
        history.append({"recon": recon.item(), "d_real": d_real.item(), "d_fake": d_fake.item(), "gen": gen.item()})
        if on_step:
            on_step(t, model)
    return history


def weights(model):
    return {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items()}


def rel(a, b):
    """‖a − b‖ / ‖b‖ in float64 over the whole array."""
    import numpy as np
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def forward_checks(ae, model_path, x, work, sample_seed=3, sample_rows=64):
    """[(what, ae's output, the peer's)] on rows x: `ae encode` (the codes), `ae reconstruct`, and
    `ae sample` (decoded prior draws at step 0, against the peer's decoder on its numpy draws).
    Also the discriminator's logits, which ae has no command for: (mean on the codes, mean on prior
    draws), for the report."""
    import numpy as np
    import torch
    model, _ = load(model_path)
    data = os.path.join(work, "x.npy")
    np.save(data, x)
    run([ae, "encode", "--model", model_path, "--data", data, "--quiet", "--out", f"{work}/codes.npy"])
    run([ae, "reconstruct", "--model", model_path, "--data", data, "--quiet", "--out", f"{work}/rec.npy"])
    run([ae, "sample", "--model", model_path, "--n", str(sample_rows), "--seed", str(sample_seed), "--quiet",
         "--out", f"{work}/sample.npy"])
    p = torch.from_numpy(prior_samples(model.prior, sample_seed, 0, sample_rows, model.code_units))
    with torch.no_grad():
        h = model.encoder(torch.from_numpy(x))
        checks = [("encode (codes)", np.load(f"{work}/codes.npy"), h.numpy()),
                  ("reconstruct", np.load(f"{work}/rec.npy"), model.decoder(h).numpy()),
                  (f"sample --seed {sample_seed} (decoded prior draws)", np.load(f"{work}/sample.npy"),
                   model.decoder(p).numpy())]
        logits = (float(model.discriminator(h).mean()), float(model.discriminator(p).mean()))
    return checks, logits


def ae_train_args(a, init, out, case, steps, log=None):
    loss, prior, d_lr, g_lr = case
    args = [a.ae, "train", "--init", init, "--data", a.data, "--max-rows", str(a.rows), "--no-val", "--steps", str(steps),
            "--batch", str(a.batch), "--shuffle", "off", "--optimizer", a.optimizer, "--lr", repr(a.lr), "--loss", loss,
            "--seed", str(a.seed), "--threads", str(a.threads), "--checkpoint", "none", "--quiet", "--out", out]
    if d_lr is not None:
        args += ["--d-lr", repr(d_lr), "--g-lr", repr(g_lr)]
    if log:
        args += ["--log-every", "1", "--log-json", log]
    return args


def parse_case(text):
    """LOSS:PRIOR[:D_LR:G_LR] → (loss, prior, d_lr or None, g_lr or None)."""
    f = text.split(":")
    if len(f) not in (2, 4) or f[0] not in ("mse", "bce") or f[1] not in ("gaussian", "uniform"):
        raise SystemExit(f"case {text!r}: expected LOSS:PRIOR[:D_LR:G_LR], e.g. bce:uniform or mse:gaussian:2e-4:3e-3")
    return f[0], f[1], float(f[2]) if len(f) == 4 else None, float(f[3]) if len(f) == 4 else None


def make_init(a, case, work, tag):
    init = os.path.join(work, f"init-{tag}.safetensors")
    run([a.ae, "train", "--spec", a.spec, "--adversarial", a.discriminator, "--prior", case[1], "--loss", case[0],
         "--seed", str(a.seed), "--steps", "0", "--data", a.data, "--max-rows", str(a.batch), "--no-val",
         "--checkpoint", "none", "--quiet", "--out", init])
    return init


def peer_runs(a, init, x, case, on_step=None):
    """{dtype: (final weights, per-step terms)} of the peer from `init`, float32 and float64."""
    import torch
    loss, _, d_lr, g_lr = case
    out = {}
    for dtype in ("float32", "float64"):
        model, _ = load(init)
        model = model.to(getattr(torch, dtype))
        hook = (lambda t, m, d=dtype: on_step(d, t, m)) if on_step else None
        terms = train(model, x.astype(dtype), loss, a.optimizer, a.lr, d_lr if d_lr is not None else a.lr,
                      g_lr if g_lr is not None else a.lr, a.steps, a.batch, a.seed, hook)
        out[dtype] = (weights(model), terms)
    return out


def terms_gap(log_path, terms):
    """(max over steps and terms of |ae − peer| / |peer| at step 1, and over all steps) of the logged terms."""
    lines = [json.loads(l) for l in open(log_path) if l.strip()]
    if len(lines) != len(terms):
        raise SystemExit(f"{log_path}: {len(lines)} log lines for {len(terms)} steps")
    gaps = [max(abs(l["terms"][k] - t[k]) / abs(t[k]) for k in t) for l, t in zip(lines, terms)]
    return gaps[0], max(gaps)


def cmd_parity(a):
    import torch
    x = read_idx_u8(a.data, a.rows)
    test = read_idx_u8(FASHION_TEST, 256)
    work = a.keep or tempfile.mkdtemp(prefix="ae_aae_parity_")
    os.makedirs(work, exist_ok=True)
    print(f"ae: {os.path.realpath(a.ae)}; torch {torch.__version__}, {a.threads} threads; {x.shape[0]} rows of "
          f"{a.data}; {a.steps} steps, batch {a.batch}, shuffle off; {a.optimizer} lr {a.lr}; "
          f"{a.spec}:adversarial={a.discriminator}, seed {a.seed}; tolerance {TOLERANCE:g}; forward passes of the final "
          f"file on 256 test rows within {FORWARD_TOLERANCE:g}")
    print(f"{'loss':<4} {'prior':<8} {'d-lr':>6} {'g-lr':>6} {'max rel diff':>12}  {'worst tensor':<22} {'of update':>9} "
          f"{'vs f64':>9} {'f32-f64':>9} {'terms@1':>9} {'terms':>9} {'forward':>9}  result")
    failures = 0
    for i, text in enumerate(a.cases.split(",")):
        case = parse_case(text)
        tag = text.replace(":", "-")
        init = make_init(a, case, work, tag)
        init_w, _ = read_safetensors(init)
        out, log = os.path.join(work, f"ae-{tag}.safetensors"), os.path.join(work, f"log-{tag}.jsonl")
        if os.path.exists(log):
            os.remove(log)
        run(ae_train_args(a, init, out, case, a.steps, log))
        ae_w, _ = read_safetensors(out)
        peer = peer_runs(a, init, x, case)
        worst, where, of_update = compare(ae_w, peer["float32"][0], init_w)
        vs64 = compare(ae_w, peer["float64"][0], init_w)[0]
        f32_vs_64 = compare(peer["float32"][0], peer["float64"][0], init_w)[0]
        at1, terms = terms_gap(log, peer["float32"][1])
        checks, _ = forward_checks(a.ae, out, test, work)
        forward = max(rel(got, want) for _, got, want in checks)
        # Passing against float64 alone counts only when the float32 peer is the one that left it.
        result = "ok" if worst <= TOLERANCE else \
            "ok (f64)" if vs64 <= TOLERANCE and f32_vs_64 > TOLERANCE else "FAIL"
        result = result if forward <= FORWARD_TOLERANCE else "FAIL"
        failures += result == "FAIL"
        rates = (f"{case[2]:6g} {case[3]:6g}" if case[2] is not None else f"{'=lr':>6} {'=lr':>6}")
        print(f"{case[0]:<4} {case[1]:<8} {rates} {worst:12.3e}  {where:<22} {of_update:9.2e} {vs64:9.2e} "
              f"{f32_vs_64:9.2e} {at1:9.2e} {terms:9.2e} {forward:9.2e}  {result}", flush=True)
    n = len(a.cases.split(","))
    print(f"{n - failures}/{n} within {TOLERANCE:g} (max rel diff: max over tensors, discriminator included, of "
          f"||W_ae - W_torch|| / ||W_torch|| against the float32 peer; of update: ... / ||W_torch - W_init||; vs f64: ae "
          f"against the peer run in float64; f32-f64: the float32 peer against the float64 one; terms@1 / terms: the "
          f"largest |ae - peer| / |peer| of the logged recon, d_real, d_fake and gen at step 1 / over every step; "
          f"forward: the largest ||ae - peer|| / ||peer|| of encode, reconstruct and sample on ae's final file)")
    return 1 if failures else 0


def cmd_series(a):
    """Max rel diff after each step of --at: ae's `--steps N` file against the peers' weights after N steps."""
    x = read_idx_u8(a.data, a.rows)
    case = parse_case(a.case)
    work = a.keep or tempfile.mkdtemp(prefix="ae_aae_series_")
    os.makedirs(work, exist_ok=True)
    init = make_init(a, case, work, "series")
    init_w, _ = read_safetensors(init)
    at = sorted(int(v) for v in a.at.split(","))
    a.steps = at[-1]
    snaps = {}
    peer_runs(a, init, x, case, on_step=lambda d, t, m: snaps.__setitem__((d, t), weights(m)) if t in at else None)
    print(f"case {a.case}: max rel diff after N steps (worst tensor), ae's --steps N file")
    print(f"{'N':>4} {'ae-f32':>9}  {'worst tensor':<22} {'ae-f64':>9} {'f32-f64':>9}")
    for n in at:
        out = os.path.join(work, f"ae-{n}.safetensors")
        run(ae_train_args(a, init, out, case, n))
        ae_w, _ = read_safetensors(out)
        w, where, _ = compare(ae_w, snaps[("float32", n)], init_w)
        print(f"{n:4d} {w:9.2e}  {where:<22} {compare(ae_w, snaps[('float64', n)], init_w)[0]:9.2e} "
              f"{compare(snaps[('float32', n)], snaps[('float64', n)], init_w)[0]:9.2e}", flush=True)
    return 0


def cmd_check(a):
    _, meta = load(a.model)
    x = read_idx_u8(a.data, a.rows)
    checks, logits = forward_checks(a.ae, a.model, x, tempfile.mkdtemp(prefix="ae_aae_check_"))
    print(f"{a.model} ({meta['ae.spec_compact']}); {x.shape[0]} rows of {a.data}; tolerance {FORWARD_TOLERANCE:g} "
          f"on ||ae - peer|| / ||peer||")
    failures = 0
    for name, got, want in checks:
        r = rel(got, want)
        failures += r > FORWARD_TOLERANCE
        print(f"  {name:<40} rel {r:9.2e}  {'ok' if r <= FORWARD_TOLERANCE else 'FAIL'}")
    print(f"  discriminator: mean logit {logits[0]:.4f} on the codes, {logits[1]:.4f} on prior draws")
    return 1 if failures else 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    ae = os.environ.get("AE", os.path.join(here, "..", "..", "build", "ae"))
    for name, what in (("parity", "ae against the peer on the parity cases"),
                       ("series", "one case's divergence step by step")):
        s = sub.add_parser(name, help=what)
        s.add_argument("--ae", default=ae)
        s.add_argument("--data", default=FASHION)
        s.add_argument("--rows", type=int, default=3200, help="training rows (50 steps × 64 = one epoch)")
        s.add_argument("--steps", type=int, default=50)
        s.add_argument("--batch", type=int, default=64)
        s.add_argument("--threads", type=int, default=2)
        s.add_argument("--seed", type=int, default=1)
        s.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
        s.add_argument("--lr", type=float, default=1e-3)
        s.add_argument("--spec", default=SPEC)
        s.add_argument("--discriminator", default=DISCRIMINATOR)
        s.add_argument("--keep", help="keep the model files in this directory")
        if name == "parity":
            s.add_argument("--cases", default=",".join(CASES), help="LOSS:PRIOR[:D_LR:G_LR], comma-separated")
        else:
            s.add_argument("--case", required=True, help="LOSS:PRIOR[:D_LR:G_LR]")
            s.add_argument("--at", default="1,2,3,5,10,20,30,40,50", help="steps to compare after")
    c = sub.add_parser("check", help="the peer's forward passes of one model file against ae's")
    c.add_argument("--ae", default=ae)
    c.add_argument("--model", required=True)
    c.add_argument("--data", default=FASHION_TEST)
    c.add_argument("--rows", type=int, default=256)
    a = p.parse_args()
    try:
        import numpy  # noqa: F401
        import torch
    except ImportError as e:
        print(f"SKIPPED: {e}; install python3-torch and python3-numpy (Debian)")
        return 0
    torch.set_num_threads(getattr(a, "threads", 2))
    if not os.access(a.ae, os.X_OK):
        raise SystemExit(f"{a.ae}: no ae binary; build it (cmake --build --preset default --target ae) or pass --ae")
    return {"parity": cmd_parity, "check": cmd_check, "series": cmd_series}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
