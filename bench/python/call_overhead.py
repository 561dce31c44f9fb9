#!/usr/bin/python3
"""Where a Python call's fixed cost goes: the same 1-row encode on a model so small (4-2-4) that the
engine's work is almost nothing, through the C API (bench/api's binary), ae._core's Model.encode
(the pybind11 bindings alone), Autoencoder.transform (the estimator: checks in _rows, then the
bindings), the same with a leaner input check (PROPOSED below, not in the module) and transform
of a float64 row (converted once per call). Alternately, fresh processes, 1 thread.

  PYTHONPATH=build/python /usr/bin/python3 bench/python/call_overhead.py [--rounds 3]

Each Python figure is the median of 7 timeit runs of 100 000 calls on one [1, 4] row; the C one
the median of 7 runs of 100 000 calls (ae_bench_encode_latency --spec 4-2-4).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import timeit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from transform_speed import ROOT, load, machine, run_json  # noqa: E402

CASES = ("core_encode", "transform", "transform_lean", "transform_f64")
NAMES = {"core_encode": "ae._core Model.encode (bindings)", "transform": "Autoencoder.transform",
         "transform_lean": "transform, leaner checks (proposed)", "transform_f64": "Autoencoder.transform, float64"}


def lean_transform(np, est):
    """PROPOSED for python/ae/_estimator.py: the common case (a float32 C-contiguous 2-D ndarray of
    the right width) answered by a few identity and attribute tests before the general _rows, and
    the width read from n_features_in_ (a Python attribute) instead of the model's property."""
    from ae import _estimator
    f32 = np.dtype(np.float32)

    def _rows(X, name, width, finite=False):
        if (type(X) is np.ndarray and X.dtype is f32 and X.ndim == 2 and X.shape[1] == width and X.flags.c_contiguous
                and not finite):
            return X
        return _estimator._rows(X, name, width, finite)

    def transform(X):
        return est._model().encode(_rows(X, "X", est.n_features_in_))
    return transform


def python_side(calls):
    if os.environ.get("OMP_NUM_THREADS") != "1":
        os.environ["OMP_NUM_THREADS"] = "1"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    import numpy as np
    import ae
    est = ae.Autoencoder(spec="4-2-4", epochs=1, verbose=0).fit(np.zeros((8, 4), np.float32))
    x = (0.5 + 0.5 * np.sin(np.arange(4, dtype=np.float32)))[None, :].copy()  # the C program's row
    fns = {"core_encode": (est.model_.encode, x), "transform": (est.transform, x),
           "transform_lean": (lean_transform(np, est), x), "transform_f64": (est.transform, x.astype(np.float64))}
    out = {}
    for name in CASES:
        fn, arg = fns[name]
        us = [timeit.timeit(lambda: fn(arg), number=calls) / calls * 1e6 for _ in range(7)]
        # timeit's lambda adds one Python call per iteration; subtract an empty lambda's cost.
        out[name] = us
    empty = [timeit.timeit(lambda: None, number=calls) / calls * 1e6 for _ in range(7)]
    out["lambda_us"] = statistics.median(empty)
    print(json.dumps({k: (statistics.median(v) - out["lambda_us"] if k in CASES else v) for k, v in out.items()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=100000)
    ap.add_argument("--python-side", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.python_side:
        return python_side(args.calls)
    build = os.path.abspath(args.build)
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"), OMP_NUM_THREADS="1")
    c_cmd = [os.path.join(build, "bench", "api", "ae_bench_encode_latency"), "--spec", "4-2-4", "--calls",
             str(args.calls), "--warmup", "1000", "--json"]
    py_cmd = [sys.executable, os.path.abspath(__file__), "--python-side", "--calls", str(args.calls)]
    print(f"machine : {machine()}")
    load_before = load()
    c, py = [], []
    for _ in range(args.rounds):
        c.append(run_json(c_cmd, env)["median_us"])
        py.append(run_json(py_cmd, env))
    print(f"load    : {load_before} before, {load()} after; {args.rounds} alternating rounds, medians")
    cm = statistics.median(c)
    print(f"{'C API ae_model_encode':<40} {cm:6.3f} µs/call")
    for name in CASES:
        v = statistics.median(r[name] for r in py)
        ref = statistics.median(r["core_encode"] for r in py) if name != "core_encode" else cm
        if name == "transform_f64":
            ref = statistics.median(r["transform"] for r in py)
        print(f"{NAMES[name]:<40} {v:6.3f} µs/call   +{v - ref:.3f} over "
              f"{'C' if name == 'core_encode' else 'transform' if name == 'transform_f64' else 'the bindings'}")
    print(f"(Python figures less timeit's per-call lambda, {statistics.median(r['lambda_us'] for r in py):.3f} µs)")
    print("commands:")
    print(f"  OMP_NUM_THREADS=1 PYTHONPATH={env['PYTHONPATH']}")
    print("  " + shlex.join(c_cmd))
    print("  " + shlex.join(py_cmd))


if __name__ == "__main__":
    main()
