"""Shared fixtures of the Python module's tests: Fashion-MNIST subsets and the `ae` command.

Run from the repository root after the default build (cmake/check.sh does):
    PYTHONPATH=build/python /usr/bin/python3 -m pytest tests/python
AE_BIN names the `ae` binary (default build/ae).
"""

import gzip
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path("/usr/share/datasets/fashion-mnist")


def _idx_images(name, rows):
    with gzip.open(DATA / name) as f:
        raw = f.read(16 + rows * 784)
    return (np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 784) / np.float32(255)).astype(np.float32)


def _idx_labels(name, rows):
    with gzip.open(DATA / name) as f:
        raw = f.read(8 + rows)
    return np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)


@pytest.fixture(scope="session")
def fashion():
    """3000 training and 1000 test images of Fashion-MNIST, float32 in [0, 1], with labels."""
    return {
        "X": _idx_images("train-images-idx3-ubyte.gz", 3000),
        "y": _idx_labels("train-labels-idx1-ubyte.gz", 3000),
        "X_test": _idx_images("t10k-images-idx3-ubyte.gz", 1000),
        "y_test": _idx_labels("t10k-labels-idx1-ubyte.gz", 1000),
    }


@pytest.fixture(scope="session")
def ae_bin():
    path = pathlib.Path(os.environ.get("AE_BIN", ROOT / "build" / "ae"))
    if not path.exists():
        pytest.fail(f"the ae command is not at {path}: build it (cmake --build --preset default) or set AE_BIN")
    return str(path)


@pytest.fixture
def run_ae(ae_bin):
    """Runs `ae ARGS...`, returns the completed process; a failure shows ae's stderr."""

    def run(*args, check=True):
        p = subprocess.run([ae_bin, *map(str, args)], capture_output=True, text=True)
        if check and p.returncode != 0:
            raise AssertionError(f"ae {' '.join(map(str, args))} exited {p.returncode}:\n{p.stderr}")
        return p

    return run
