#!/usr/bin/python3
"""Figures of the regularised autoencoders (README, "Regularised autoencoders on Fashion-MNIST"),
from ae's own output files, with numpy only:

  analyse.py codes CODES.npy [--rows 12]
      a code's sparsity: mean activation; per row, the fraction of units above 0.5; per unit, the
      fraction of rows on which it is above 0.5 (its selectivity: ρ-like for a truly sparse code,
      0 for a code that keeps every unit near ρ on every row); and a text picture of a few rows.
  analyse.py jacobian MODEL.safetensors [--data IDX] [--rows N]
      mean ‖∂h/∂x‖_F over the rows (the contractive penalty's quantity, square-rooted), computed
      from the weights in the model file with the analytic Jacobian of the dense encoder.

Run by bench/regularised/figures.sh, which also trains the models.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from parity import read_safetensors, read_idx_u8  # noqa: E402  (the same readers as the parity check)

TEST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
SHADES = " .:-=+*#%@"  # 0 → ' ', 1 → '@'


def codes(a):
    import numpy as np
    c = np.load(a.codes).astype(np.float64)
    active = c > 0.5
    per_row = active.mean(axis=1)
    per_unit = active.mean(axis=0)
    print(f"{a.codes}: {c.shape[0]} rows × {c.shape[1]} units")
    print(f"  mean activation                         {c.mean():.4f}")
    print(f"  units above 0.5 per row (mean fraction) {per_row.mean():.4f} ({per_row.mean() * c.shape[1]:.2f} of {c.shape[1]})")
    print(f"  rows per unit above 0.5 (selectivity)   mean {per_unit.mean():.4f}, min {per_unit.min():.4f}, "
          f"max {per_unit.max():.4f}; {int((per_unit == 0).sum())} units never above 0.5")
    print(f"  activations below 0.1                   {(c < 0.1).mean():.4f} of all")
    print(f"  first {a.rows} rows (one character per unit, ' ' = 0 … '@' = 1):")
    for r in c[:a.rows]:
        print("    |" + "".join(SHADES[min(len(SHADES) - 1, int(v * len(SHADES)))] for v in r) + "|")


def act_and_derivative(name, z):
    import numpy as np
    if name == "linear":
        return z, np.ones_like(z)
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z), np.where(z > 0, 1.0, 0.01)
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s, s * (1 - s)
    if name == "tanh":
        t = np.tanh(z)
        return t, 1 - t * t
    if name == "softplus":
        s = 1 / (1 + np.exp(-z))
        return np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20)))), np.where(z > 20, 1.0, s)
    if name in ("elu", "selu"):
        alpha, scale = (1.0, 1.0) if name == "elu" else (1.6732632423543772, 1.0507009873554805)
        e = np.exp(np.minimum(z, 0))
        return scale * np.where(z > 0, z, alpha * (e - 1)), scale * np.where(z > 0, 1.0, alpha * e)
    if name == "gelu":
        erf = np.vectorize(math.erf)
        cdf = 0.5 * (1 + erf(z / math.sqrt(2)))
        pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return z * cdf, cdf + z * pdf
    raise SystemExit(f"unknown activation {name}")


def jacobian(a):
    import numpy as np
    tensors, meta = read_safetensors(a.model)
    spec = json.loads(meta["ae.spec"])
    x_all = read_idx_u8(a.data, a.rows).astype(np.float64)
    layers, index = [], 0
    for layer in spec["encoder"]:
        w, b = tensors[f"encoder.{index}.weight"].astype(np.float64), tensors[f"encoder.{index}.bias"].astype(np.float64)
        layers.append((w.reshape(layer["units"], -1), b, layer["act"]))
        index += 1 if layer["act"] == "linear" else 2  # nn.Sequential numbering: activations take an index
    norms = []
    for start in range(0, x_all.shape[0], 256):
        h = x_all[start:start + 256]
        jac = None  # [rows, units, input]
        for w, b, act in layers:
            y, d = act_and_derivative(act, h @ w.T + b)
            step = d[:, :, None] * w[None, :, :]
            jac = step if jac is None else np.einsum("bij,bjk->bik", step, jac)
            h = y
        norms.append(np.sqrt((jac ** 2).sum(axis=(1, 2))))
    n = np.concatenate(norms)
    print(f"{a.model}: mean ‖∂h/∂x‖_F over {n.size} rows of {os.path.basename(a.data)}: {n.mean():.4f} "
          f"(median {np.median(n):.4f}); mean ‖J‖²_F {np.mean(n ** 2):.4f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("codes")
    c.add_argument("codes")
    c.add_argument("--rows", type=int, default=12)
    j = sub.add_parser("jacobian")
    j.add_argument("model")
    j.add_argument("--data", default=TEST)
    j.add_argument("--rows", type=int, default=10000)
    a = p.parse_args()
    codes(a) if a.what == "codes" else jacobian(a)


if __name__ == "__main__":
    main()
