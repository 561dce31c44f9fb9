#!/usr/bin/python3
"""The PyTorch peer of `ae bench`: the same autoencoder, threads, batch, loss and optimizer in
PyTorch (torch.nn / torch.optim defaults), timed with the same method (warm-up executions, then
the median samples/s of several timed loops), printed as one JSON object (or a short text).
Dense and convolutional specs alike (torch_spec.py builds the nn.Sequentials parity.py loads ae's
files into); a convolutional model's random inputs are (N, C, H, W).

It reports torch's build (torch.__config__.show(): MKL and oneDNN, which runs PyTorch's CPU
convolutions) and the CPU capability its kernels dispatch to. It also reports what actually ran
the GEMMs of torch 1.13 from Debian: which BLAS library torch loaded (from
/proc/self/maps), OpenBLAS's core type (openblas_get_corename), its build config and thread count,
and the Debian alternative libblas.so.3 points to.

OpenBLAS 0.3.21 picks its kernels from a table of CPU models; on a CPU it does not know (e.g.
Intel family 6 model 207) it silently falls back to SSE3 kernels. When the CPU has AVX-512,
OPENBLAS_CORETYPE is unset and OpenBLAS would not pick an AVX-512 core by itself (probed in a
child process), this script sets OPENBLAS_CORETYPE=SkylakeX before torch is imported, so the
peer runs at its best. Run with Debian's /usr/bin/python3 (which has python3-torch).
"""
import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time

import torch_spec  # the model of a spec, shared with parity.py

# OpenBLAS core names whose sgemm kernels use AVX-512 (0.3.21).
AVX512_CORES = {"skylakex", "cooperlake", "sapphirerapids"}
LIBDIR = "/usr/lib/x86_64-linux-gnu"

PROBE = r"""
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
f = lib.openblas_get_corename
f.restype = ctypes.c_char_p
print(f().decode())
"""


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def blas_dir(variant):
    """Directory whose libblas.so.3 the process should load: the Debian alternative, or a variant."""
    if variant == "best":  # OpenMP OpenBLAS shares torch's OpenMP runtime; pthreads' pool fights it
        variant = "openmp" if os.path.exists(f"{LIBDIR}/openblas-openmp/libblas.so.3") else "system"
    if variant == "system":
        return os.path.dirname(os.path.realpath(f"{LIBDIR}/libblas.so.3"))
    return f"{LIBDIR}/openblas-{variant}"


