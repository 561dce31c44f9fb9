#!/usr/bin/python3
"""ae's Python module against PyOD's AutoEncoder detector on Fashion-MNIST: fit time, score time
and test AUROC side by side, each configuration a fresh process, run alternately (ae, PyOD, ae,
PyOD, ...) so all see the same machine conditions.

  PYTHONPATH=build/python build/pyod-venv/bin/python bench/peers/pyod_peer.py            # 3 rounds
  PYTHONPATH=build/python build/pyod-venv/bin/python bench/peers/pyod_peer.py --anomaly 5 --rounds 1

The task (novelty detection, one class held out): the detectors train on the 54 000 training images
of the nine normal classes (pixels / 255) and score the 10 000 test images; the held-out class's
1 000 test images are the anomalies, and the AUROC (sklearn.metrics.roc_auc_score) says how well
the scores rank them above the 9 000 normal ones. Fit time is the wall time of fit(), which in
both libraries ends by scoring the training rows (decision_scores_); score time is
decision_function on the test rows.

Configurations (all 10 epochs, batch 256, Adam lr 1e-3, MSE, 2 threads, seed 1):
  ae            ae.Autoencoder("784-256r-32-256r-784s"): linear code, sigmoid output (ae's default)
  ae-pyod-arch  ae.Autoencoder("784-256r-32r-256r-784"): PyOD's layers exactly (ReLU code, linear out)
  pyod          AutoEncoder(hidden_neuron_list=[256, 32]) without batch norm, dropout, weight decay or
                standardisation: the same network and training as ae-pyod-arch
  pyod-default  the same with PyOD's defaults for those four (batch norm, dropout 0.2, weight decay
                1e-5, inputs standardised), as PyOD's users get it
PyOD scores a row by the Euclidean distance between it and its reconstruction, ae by the mean
squared error: a monotone function of the same distance, so the AUROC compares the models, not
the scores' units. torch runs its GEMMs on OpenBLAS-OpenMP with torch_peer.py's core choice
(OPENBLAS_CORETYPE=SkylakeX on an AVX-512 CPU OpenBLAS 0.3.21 does not know): Debian's torch 1.13
links libblas.so.3, which is Netlib's reference BLAS where no OpenBLAS is installed.
"""
import argparse
import gzip
import json
import os
import shlex
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FASHION = "/usr/share/datasets/fashion-mnist"
CONFIGS = ("ae", "ae-pyod-arch", "pyod", "pyod-default")
# Where OpenBLAS-OpenMP may be: Debian's libopenblas0-openmp installed, or its .deb unpacked into the
# build tree (README: apt-get download, dpkg -x), which changes nothing on the system.
OPENBLAS_DIRS = ("/usr/lib/x86_64-linux-gnu/openblas-openmp",
                 os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "openblas", "usr", "lib",
                              "x86_64-linux-gnu", "openblas-openmp"))


def read_idx(path):
    """A gzip IDX u8 file as a numpy array [n] or [n, h*w]."""
    import numpy as np
    with gzip.open(path, "rb") as f:
        magic = f.read(4)
        dims = struct.unpack(">" + "I" * magic[3], f.read(4 * magic[3]))
        a = np.frombuffer(f.read(), dtype=np.uint8)
    return a.reshape(dims[0], -1) if len(dims) > 1 else a


def fashion(anomaly):
    """(train rows of the normal classes, test rows, test labels: 1 = the held-out class)."""
    import numpy as np
    scale = lambda px: px.astype(np.float32) / np.float32(255.0)
    xtr, ytr = read_idx(f"{FASHION}/train-images-idx3-ubyte.gz"), read_idx(f"{FASHION}/train-labels-idx1-ubyte.gz")
    xte, yte = read_idx(f"{FASHION}/t10k-images-idx3-ubyte.gz"), read_idx(f"{FASHION}/t10k-labels-idx1-ubyte.gz")
    return scale(xtr[ytr != anomaly]), scale(xte), (yte == anomaly).astype(np.int64)


