#!/usr/bin/env python3
"""Checks that ae's model files and Python's safetensors read each other.

Run by cmake/check.sh in a venv with safetensors and numpy from PyPI; by hand it needs
`pip install safetensors numpy`. Usage: python3 tests/host/safetensors_interop.py [path/to/ae_tests_runtime]

1. Python writes python_written.safetensors (safetensors.numpy.save_file) into a temp dir.
2. ae_tests_runtime's DISABLED_PythonSafetensors test loads it with ae::load_model_file, checks
   every value bit-exactly, and writes ae_written.safetensors with ae::save_model_file.
3. Python opens ae's file with safetensors.numpy.load_file / safe_open and checks names, shapes,
   bits and metadata. The pattern matches interop_pattern() in tests/runtime/model_file_test.cpp.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

PATTERN = {
    "encoder.0.weight": ((np.arange(15, dtype=np.float32) - 7) * np.float32(0.375)).reshape(3, 5),
    "encoder.0.bias": np.array([1e-30, -0.0, 3.4e38], dtype=np.float32),
}
METADATA = {"ae.format_version": "1", "note": 'ünï "q"'}


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "..", "build", "tests", "ae_tests_runtime")
    tests = sys.argv[1] if len(sys.argv) > 1 else default
    with tempfile.TemporaryDirectory() as d:
        save_file(PATTERN, os.path.join(d, "python_written.safetensors"), metadata=METADATA)
        env = dict(os.environ, AE_INTEROP_DIR=d)
        run = subprocess.run([tests, "--gtest_also_run_disabled_tests",
                              "--gtest_filter=ModelFileInterop.*"], env=env)
        if run.returncode != 0:
            print("FAIL: ae could not read Python's file (see above)")
            return 1
        path = os.path.join(d, "ae_written.safetensors")
        got = load_file(path)
        with safe_open(path, framework="numpy") as f:
            meta = f.metadata()
        ok = True
        if sorted(got) != sorted(PATTERN):
            print(f"FAIL: names {sorted(got)} != {sorted(PATTERN)}")
            ok = False
        for name, want in PATTERN.items():
            g = got.get(name)
            if g is None or g.dtype != np.float32 or g.shape != want.shape or \
                    g.tobytes() != want.tobytes():
                print(f"FAIL: tensor {name}: got {g!r}, want {want!r}")
                ok = False
        if meta != METADATA:
            print(f"FAIL: metadata {meta!r} != {METADATA!r}")
            ok = False
        print("interop: Python read ae's file:", "ok" if ok else "MISMATCH")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