def probe_corename(libdir, env):
    """OpenBLAS's core choice in a clean child process (the choice is made once, at load time)."""
    lib = os.path.join(libdir, "libblas.so.3")
    r = subprocess.run([sys.executable, "-c", PROBE, lib], env=env, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def prepare_environment(args):
    """Re-executes this script once with the chosen BLAS variant first on LD_LIBRARY_PATH and
    OPENBLAS_CORETYPE decided, because both are read when the libraries load."""
    if os.environ.get("AE_PEER_PREPARED") == "1":
        return
    env = dict(os.environ)
    env["AE_PEER_PREPARED"] = "1"
    libdir = blas_dir(args.blas)
    if libdir != blas_dir("system"):
        if not os.path.exists(os.path.join(libdir, "libblas.so.3")):
            sys.exit(f"torch_peer: --blas {args.blas}: {libdir}/libblas.so.3 does not exist; "
                     f"install libopenblas0-{args.blas}")
        env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    note = "OPENBLAS_CORETYPE was set by the caller" if "OPENBLAS_CORETYPE" in env else ""
    if "OPENBLAS_CORETYPE" not in env and "avx512f" in cpu_flags():
        own = probe_corename(libdir, env)
        if own is not None and own.lower() not in AVX512_CORES:
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
            note = f"set OPENBLAS_CORETYPE=SkylakeX: AVX-512 CPU, OpenBLAS alone picks {own}"
        elif own is not None:
            note = f"OPENBLAS_CORETYPE unset: OpenBLAS picks {own} (AVX-512 kernels) by itself"
    env["AE_PEER_CORETYPE_NOTE"] = note
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def blas_report():
    """What this process loaded: BLAS/OpenMP/oneDNN libraries, and OpenBLAS's own view of itself."""
    with open("/proc/self/maps") as f:
        paths = sorted({l.split()[-1] for l in f if "/" in l and any(
            k in l for k in ("blas", "lapack", "blis", "omp", "dnnl", "mkl"))})
    rep = {"libraries": paths}
    for p in paths:
        if "openblas" not in p and "libblas" not in p:
            continue
        lib = ctypes.CDLL(p)
        if not hasattr(lib, "openblas_get_corename"):
            rep["blas"] = f"{p} (not OpenBLAS)"
            continue
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        rep.update(blas=p, openblas_corename=lib.openblas_get_corename().decode(),
                   openblas_config=lib.openblas_get_config().decode(),
                   openblas_threads=lib.openblas_get_num_threads(),
                   openblas_parallel={0: "sequential", 1: "pthreads", 2: "OpenMP"}.get(
                       lib.openblas_get_parallel(), "?"))
        rep["_lib"] = lib
        break
    rep["libblas.so.3 alternative"] = os.path.realpath(f"{LIBDIR}/libblas.so.3")
    rep["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE", "(unset)")
    rep["coretype_note"] = os.environ.get("AE_PEER_CORETYPE_NOTE", "")
    return rep


def torch_config(torch):
    """What torch itself says it runs on: its build (torch.__config__.show(): MKL, oneDNN — PyTorch's
    convolutions on the CPU go to oneDNN (mkldnn) when it is built in), the CPU capability its own
    kernels dispatch to, and whether oneDNN is enabled."""
    show = torch.__config__.show()
    lines = [l.strip(" -") for l in show.splitlines()]
    pick = lambda *keys: next((l for l in lines if any(k in l for k in keys)), None)
    cap = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return {"mkl": pick("Math Kernel Library"), "onednn": pick("MKL-DNN", "oneDNN"),
            "openmp": pick("OpenMP"), "capability": cap() if cap else pick("CPU capability"),
            "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
            "show": show}


def time_loops(fn, batch, steps, warmup, runs):
    """Samples/s of `runs` timed loops of `steps` calls each, after `warmup` calls (as ae bench)."""
    for _ in range(warmup):
        fn()
    rates = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", default="784-256r-32-256r-784s")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0, help="0 = all cores")
    ap.add_argument("--loss", default="mse", choices=["mse", "bce"])
    ap.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw", "rmsprop"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--blas", default="best", choices=["best", "system", "openmp", "pthread"],
                    help="which libblas.so.3 torch loads: the Debian alternative (system), an OpenBLAS "
                         "variant, or best: OpenBLAS-OpenMP when installed (see README)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                    help="bf16: forward and loss under torch.autocast('cpu', dtype=torch.bfloat16), PyTorch's "
                         "mixed precision on the CPU (fp32 master weights and optimizer), as ae bench --precision bf16")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    prepare_environment(args)

    import torch  # after the environment is final

    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    blas = blas_report()
    lib = blas.pop("_lib", None)
    if lib is not None:
        lib.openblas_set_num_threads(threads)  # torch.set_num_threads does not reach OpenBLAS
        blas["openblas_threads"] = lib.openblas_get_num_threads()

    torch.manual_seed(0)
    encoder, decoder = torch_spec.build(torch, args.spec)  # dense and convolutional specs alike
    model = torch.nn.Sequential(encoder, decoder)
    x = torch.rand(args.batch, *torch_spec.input_shape(args.spec))  # in [0, 1), like pixels; (N, C, H, W) for images
    loss_fn = {"mse": torch.nn.MSELoss(), "bce": torch.nn.BCELoss()}[args.loss]
    opt_cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
               "rmsprop": torch.optim.RMSprop}[args.optimizer]
    # torch.optim defaults, except SGD, which has no default lr before PyTorch 2.2 (ae uses 1e-3).
    opt = opt_cls(model.parameters(), lr=1e-3) if args.optimizer == "sgd" else opt_cls(model.parameters())

    import contextlib
    amp = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if args.precision == "bf16" else contextlib.nullcontext

    def train_step():
        opt.zero_grad(set_to_none=True)
        with amp():
            loss = loss_fn(model(x), x)  # autocast runs mse_loss/binary_cross_entropy in fp32
        loss.backward()
        opt.step()

    def encode():
        with torch.inference_mode(), amp():
            encoder(x)

    train = time_loops(train_step, args.batch, args.steps, args.warmup, args.runs)
    enc = time_loops(encode, args.batch, args.steps, args.warmup, args.runs)
    out = {"engine": "pytorch", "torch": torch.__version__, "spec": args.spec, "batch": args.batch,
           "threads": threads, "torch_threads": torch.get_num_threads(), "loss": args.loss,
           "optimizer": args.optimizer, "precision": args.precision, "train_samples_per_s": statistics.median(train),
           "encode_samples_per_s": statistics.median(enc), "train_runs": train, "encode_runs": enc,
           "steps": args.steps, "runs": args.runs, "warmup": args.warmup, "blas": blas,
           "torch_config": torch_config(torch)}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"torch {torch.__version__}: {args.spec}, batch {args.batch}, {args.loss}, "
              f"{args.optimizer}, {threads} threads, {args.precision}")
        print(f"  blas  : {blas.get('blas')} core {blas.get('openblas_corename')} "
              f"({blas.get('openblas_parallel')}, {blas.get('openblas_threads')} threads); "
              f"{blas['coretype_note']}")
        cfg = out["torch_config"]
        print(f"  torch : {cfg['mkl']}; {cfg['onednn']}; capability {cfg['capability']}; "
              f"oneDNN enabled {cfg['mkldnn_enabled']}")
        print(f"  train : {out['train_samples_per_s']:10.0f} samples/s  (median of {args.runs} runs "
              f"of {args.steps} steps)")
        print(f"  encode: {out['encode_samples_per_s']:10.0f} samples/s")


if __name__ == "__main__":
    main()
