#!/usr/bin/python3
"""ae against PyTorch, side by side: runs `ae bench --json` and bench/peers/torch_peer.py
alternately (ae, torch, ae, torch, ...) so both see the same machine conditions, then prints a
table of the medians and the ratios, the machine, its load, and the exact commands.

  /usr/bin/python3 bench/peers/compare.py --ae build/ae            # the acceptance configuration
  /usr/bin/python3 bench/peers/compare.py --ae build/ae --rounds 5 --threads 1 --loss bce
  /usr/bin/python3 bench/peers/compare.py --ae build/ae --python build/torch-venv/bin/python --blas system \
      --spec '1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7|-T32k7r-T16k3s2p1o1r-T1k3s2p1o1s' --batch 128   # a conv model

Each round of each engine is one process reporting the median samples/s of its timed loops; the
table shows, per engine, the median over rounds (and the range), and the ratio of those medians.
"""
import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    info = {"cpu": platform.processor() or "?", "family": "?", "model": "?", "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                k, v = k.strip(), v.strip()
                if k == "model name":
                    info["cpu"] = v
                elif k == "cpu family":
                    info["family"] = v
                elif k == "model" and info["model"] == "?":
                    info["model"] = v
                elif k == "vendor_id":
                    info["vendor"] = v
                elif k == "flags" and "isa" not in info:  # what both engines' kernels dispatch on
                    info["isa"] = " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile") if f in v.split())
    except OSError:
        pass
    info["affinity"] = len(os.sched_getaffinity(0))
    return info


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_json(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"compare: {shlex.join(cmd)} failed ({r.returncode}):\n{r.stderr.strip()}")
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"compare: {shlex.join(cmd)} printed no JSON:\n{r.stdout}{r.stderr}")
    return json.loads(lines[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ae", default=None, help="the ae executable (default: build/ae, then build-*/ae)")
    ap.add_argument("--spec", default="784-256r-32-256r-784s")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loss", default="mse", choices=["mse", "bce"])
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw", "rmsprop"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per engine")
    ap.add_argument("--blas", default="best", help="torch_peer.py --blas (best, system, openmp, pthread)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="both engines: ae bench --precision, torch_peer.py --precision (torch.autocast bf16)")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python that runs torch_peer.py (e.g. a venv with PyTorch 2 from PyPI)")
    ap.add_argument("--with-fp32", action="store_true",
                    help="with --precision bf16: also time ae in fp32 in every round (ae's bf16/fp32 speed-up)")
    ap.add_argument("--json", action="store_true", help="also print every result as JSON")
    args = ap.parse_args()

    exe = args.ae
    if exe is None:
        root = os.path.dirname(os.path.dirname(HERE))
        cands = [os.path.join(root, "build", "ae")] + sorted(
            os.path.join(root, d, "ae") for d in os.listdir(root) if d.startswith("build-"))
        exe = next((c for c in cands if os.access(c, os.X_OK)), None)
        if exe is None:
            sys.exit("compare: no ae executable found; build it (cmake --build build --target ae_cli) or pass --ae")
    common = ["--spec", args.spec, "--batch", str(args.batch), "--threads", str(args.threads), "--loss", args.loss,
              "--optimizer", args.optimizer, "--steps", str(args.steps), "--warmup", str(args.warmup),
              "--runs", str(args.runs), "--json"]
    ae_cmd = [os.path.abspath(exe), "bench", "--precision", args.precision] + common
    torch_cmd = [args.python, os.path.join(HERE, "torch_peer.py"), "--blas", args.blas,
                 "--precision", args.precision] + common
    ae32_cmd = [os.path.abspath(exe), "bench", "--precision", "fp32"] + common
    with_fp32 = args.with_fp32 and args.precision != "fp32"

    m = machine()
    load_before = load()
    results = {"ae": [], "pytorch": []}
    if with_fp32:
        results["ae_fp32"] = []
    t0 = time.time()
    for r in range(args.rounds):
        results["ae"].append(run_json(ae_cmd))
        results["pytorch"].append(run_json(torch_cmd))
        if with_fp32:
            results["ae_fp32"].append(run_json(ae32_cmd))
        print(f"round {r + 1}/{args.rounds}: ae train {results['ae'][-1]['train_samples_per_s']:.0f}, "
              f"torch train {results['pytorch'][-1]['train_samples_per_s']:.0f} samples/s (load {load()})",
              file=sys.stderr)
    elapsed = time.time() - t0

    def summary(engine, key):
        v = [x[key] for x in results[engine]]
        return statistics.median(v), min(v), max(v)

    peer = results["pytorch"][-1]
    blas = peer.get("blas", {})
    print(f"machine : {m['cpu']} ({m.get('vendor', '?')}, family {m['family']} model {m['model']}), "
          f"{m['cores']} cores, {m['affinity']} usable; {m.get('isa', '?')}")
    print(f"load    : {load_before} before, {load()} after ({elapsed:.0f} s)")
    print(f"config  : {args.spec}, batch {args.batch}, {args.threads} threads, {args.loss}, {args.optimizer}, "
          f"precision {args.precision}; "
          f"{args.rounds} alternating rounds, each the median of {args.runs} runs of {args.steps} steps "
          f"after {args.warmup} warm-up")
    print(f"ae      : {results['ae'][-1].get('backend', '?')}")
    print(f"pytorch : torch {peer.get('torch')}, {peer.get('torch_threads')} threads; BLAS {blas.get('blas')} "
          f"core {blas.get('openblas_corename')} ({blas.get('openblas_parallel')}, "
          f"{blas.get('openblas_threads')} threads); OPENBLAS_CORETYPE {blas.get('OPENBLAS_CORETYPE')}; "
          f"{blas.get('coretype_note')}; libblas.so.3 alternative {blas.get('libblas.so.3 alternative')}")
    cfg = peer.get("torch_config")
    if cfg:  # torch's own build: PyTorch 2 runs convolutions on oneDNN and GEMMs on MKL, not the BLAS above
        print(f"torch   : {cfg.get('mkl')}; {cfg.get('onednn')}; {cfg.get('openmp')}; CPU capability "
              f"{cfg.get('capability')}; oneDNN (mkldnn) enabled {cfg.get('mkldnn_enabled')}")
    print()
    def table(title, left, right, left_name, right_name, ratio_name, per_round_name):
        """Medians [min–max] of two result lists and their ratio, then the train ratio per round."""
        print(f"{title:<40} {left_name:>24} {right_name:>24} {ratio_name:>13}")
        for key, name in (("train_samples_per_s", "train"), ("encode_samples_per_s", "encode")):
            a, b = summary(left, key), summary(right, key)
            fmt = lambda s: f"{s[0]:8.0f} [{s[1]:.0f}–{s[2]:.0f}]"
            print(f"{name:<40} {fmt(a):>24} {fmt(b):>24} {a[0] / b[0]:12.2f}×")
        rounds = [a["train_samples_per_s"] / b["train_samples_per_s"] for a, b in zip(results[left], results[right])]
        print(f"{per_round_name:<40} " + ", ".join(f"{x:.2f}×" for x in rounds))

    table("samples/s (median [min–max] of rounds)", "ae", "pytorch", "ae", "pytorch", "ae / pytorch",
          "train ratio per round")
    if with_fp32:
        print()
        table(f"ae {args.precision} against ae fp32", "ae", "ae_fp32", args.precision, "fp32", "speed-up",
              "train speed-up per round")
    print()
    print("commands:")
    print("  " + shlex.join(ae_cmd))
    print("  " + shlex.join(torch_cmd))
    if with_fp32:
        print("  " + shlex.join(ae32_cmd))
    if args.json:
        print(json.dumps({"machine": m, "results": results}))


if __name__ == "__main__":
    main()
