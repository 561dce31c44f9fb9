#!/usr/bin/env python3
"""Checks that PyTorch reads ae's BF16/F16 model files as ae wrote them.

Usage: torch_lowp_check.py FP32_FILE LOWP_FILE. Run by tests/e2e/save_dtype_cli_test.cpp when
/usr/bin/python3 imports torch (the `safetensors` package is used when present, else the format,
which is a length, a JSON header and raw little-endian bytes, is read here). For every tensor of
LOWP_FILE: the dtype is torch.bfloat16 or torch.float16, the shape matches, and the values are
bit for bit the FP32_FILE tensor rounded by PyTorch's own .to(dtype) (round to nearest even).
Prints "ok" and exits 0, or says what differs and exits 1.
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def load(path):
    try:
        from safetensors.torch import load_file
        return load_file(path)
    except ImportError:
        pass
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=DTYPES[entry["dtype"]])
        out[name] = t.reshape(entry["shape"])
    return out


def main():
    ref, low = load(sys.argv[1]), load(sys.argv[2])
    ok = sorted(ref) == sorted(low)
    if not ok:
        print(f"names differ: {sorted(ref)} vs {sorted(low)}")
    for name, t in low.items():
        if t.dtype not in (torch.bfloat16, torch.float16):
            print(f"{name}: dtype {t.dtype}, expected bfloat16 or float16")
            ok = False
            continue
        want = ref[name].to(t.dtype)
        if t.shape != want.shape or not torch.equal(t.view(torch.int16), want.view(torch.int16)):
            print(f"{name}: {t.dtype} values differ from PyTorch's rounding of the fp32 file")
            ok = False
    print("ok" if ok else "MISMATCH", len(low), "tensors", next(iter(low.values())).dtype)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