def openblas_env(env, choice):
    """env for a process whose torch should run its GEMMs on OpenBLAS-OpenMP (see the docstring):
    its directory first on LD_LIBRARY_PATH (read when the loader starts), OPENBLAS_CORETYPE as
    torch_peer.py decides it. Returns a note on what was chosen."""
    sys.path.insert(0, HERE)
    from torch_peer import AVX512_CORES, cpu_flags, probe_corename
    dirs = [choice] if choice else OPENBLAS_DIRS
    d = next((d for d in dirs if os.path.exists(os.path.join(d, "libblas.so.3"))), None)
    if d is None:
        return ("no OpenBLAS-OpenMP found (" + ", ".join(dirs) + "): torch runs on whatever libblas.so.3 is, "
                "maybe Netlib's reference BLAS, 10-100x slower; see bench/peers/README.md")
    env["LD_LIBRARY_PATH"] = d + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    note = f"OpenBLAS-OpenMP from {d}"
    if "OPENBLAS_CORETYPE" in env:
        note += f"; OPENBLAS_CORETYPE={env['OPENBLAS_CORETYPE']} set by the caller's environment"
    elif "avx512f" in cpu_flags():
        own = probe_corename(d, env)
        if own is not None and own.lower() not in AVX512_CORES:
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
            note += f"; OPENBLAS_CORETYPE=SkylakeX (AVX-512 CPU, OpenBLAS alone picks {own})"
    return note


def torch_blas(threads):
    """The BLAS torch loaded (from /proc/self/maps), set to `threads` threads, and OpenBLAS's core."""
    import ctypes
    with open("/proc/self/maps") as f:
        paths = sorted({l.split()[-1] for l in f if l.rstrip().endswith("libblas.so.3") or "libblas.so.3." in l})
    rep = {"blas": ", ".join(paths) or "?", "openblas_core": None}
    for p in paths:
        lib = ctypes.CDLL(p)
        if hasattr(lib, "openblas_get_corename"):
            lib.openblas_set_num_threads(threads)  # torch.set_num_threads does not reach OpenBLAS
            lib.openblas_get_corename.restype = ctypes.c_char_p
            rep["openblas_core"] = lib.openblas_get_corename().decode()
    return rep


