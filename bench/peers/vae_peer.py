#!/usr/bin/python3
"""A PyTorch peer of ae's variational autoencoder: loads an ae VAE model file, computes μ, log σ²,
the decoder's output, the negative ELBO and the importance-weighted bound, and trains with ae's
objective, either on ae's own Philox ε (for parity) or on its own torch.randn ε (for the recipe).

The model (spec `784-400r-20v-400r-784s`, say) is an nn.Module named like ae's file tensors:
`encoder` (the dense layers before the code, nn.Sequential of nn.Linear and activations, so
encoder.0, encoder.2, ...), the two linear heads `mu` and `logvar` (ae's one [2N, K] head GEMM,
stored as two tensors), and `decoder` (decoder.0, decoder.2, ...). z = μ + exp(½ logvar)·ε, as in
PyTorch's VAE example. The objective of a step is ae's:
    (1/B) Σ_b [ Σ_features loss(y_b, x_b) + β_t · KL_b ],  KL_b = −½ Σ_j (1 + lv − μ² − e^lv),
bce by nn.functional.binary_cross_entropy on the sigmoid output (ae computes it from the logits:
the same function), mse the squared error summed over the features; β_t = β·min(1, (t−1)/N) under
a KL warm-up of N steps (t the 1-based step). PyTorch's example sums over the batch instead of
averaging; under Adam that changes only how much its eps (1e-8) weighs, and the last, shorter batch.

ae's ε (kernels/common/vae.h): element (row r, unit j) of a code of N units at Philox step t is
float32(philox_normal_f64(seed, t, purpose 5, r·N + j)); training uses the batch-local row and the
1-based training step, scoring the data row and step 2^55 + k (sample k; the ELBO's one z is k = 0).

Subcommands (parity.py --vae imports train() and forward_checks(); vae_recipe.sh runs train and score):
  check   compare with `ae encode --with-logvar`, `ae decode --codes`, `ae reconstruct` and
          `ae score` (negative ELBO, --iw K) on the first rows of a data file
  train   train from an ae model file (the 10-epoch recipe: shuffled, torch.randn ε) and write the
          result as an ae model file that `ae score` reads
  score   the negative ELBO (one z per row) and the IW-K bound of a model file, ε from torch or ae

Usage: /usr/bin/python3 bench/peers/vae_peer.py check --ae build/ae --model M [--rows 256]
       /usr/bin/python3 bench/peers/vae_peer.py train --init I --out O [--epochs 10 --batch 128 --lr 1e-3]
       /usr/bin/python3 bench/peers/vae_peer.py score --model M [--iw 100] [--eps torch|ae]
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parity import FASHION, philox_words, read_idx_u8, read_safetensors, torch_module  # noqa: E402

FASHION_TEST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
VAE_NOISE = 5             # PhiloxPurpose::vae_noise
VAE_SCORE_STEP = 1 << 55  # kernels/common/vae.h: scoring's Philox steps start here


def ae_eps(seed, step, rows, n, row_offset=0):
    """ae's ε [rows, n] float32 at Philox step `step` for data rows row_offset .. row_offset+rows-1
    (philox.h philox_normal_f64 in double, then rounded to float32, as vae_eps)."""
    import numpy as np
    index = (np.arange(rows, dtype=np.uint64)[:, None] + np.uint64(row_offset)) * np.uint64(n) \
        + np.arange(n, dtype=np.uint64)[None, :]
    w0, w1 = philox_words(seed, step, VAE_NOISE, index.reshape(-1))
    u1 = (w0.astype(np.float64) + 1.0) * (1.0 / 4294967296.0)
    u2 = w1.astype(np.float64) * (1.0 / 4294967296.0)
    eps = np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586476925 * u2)
    return eps.astype(np.float32).reshape(rows, n)


def build(spec):
    """The VAE of an ae spec (a dict, ae.spec's JSON): .encoder, .mu, .logvar, .decoder."""
    import torch
    import torch.nn as nn

    enc = spec["encoder"]
    if not enc or not enc[-1].get("variational"):
        raise SystemExit(f"spec {spec}: the last encoder layer is not variational ('v'); not a VAE")
    if spec.get("tied") or spec.get("noise") or spec.get("sparsity") or spec.get("contractive"):
        raise SystemExit("vae_peer.py covers plain VAEs: no tied weights, noise or penalties")

    def seq(width, layers):
        mods = []
        for layer in layers:
            mods.append(nn.Linear(width, layer["units"]))
            if layer["act"] != "linear":
                mods.append(torch_module(layer["act"]))
            width = layer["units"]
        return nn.Sequential(*mods), width

    class Vae(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, width = seq(spec["input"], enc[:-1])
            n = enc[-1]["units"]
            self.mu = nn.Linear(width, n)
            self.logvar = nn.Linear(width, n)
            self.decoder, _ = seq(n, spec["decoder"])
            self.code_units = n

        def encode(self, x):
            h = self.encoder(x)
            return self.mu(h), self.logvar(h)

        def decode(self, z):
            return self.decoder(z)

        def forward(self, x, eps):
            """(decoder output, μ, log σ², z) for noise eps [B, N]."""
            mu, logvar = self.encode(x)
            z = mu + eps * torch.exp(0.5 * logvar)
            return self.decode(z), mu, logvar, z

    return Vae()


def load(path):
    """(model, metadata) of an ae VAE model file; float32 weights, strict names."""
    import torch
    tensors, meta = read_safetensors(path)
    model = build(json.loads(meta["ae.spec"]))
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    return model, meta


def save(model, meta, path):
    """An ae model file (safetensors, F32, ae's metadata as given) holding the model's weights."""
    import numpy as np
    tensors = {k: v.detach().numpy().astype("<f4") for k, v in model.state_dict().items()}
    header, offset = {}, 0
    for k, v in tensors.items():
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + v.nbytes]}
        offset += v.nbytes
    header["__metadata__"] = meta
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for v in tensors.values():
            f.write(np.ascontiguousarray(v).tobytes())


