#!/usr/bin/python3
"""How near a set of codes [rows, N] (`ae encode` output, .npy) is to a prior: the mean vector's
norm, the per-unit means and standard deviations, the covariance's distance to the prior's, and the
KL of the Gaussian with the codes' first two moments to the prior's moment-matched Gaussian.

For prior gaussian the target is N(0, I); for uniform, U(−1, 1) per unit: mean 0, covariance I/3, so
the distances are to I/3 and the KL is to N(0, I/3) (the Gaussian with U(−1, 1)'s moments; the codes'
own shape beyond two moments is summarised by the share of values inside [−1, 1]). The covariance is
the population one (1/rows). Also the sum over units of KL(N(m_j, v_j) ‖ target), the per-unit
moment KL of tests/e2e/aae_cli_test.cpp, which ignores correlations between units.

--prior-rows R adds a reference row: R draws of ae's own prior (Philox purpose 7 at step 0, seed 1,
as `ae sample` draws them), which shows the statistics' sampling noise at that many rows.

Usage: /usr/bin/python3 bench/aae/codes.py [--prior gaussian|uniform] [--prior-rows 10000] [--json OUT] NAME=codes.npy ...
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))


def stats(z, prior):
    """The figures of codes z [rows, N] against `prior` (a dict of floats)."""
    import numpy as np
    z = np.asarray(z, np.float64)
    rows, n = z.shape
    var = 1.0 if prior == "gaussian" else 1.0 / 3.0  # the target's per-unit variance
    m = z.mean(axis=0)
    c = (z - m).T @ (z - m) / rows
    sd = np.sqrt(np.diag(c))
    target = var * np.eye(n)
    sign, logdet = np.linalg.slogdet(c)
    # KL(N(m, C) ‖ N(0, var·I)) = ½ [tr(C)/var + mᵀm/var − n + n·ln var − ln det C]
    kl = 0.5 * (np.trace(c) / var + m @ m / var - n + n * math.log(var) - logdet) if sign > 0 else math.inf
    v = np.diag(c)
    kl_units = float(np.sum(0.5 * (v / var + m * m / var - 1 + np.log(var) - np.log(v))))
    corr = c / np.outer(sd, sd)
    off = np.abs(corr[~np.eye(n, dtype=bool)])
    return {"rows": rows, "units": n, "mean_norm": float(np.linalg.norm(m)),
            "mean_min": float(m.min()), "mean_max": float(m.max()), "mean_abs_avg": float(np.abs(m).mean()),
            "sd_min": float(sd.min()), "sd_max": float(sd.max()), "sd_avg": float(sd.mean()),
            "pooled_mean": float(z.mean()), "pooled_sd": float(z.std()),
            "cov_minus_target_fro": float(np.linalg.norm(c - target)),
            "target_fro": float(np.linalg.norm(target)),
            "max_abs_corr": float(off.max()) if off.size else 0.0,
            "kl_gaussian": float(kl), "kl_per_unit": kl_units,
            "inside_pm1": float(np.mean(np.abs(z) <= 1.0)),
            "per_unit_mean": [float(v) for v in m], "per_unit_sd": [float(v) for v in sd]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("codes", nargs="+", help="NAME=PATH.npy")
    p.add_argument("--prior", choices=["gaussian", "uniform"], default="gaussian")
    p.add_argument("--prior-rows", type=int, default=0, help="add ae's own prior draws as a reference row")
    p.add_argument("--json", help="also write every figure (per-unit means and sds included) here")
    a = p.parse_args()
    import numpy as np
    sets = []
    for item in a.codes:
        name, _, path = item.partition("=")
        sets.append((name, np.load(path)))
    if a.prior_rows:
        from aae_peer import prior_samples
        sets.append((f"{a.prior} prior ({a.prior_rows} draws)", prior_samples(a.prior, 1, 0, a.prior_rows, sets[0][1].shape[1])))
    target = "N(0, I)" if a.prior == "gaussian" else "U(-1, 1): mean 0, covariance I/3"
    print(f"codes against the {a.prior} prior, {target}; C the codes' covariance (1/rows), T the target's")
    head = (f"{'codes':<30} {'|mean|':>7} {'unit means min..max':>19} {'unit sd min..max (avg)':>24} "
            f"{'|C-T|_F':>8} {'max|corr|':>9} {'KL(N(m,C)|T)':>12} {'sum KL_j':>8}")
    if a.prior == "uniform":
        head += f" {'in [-1,1]':>9}"
    print(head)
    out = {}
    for name, z in sets:
        s = stats(z, a.prior)
        out[name] = s
        line = (f"{name:<30} {s['mean_norm']:7.3f} {s['mean_min']:8.3f}..{s['mean_max']:<8.3f} "
                f"{s['sd_min']:7.3f}..{s['sd_max']:<6.3f} ({s['sd_avg']:.3f}) "
                f"{s['cov_minus_target_fro']:8.3f} {s['max_abs_corr']:9.3f} {s['kl_gaussian']:12.3f} {s['kl_per_unit']:8.3f}")
        if a.prior == "uniform":
            line += f" {s['inside_pm1']:9.3f}"
        print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"prior": a.prior, "codes": out}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
