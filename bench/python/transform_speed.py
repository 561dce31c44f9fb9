#!/usr/bin/python3
"""ae.Autoencoder.transform against the C API's ae_model_encode, on the same model file, rows and
machine: runs bench/api's ae_bench_encode_latency and this script's own Python timer alternately
(C, Python, C, Python, ...), each a fresh process on 1 thread, and prints both medians and their
difference (µs per call for 1 row, % for 10 000 rows), the CPU, the load before and after, and
the commands.

  PYTHONPATH=build/python /usr/bin/python3 bench/python/transform_speed.py            # 3 rounds
  PYTHONPATH=build/python /usr/bin/python3 bench/python/transform_speed.py --rounds 5 --rows 1

Both sides use the same protocol: WARMUP untimed calls, then CALLS timed calls back to back, µs per
call; the median of RUNS such runs per process; the median of the rounds' figures in the table.
Call i encodes block i mod (10 000 / ROWS) of ROWS consecutive Fashion-MNIST test rows (scaled by
1/255), written once to an NPY file that both read. The Python side calls transform on views of
one float32 C-contiguous array (no copy), and, as extra lines, Model.encode of ae._core directly
(the bindings without the estimator), transform with the leaner input check call_overhead.py
proposes, and transform of a float64 copy (converted once per call).
Both sides check their codes: the C program's checksum (the sum of every call's first code value)
must equal the same sum computed from transform's codes.

The model is a file given with --model, or else `784-256r-32-256r-784s` trained here for one epoch
on 10 000 Fashion-MNIST training rows (the cost of encode does not depend on the values).
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
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx_u8(path, rows):
    """The first `rows` images of a gzip IDX u8 file as float32 [rows, 784], v / 255 as ae does."""
    import numpy as np
    with gzip.open(path, "rb") as f:
        magic = f.read(4)
        dims = struct.unpack(">" + "I" * magic[3], f.read(4 * magic[3]))
        width = dims[1] * dims[2]
        rows = min(rows, dims[0])
        px = np.frombuffer(f.read(rows * width), dtype=np.uint8).reshape(rows, width)
    return px.astype(np.float32) / np.float32(255.0)


def machine():
    info = {"cpu": "?", "family": "?", "model": "?"}
    with open("/proc/cpuinfo") as f:
        for line in f:
            k, _, v = (s.strip() for s in line.partition(":"))
            if k == "model name" and info["cpu"] == "?":
                info["cpu"] = v
            elif k == "cpu family" and info["family"] == "?":
                info["family"] = v
            elif k == "model" and info["model"] == "?":
                info["model"] = v
    return f"{info['cpu']} (family {info['family']}, model {info['model']}), {os.cpu_count()} cores"


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_json(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if r.returncode != 0 or not lines:
        sys.exit(f"transform_speed: {shlex.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr.strip()}")
    return json.loads(lines[-1])


# ---- the Python side: one process, 1 thread --------------------------------------------------

def time_calls(fn, seq, warmup, calls, runs):
    """µs per call of `runs` runs of fn over seq (len(seq) == calls), each after `warmup` calls."""
    us = []
    for _ in range(runs):
        for i in range(warmup):
            fn(seq[i % len(seq)])
        t0 = time.perf_counter()
        for x in seq:
            fn(x)
        us.append((time.perf_counter() - t0) * 1e6 / calls)
    return us


def python_side(args):
    """Times transform (and the extra cases) on 1 thread and prints one JSON line."""
    if os.environ.get("OMP_NUM_THREADS") != "1":  # libgomp reads it when it loads: before importing ae
        os.environ["OMP_NUM_THREADS"] = "1"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    import numpy as np
    import ae

    est = ae.load(args.model)
    X = np.load(args.data)
    assert X.dtype == np.float32 and X.flags.c_contiguous
    n = args.rows
    blocks = [X[b * n:(b + 1) * n] for b in range(X.shape[0] // n)]  # views: no copy
    seq = [blocks[i % len(blocks)] for i in range(args.calls)]  # the C program's block sequence
    out = {"engine": "python", "rows": n, "calls": args.calls, "warmup": args.warmup, "ae": ae.__version__,
           "numpy": np.__version__, "python": sys.version.split()[0], "threads": os.environ["OMP_NUM_THREADS"]}
    # The C program's checksum: every call's first code value, summed in call order over the runs.
    firsts = [float(est.transform(x)[0, 0]) for x in seq]
    checksum = 0.0
    for _ in range(args.runs):
        for v in firsts:
            checksum += v
    out["checksum"] = checksum
    assert est.model_.last_input_address == seq[-1].__array_interface__["data"][0], "transform copied its input"

    cases = {"transform": (est.transform, seq)}
    if args.extra:
        seq64 = [x.astype(np.float64) for x in seq[:len(blocks)]]
        seq64 = [seq64[i % len(seq64)] for i in range(args.calls)]
        from call_overhead import lean_transform  # the leaner input check proposed there
        cases["core_encode"] = (est.model_.encode, seq)
        cases["transform_lean"] = (lean_transform(np, est), seq)
        cases["transform_f64"] = (est.transform, seq64)
    for name, (fn, s) in cases.items():
        us = time_calls(fn, s, args.warmup, args.calls, args.runs)
        out[name] = {"runs_us": us, "median_us": statistics.median(us)}
    out["median_us"] = out["transform"]["median_us"]
    print(json.dumps(out))


# ---- the driver --------------------------------------------------------------------------------

def make_inputs(args, tmp, env):
    """The test rows as an NPY file and the model file (trained here unless --model)."""
    import numpy as np
    data = os.path.join(tmp, "t10k.npy")
    np.save(data, np.ascontiguousarray(read_idx_u8(f"{FASHION}/t10k-images-idx3-ubyte.gz", 10000)))
    if args.model:
        return data, os.path.abspath(args.model)
    model = os.path.join(tmp, "model.safetensors")
    train = ("import ae, sys; sys.path.insert(0, %r); from transform_speed import read_idx_u8; "
             "X = read_idx_u8(%r, 10000); ae.Autoencoder(epochs=1, threads=2, verbose=0).fit(X).save(%r)"
             % (HERE, f"{FASHION}/train-images-idx3-ubyte.gz", model))
    subprocess.run([sys.executable, "-c", train], env=env, check=True)
    return data, model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="build tree (bench/api's binary, python/ae)")
    ap.add_argument("--model", help="a model file (default: 784-256r-32-256r-784s trained here for 1 epoch)")
    ap.add_argument("--rows", default="1,10000", help="rows per call, comma-separated (each ≤ 10 000)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (C, Python) per row count")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--no-extra", dest="extra", action="store_false",
                    help="time transform only (not ae._core's encode and float64 input)")
    ap.add_argument("--workdir", help="keep the NPY rows and the model file here (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="also print every result as JSON")
    # The Python side's own arguments (this script runs itself as the Python side).
    ap.add_argument("--python-side", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--calls", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.python_side:
        args.rows = int(args.rows)
        return python_side(args)

    build = os.path.abspath(args.build)
    c_bin = os.path.join(build, "bench", "api", "ae_bench_encode_latency")
    if not os.access(c_bin, os.X_OK) or not os.path.isdir(os.path.join(build, "python", "ae")):
        sys.exit(f"transform_speed: build {build} lacks bench/api/ae_bench_encode_latency or python/ae; "
                 "cmake --preset default && cmake --build --preset default")
    env = dict(os.environ, PYTHONPATH=os.path.join(build, "python"), OMP_NUM_THREADS="1")
    rows = [int(r) for r in args.rows.split(",")]
    print(f"machine : {machine()}")
    load_before, t_start = load(), time.time()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.workdir:
            os.makedirs(args.workdir, exist_ok=True)
        data, model = make_inputs(args, os.path.abspath(args.workdir or tmp), env)
        commands = []
        for n in rows:
            calls, warmup = (5000, 500) if n == 1 else (max(3, 200000 // n), max(1, 20000 // n))
            common = ["--model", model, "--data", data, "--rows", str(n), "--calls", str(calls), "--warmup",
                      str(warmup), "--runs", str(args.runs), "--json"]
            c_cmd = [c_bin] + common
            py_cmd = [sys.executable, os.path.abspath(__file__), "--python-side"] + common[:-1] + (
                [] if args.extra else ["--no-extra"])
            commands += [c_cmd, py_cmd]
            res = results[n] = {"c": [], "python": []}
            for r in range(args.rounds):
                res["c"].append(run_json(c_cmd, env))
                res["python"].append(run_json(py_cmd, env))
                c, p = res["c"][-1], res["python"][-1]
                if c["checksum"] != p["checksum"]:
                    sys.exit(f"transform_speed: codes differ: C checksum {c['checksum']!r}, Python {p['checksum']!r}")
                print(f"  {n} row(s), round {r + 1}: C {c['median_us']:.2f}, Python {p['median_us']:.2f} µs/call "
                      f"(load {load()})", file=sys.stderr)
    print(f"load    : {load_before} before, {load()} after ({time.time() - t_start:.0f} s)")
    p0 = results[rows[0]]["python"][0]
    print(f"versions: ae {p0['ae']}, Python {p0['python']}, numpy {p0['numpy']}; 1 thread (OMP_NUM_THREADS=1)")
    print(f"model   : {model if args.model else '784-256r-32-256r-784s, trained 1 epoch on 10 000 training rows'}")
    print(f"protocol: {args.rounds} alternating rounds; each figure the median of {args.runs} runs per process, "
          "the table the median of the rounds [min-max]")
    print()
    med = lambda v: (statistics.median(v), min(v), max(v))
    fmt = lambda s: f"{s[0]:10.2f} [{s[1]:.2f}-{s[2]:.2f}]"
    for n in rows:
        res = results[n]
        c = med([x["median_us"] for x in res["c"]])
        p = med([x["median_us"] for x in res["python"]])
        d = p[0] - c[0]
        verdict = (f"{d:+.2f} µs (target ≤ 5 µs: {'met' if d <= 5 else 'NOT met'})" if n == 1 else
                   f"{100 * d / c[0]:+.2f} % (target ≤ 5 %: {'met' if d <= 0.05 * c[0] else 'NOT met'})")
        print(f"{n} row(s) per call, µs/call   C API {fmt(c)}   Python transform {fmt(p)}   Python − C {verdict}")
        for key, name in (("core_encode", "ae._core Model.encode (no estimator)"),
                          ("transform_lean", "transform, leaner checks (proposed)"),
                          ("transform_f64", "transform of float64 rows")):
            if key in res["python"][0]:
                e = med([x[key]["median_us"] for x in res["python"]])
                print(f"    {name:<40} {fmt(e)}   − C {e[0] - c[0]:+.2f} µs ({100 * (e[0] - c[0]) / c[0]:+.1f} %)")
    print()
    print("commands (the NPY file: the 10 000 test rows / 255; the model file as above; --workdir keeps both):")
    print(f"  OMP_NUM_THREADS=1 PYTHONPATH={env['PYTHONPATH']}")
    for cmd in commands:
        print("  " + shlex.join(cmd))
    if args.json:
        print(json.dumps({"machine": machine(), "results": results}))


if __name__ == "__main__":
    main()