def recon_rows(out, x, loss):
    """−log p(x|z) per row as ae's VAE loss: the feature sum of bce or of the squared error."""
    import torch.nn.functional as F
    if loss == "bce":
        return F.binary_cross_entropy(out, x, reduction="none").sum(dim=1)
    return ((out - x) ** 2).sum(dim=1)


def kl_rows(mu, logvar):
    """KL(N(μ, σ²) ‖ N(0, I)) per row, the closed form of PyTorch's VAE example."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def beta_at(beta, warmup, t):
    """β at 1-based step t under a warm-up of `warmup` steps (ae's ramp_weight)."""
    return beta if warmup <= 0 else beta * min(1.0, (t - 1) / warmup)


def train(model, x, loss, lr, steps=None, epochs=None, batch=64, beta=1.0, warmup=0, seed=1, eps="ae",
          shuffle=False, generator=None, log=None):
    """Adam on ae's objective over the float32 rows x (numpy [R, D]); modifies model in place.
    eps="ae": ae's Philox ε (batch-local rows, 1-based step t); "torch": torch.randn from
    `generator`, which also shuffles each epoch when shuffle is on. Returns the mean objective of
    the last epoch (or of all steps)."""
    import torch
    xt = torch.from_numpy(x)
    rows = x.shape[0]
    per_epoch = (rows + batch - 1) // batch
    total = steps if steps is not None else epochs * per_epoch
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order, sums = None, [0.0, 0]
    for s in range(total):
        epoch, b = divmod(s, per_epoch)
        if b == 0:
            order = torch.randperm(rows, generator=generator) if shuffle else None
            sums = [0.0, 0]
        idx = slice(b * batch, min((b + 1) * batch, rows))
        xb = xt[order[idx]] if order is not None else xt[idx]
        n = xb.shape[0]
        if eps == "ae":
            e = torch.from_numpy(ae_eps(seed, s + 1, n, model.code_units))
        else:
            e = torch.randn(n, model.code_units, generator=generator)
        opt.zero_grad()
        out, mu, logvar, _ = model(xb, e)
        objective = recon_rows(out, xb, loss).mean() + beta_at(beta, warmup, s + 1) * kl_rows(mu, logvar).mean()
        objective.backward()
        opt.step()
        sums[0] += objective.item() * n
        sums[1] += n
        if log and b == per_epoch - 1:
            log(epoch + 1, sums[0] / sums[1])
    return sums[0] / max(sums[1], 1)


def score(model, x, loss, iw=0, eps="torch", seed=1, batch=1000, generator=None):
    """Per-row (negative ELBO, IW-iw bound or None) as float64 numpy arrays. The ELBO uses one
    z per row and the closed-form KL; the bound is −log (1/K) Σ_k p(x, z_k) / q(z_k|x), the
    densities from torch.distributions.Normal (independent of ae's closed form). eps="ae" draws
    ae's scoring ε (data row, step 2^55 + k), so `ae score` on the same file must agree."""
    import numpy as np
    import torch
    from torch.distributions import Normal
    n_rows, n = x.shape[0], model.code_units
    elbo, bound = np.empty(n_rows), (np.empty(n_rows) if iw else None)

    def draw(k, r0, rows):
        if eps == "ae":
            return torch.from_numpy(ae_eps(seed, VAE_SCORE_STEP + k, rows, n, r0))
        return torch.randn(rows, n, generator=generator)

    with torch.no_grad():
        for r0 in range(0, n_rows, batch):
            xb = torch.from_numpy(x[r0:r0 + batch])
            rows = xb.shape[0]
            mu, logvar = model.encode(xb)
            std = torch.exp(0.5 * logvar)
            z = mu + draw(0, r0, rows) * std
            elbo[r0:r0 + rows] = (recon_rows(model.decode(z), xb, loss) + kl_rows(mu, logvar)).double().numpy()
            if not iw:
                continue
            q, prior = Normal(mu.double(), std.double()), Normal(0.0, 1.0)
            log_w = torch.empty(iw, rows, dtype=torch.float64)
            for k in range(iw):
                z = mu + draw(k, r0, rows) * std
                log_pxz = -recon_rows(model.decode(z), xb, loss).double()
                zd = z.double()
                log_w[k] = log_pxz + prior.log_prob(zd).sum(dim=1) - q.log_prob(zd).sum(dim=1)
            bound[r0:r0 + rows] = -(torch.logsumexp(log_w, dim=0) - math.log(iw)).numpy()
    return elbo, bound


def blas_loaded():
    """The BLAS shared object this process mapped (torch's GEMMs), from /proc/self/maps."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line}
    return ", ".join(sorted(libs)) or "none mapped"


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr}")
    return r.stdout + r.stderr


def rel(a, b):
    """‖a − b‖ / ‖b‖ in float64 over the whole array."""
    import numpy as np
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def read_scores(path):
    import numpy as np
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=1, dtype=np.float64)


def forward_checks(ae, model_path, x, iw, work):
    """[(what, ae's output, the peer's)] for one model file on rows x: encode --with-logvar (μ and
    log σ²), decode --codes (N(0, 1) codes), reconstruct (decodes μ), score (negative ELBO) and,
    with iw > 0, score --iw; the peer draws ae's scoring ε for the last two."""
    import numpy as np
    import torch
    model, meta = load(model_path)
    loss, seed, n = meta["ae.loss"], json.loads(meta["ae.rng"])["seed"], model.code_units
    data = os.path.join(work, "x.npy")
    np.save(data, x)
    codes = np.random.default_rng(0).standard_normal((x.shape[0], n)).astype(np.float32)
    np.save(f"{work}/codes.npy", codes)
    run([ae, "encode", "--model", model_path, "--data", data, "--with-logvar", "--quiet", "--out", f"{work}/ml.npy"])
    run([ae, "decode", "--model", model_path, "--codes", f"{work}/codes.npy", "--quiet", "--out", f"{work}/dec.npy"])
    run([ae, "reconstruct", "--model", model_path, "--data", data, "--quiet", "--out", f"{work}/rec.npy"])
    run([ae, "score", "--model", model_path, "--data", data, "--quiet", "--out", f"{work}/s.csv"])
    ml = np.load(f"{work}/ml.npy")
    with torch.no_grad():
        mu, logvar = model.encode(torch.from_numpy(x))
        checks = [("encode --with-logvar: mu", ml[:, :n], mu.numpy()),
                  ("encode --with-logvar: logvar", ml[:, n:], logvar.numpy()),
                  ("decode --codes (N(0,1) codes)", np.load(f"{work}/dec.npy"), model.decode(torch.from_numpy(codes)).numpy()),
                  ("reconstruct (decodes mu)", np.load(f"{work}/rec.npy"), model.decode(mu).numpy())]
    elbo, bound = score(model, x, loss, iw=iw, eps="ae", seed=seed)
    checks.append(("score: negative ELBO per row (ae's eps)", read_scores(f"{work}/s.csv"), elbo))
    if iw:
        run([ae, "score", "--model", model_path, "--data", data, "--iw", str(iw), "--quiet", "--out", f"{work}/iw.csv"])
        checks.append((f"score --iw {iw} per row (ae's eps)", read_scores(f"{work}/iw.csv"), bound))
    return checks


def max_gap(got, want):
    """max |got − want| / max |want|: the worst element against the output's scale."""
    import numpy as np
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


def cmd_check(a):
    """The peer's forward passes of ae's file against ae's own, row by row."""
    _, meta = load(a.model)
    x = read_idx_u8(a.data, a.rows)
    checks = forward_checks(a.ae, a.model, x, a.iw, tempfile.mkdtemp(prefix="ae_vae_check_"))
    print(f"{a.model} ({meta['ae.spec_compact']}, loss {meta['ae.loss']}, seed {json.loads(meta['ae.rng'])['seed']}); "
          f"{x.shape[0]} rows of {a.data}; tolerance {a.tolerance:g} on ||ae - peer|| / ||peer||")
    failures = 0
    for name, got, want in checks:
        r = rel(got, want)
        ok = r <= a.tolerance
        failures += not ok
        print(f"  {name:<42} rel {r:9.2e}  max |d|/max|ref| {max_gap(got, want):9.2e}  {'ok' if ok else 'FAIL'}")
    return 1 if failures else 0


def cmd_train(a):
    import torch
    torch.set_num_threads(a.threads)
    model, meta = load(a.init)
    spec = json.loads(meta["ae.spec"])
    beta = a.beta if a.beta is not None else spec.get("beta", 1.0)
    x = read_idx_u8(a.data, a.max_rows or 10 ** 9)
    g = torch.Generator().manual_seed(a.seed)
    print(f"peer: {meta['ae.spec_compact']} from {a.init}, loss {a.loss}, adam lr {a.lr}, batch {a.batch}, "
          f"{a.epochs} epochs of {x.shape[0]} rows, beta {beta}, shuffle on, eps torch.randn (seed {a.seed}), "
          f"torch {torch.__version__}, {a.threads} threads, BLAS {blas_loaded()}", flush=True)
    t0 = time.time()
    train(model, x, a.loss, a.lr, epochs=a.epochs, batch=a.batch, beta=beta, warmup=a.kl_warmup, eps="torch",
          shuffle=True, generator=g,
          log=lambda e, l: print(f"  epoch {e}: mean objective {l:.4f} ({time.time() - t0:.0f} s)", flush=True))
    print(f"peer trained in {time.time() - t0:.1f} s", flush=True)
    meta = dict(meta, **{"ae.loss": a.loss})
    save(model, meta, a.out)
    print(f"model written to {a.out}")
    return 0


def cmd_score(a):
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    model, meta = load(a.model)
    seed = json.loads(meta["ae.rng"])["seed"]
    x = read_idx_u8(a.data, a.max_rows or 10 ** 9)
    t0 = time.time()
    elbo, bound = score(model, x, meta["ae.loss"], iw=a.iw, eps=a.eps, seed=seed,
                        generator=torch.Generator().manual_seed(a.seed))
    res = {"model": a.model, "rows": int(x.shape[0]), "eps": a.eps, "neg_elbo": float(np.mean(elbo))}
    if a.iw:
        res[f"iw{a.iw}"] = float(np.mean(bound))
    res["seconds"] = round(time.time() - t0, 1)
    print(json.dumps(res))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    here = os.path.dirname(os.path.abspath(__file__))
    c = sub.add_parser("check", help="compare the peer's forward passes with ae's on one model file")
    c.add_argument("--ae", default=os.environ.get("AE", os.path.join(here, "..", "..", "build", "ae")))
    c.add_argument("--model", required=True)
    c.add_argument("--data", default=FASHION_TEST)
    c.add_argument("--rows", type=int, default=256)
    c.add_argument("--iw", type=int, default=10, help="also compare score --iw K (0: skip)")
    c.add_argument("--tolerance", type=float, default=1e-5)
    t = sub.add_parser("train", help="train an ae model file in PyTorch (shuffled, torch.randn eps)")
    t.add_argument("--init", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--data", default=FASHION)
    t.add_argument("--max-rows", type=int)
    t.add_argument("--loss", default="bce")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--beta", type=float, help="[default: the spec's, 1]")
    t.add_argument("--kl-warmup", type=int, default=0)
    t.add_argument("--seed", type=int, default=1, help="torch.Generator seed (shuffling and eps)")
    t.add_argument("--threads", type=int, default=2)
    s = sub.add_parser("score", help="negative ELBO and IW bound of a model file")
    s.add_argument("--model", required=True)
    s.add_argument("--data", default=FASHION_TEST)
    s.add_argument("--max-rows", type=int)
    s.add_argument("--iw", type=int, default=0)
    s.add_argument("--eps", choices=["torch", "ae"], default="torch")
    s.add_argument("--seed", type=int, default=2, help="torch.Generator seed (eps torch)")
    s.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"SKIPPED: {e}; install python3-torch and python3-numpy (Debian)")
        return 0
    return {"check": cmd_check, "train": cmd_train, "score": cmd_score}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
