#!/usr/bin/env python3
"""Writes fuzz/corpus/{idx,npy,csv,spec}/: small valid and near-valid inputs of each format (the
model seeds are files the real `ae train` wrote; see fuzz/README.md). Run from anywhere:
python3 fuzz/make_seeds.py. Uses only the standard library, so the bytes are spelled out here."""
import gzip
import json
import os
import struct

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(kind, name, data):
    os.makedirs(os.path.join(root, kind), exist_ok=True)
    with open(os.path.join(root, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# IDX: 0 0 type rank, big-endian u32 dims, big-endian elements.
def idx(type_code, fmt, dims, values):
    head = bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + b"".join(struct.pack(">" + fmt, v) for v in values)


put("idx", "u8-images-3x2x2", idx(0x08, "B", [3, 2, 2], range(12)))
put("idx", "u8-labels-4", idx(0x08, "B", [4], [0, 1, 9, 3]))
put("idx", "i8-2x3", idx(0x09, "b", [2, 3], [-1, 0, 1, -128, 127, 5]))
put("idx", "i16-3", idx(0x0B, "h", [3], [-300, 0, 300]))
put("idx", "i32-labels-2", idx(0x0C, "i", [2], [7, -7]))
put("idx", "f32-2x2", idx(0x0D, "f", [2, 2], [0.5, -1.0, 3.25, 0.0]))
put("idx", "f64-1x3", idx(0x0E, "d", [1, 3], [1e-3, 2.0, -4.5]))
put("idx", "u8-images-gzip", gzip.compress(idx(0x08, "B", [2, 3], [0, 128, 255, 1, 2, 3]), mtime=0))
put("idx", "truncated", idx(0x08, "B", [4, 2], range(5)))
put("idx", "trailing", idx(0x08, "B", [2], [1, 2]) + b"\x00")


# NPY: magic, version, little-endian header length, a Python-literal dict padded to 64 bytes.
def npy(descr, shape, payload, fortran=False, version=1):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, repr(tuple(shape)))
    size = 4 if version >= 2 else 2
    pad = -(6 + 2 + size + len(d) + 1) % 64
    header = (d + " " * pad + "\n").encode("latin1" if version < 3 else "utf8")
    length = struct.pack("<I" if version >= 2 else "<H", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header + payload


put("npy", "f4-2x3", npy("<f4", [2, 3], struct.pack("<6f", 1, 2, 3, 4, 5, 6.5)))
put("npy", "f8-2x2x2", npy("<f8", [2, 2, 2], struct.pack("<8d", *range(8))))
put("npy", "u1-3", npy("|u1", [3], bytes([0, 7, 255])))
put("npy", "i2-big-endian-2x1", npy(">i2", [2, 1], struct.pack(">2h", -2, 300)))
put("npy", "i8-2", npy("<i8", [2], struct.pack("<2q", -(1 << 40), 5)))
put("npy", "u4-1x2", npy("<u4", [1, 2], struct.pack("<2I", 1, 4000000000)))
put("npy", "f2-2", npy("<f2", [2], struct.pack("<2e", 0.5, -2.0)))
put("npy", "bool-2x2", npy("|b1", [2, 2], bytes([1, 0, 0, 1])))
put("npy", "fortran-3x1", npy("<f4", [3, 1], struct.pack("<3f", 1, 2, 3), fortran=True))
put("npy", "v2-f4-1x1", npy("<f4", [1, 1], struct.pack("<f", 9.0), version=2))
put("npy", "v3-f4-0x2", npy("<f4", [0, 2], b"", version=3))
put("npy", "object-refused", npy("|O", [1], b"\x00" * 8))
put("npy", "truncated", npy("<f4", [2, 2], struct.pack("<3f", 1, 2, 3)))

# CSV: header or not, quotes, labels, delimiters, CRLF, a BOM, blank lines.
put("csv", "header-label", "a,b,label\n1,2,cat\n3.5,-4e-2,dog\n")
put("csv", "numbers", "1,2,3\n4,5,6\n")
put("csv", "quoted", 'x,"y,z",label\n"1",2,"a ""quoted"" label"\n3,"4","multi\nline"\n')
put("csv", "semicolon", "a;b;c\n1;2;3\n")
put("csv", "tab-crlf-bom", "\ufeffa\tb\r\n1\t2\r\n+3\t 4 \r\n\r\n")
put("csv", "int-labels", "label,1,2\n0,0.5,1\n1,1.5,2\n")
put("csv", "ragged", "1,2\n3\n")
put("csv", "nan", "a,b\nnan,1\n")
put("csv", "empty-cell", "a,b\n,1\n")

# Specs: compact (activations, code marker, options) and JSON (both layouts, tied, sparsity).
put("spec", "default", "784-256r-32-256r-784s")
put("spec", "tiny", "4-2-4")
put("spec", "letters", "8-6k-5s-4t-3u-2e*-3p-4g-8l")
put("spec", "tied-l1", "6-3r-6s:tied:l1=0.001")
put("spec", "json-encoder-decoder", json.dumps(
    {"input": 4, "encoder": [{"units": 2, "act": "relu"}], "decoder": [{"units": 4, "act": "sigmoid"}]}))
put("spec", "json-layers-code", json.dumps({"input": 5, "layers": [3, 2, 3, {"units": 5}], "code": 1}))
put("spec", "json-tied-sparsity", json.dumps(
    {"input": 4, "encoder": [2], "decoder": [4], "tied": True, "sparsity": {"kind": "l1", "lambda": 0.5}}))
put("spec", "kl", "6-3r-2s-3r-6s:kl=0.05,3")
put("spec", "json-kl", json.dumps(
    {"input": 4, "encoder": [{"units": 2, "act": "sigmoid"}], "decoder": [4],
     "sparsity": {"kind": "kl", "rho": 0.05, "beta": 3}}))
put("spec", "bad-letter", "4-2x-4")
put("spec", "bad-json", '{"input": 4, "encoder": [2], "decoder": [4],')