def one_run(args):
    """Fits and scores one configuration in this process; prints one JSON line."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    xtr, xte, yte = fashion(args.anomaly)
    out = {"config": args.config, "anomaly": args.anomaly, "train_rows": len(xtr), "test_rows": len(xte),
           "numpy": np.__version__, "python": sys.version.split()[0]}
    if args.config.startswith("ae"):
        import ae
        spec = "784-256r-32-256r-784s" if args.config == "ae" else "784-256r-32r-256r-784"
        det = ae.Autoencoder(spec=spec, epochs=args.epochs, batch_size=args.batch, lr=args.lr, optimizer="adam",
                             loss="mse", threads=args.threads, seed=args.seed, device="cpu", verbose=0)
        out.update(engine="ae", version=ae.__version__, spec=spec)
    else:
        import torch
        import pyod
        from pyod.models.auto_encoder import AutoEncoder
        torch.set_num_threads(args.threads)
        blas = torch_blas(args.threads)
        plain = args.config == "pyod"
        det = AutoEncoder(hidden_neuron_list=[256, 32], epoch_num=args.epochs, batch_size=args.batch, lr=args.lr,
                          optimizer_name="adam", random_state=args.seed, device="cpu", verbose=0,
                          **(dict(batch_norm=False, dropout_rate=0.0, optimizer_params={"weight_decay": 0.0},
                                  preprocessing=False) if plain else {}))
        out.update(engine="pyod", version=pyod.__version__, torch=torch.__version__,
                   torch_threads=torch.get_num_threads(), **blas)
    t0 = time.perf_counter()
    det.fit(xtr)
    out["fit_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = det.decision_function(xte)
    out["score_s"] = time.perf_counter() - t0
    out["auroc"] = float(roc_auc_score(yte, scores))
    print(json.dumps(out))


def run_json(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        sys.exit(f"pyod_peer: {shlex.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr.strip()}")
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--anomaly", type=int, default=0, help="the held-out Fashion-MNIST class (0-9)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, from: " + ", ".join(CONFIGS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--openblas", help="directory of OpenBLAS-OpenMP's libblas.so.3 for torch (default: "
                    + " or ".join(OPENBLAS_DIRS) + ")")
    ap.add_argument("--json", action="store_true", help="also print every result as JSON")
    ap.add_argument("--config", help=argparse.SUPPRESS)  # set: run this configuration once, here
    args = ap.parse_args()
    if args.config:
        return one_run(args)

    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
    from transform_speed import load, machine
    configs = args.configs.split(",")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    torch_env = dict(env)
    blas_note = openblas_env(torch_env, args.openblas)
    common = ["--anomaly", str(args.anomaly), "--epochs", str(args.epochs), "--batch", str(args.batch), "--lr",
              str(args.lr), "--threads", str(args.threads), "--seed", str(args.seed)]
    cmds = {c: [sys.executable, os.path.abspath(__file__), "--config", c] + common for c in configs}
    print(f"machine : {machine()}")
    load_before, t_start = load(), time.time()
    results = {c: [] for c in configs}
    for r in range(args.rounds):
        for c in configs:
            results[c].append(run_json(cmds[c], torch_env if c.startswith("pyod") else env))
            x = results[c][-1]
            print(f"  round {r + 1}, {c}: fit {x['fit_s']:.2f} s, AUROC {x['auroc']:.4f} (load {load()})",
                  file=sys.stderr)
    print(f"load    : {load_before} before, {load()} after ({time.time() - t_start:.0f} s)")
    last = {c: results[c][-1] for c in configs}
    for c, x in last.items():
        if x["engine"] == "pyod":
            print(f"pyod    : PyOD {x['version']}, torch {x['torch']} ({x['torch_threads']} threads), numpy "
                  f"{x['numpy']}, Python {x['python']}; BLAS {x['blas']}, OpenBLAS core {x['openblas_core']}")
            print(f"          {blas_note}")
            break
    for c, x in last.items():
        if x["engine"] == "ae":
            print(f"ae      : ae {x['version']} (Python module), numpy {x['numpy']}, Python {x['python']}")
            break
    x0 = next(iter(last.values()))
    print(f"task    : Fashion-MNIST, class {args.anomaly} held out: fit on {x0['train_rows']} training rows, "
          f"score {x0['test_rows']} test rows; {args.epochs} epochs, batch {args.batch}, Adam lr {args.lr}, "
          f"{args.threads} threads, seed {args.seed}; {args.rounds} alternating rounds")
    print()
    print(f"{'configuration':<14} {'fit s, median [min-max]':>26} {'score s (test)':>15} {'test AUROC':>12}")
    med = lambda v: (statistics.median(v), min(v), max(v))
    for c in configs:
        f = med([x["fit_s"] for x in results[c]])
        s = statistics.median(x["score_s"] for x in results[c])
        a = sorted({round(x["auroc"], 4) for x in results[c]})
        print(f"{c:<14} {f'{f[0]:.2f} [{f[1]:.2f}-{f[2]:.2f}]':>26} {s:15.3f} {'/'.join(f'{v:.4f}' for v in a):>12}")
    print()
    print(f"commands (OMP_NUM_THREADS={args.threads}, PYTHONPATH={os.environ.get('PYTHONPATH', '')}):")
    extra = {k: torch_env[k] for k in ("LD_LIBRARY_PATH", "OPENBLAS_CORETYPE") if torch_env.get(k) != env.get(k)}
    for c in configs:
        pre = " ".join(f"{k}={v}" for k, v in extra.items()) + " " if c.startswith("pyod") and extra else ""
        print("  " + pre + shlex.join(cmds[c]))
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}))


if __name__ == "__main__":
    main()
