#!/usr/bin/env python3
"""Re-encodes an 8-bit RGB PNG (a Chromium screenshot) as a 256-colour palette PNG, so the README's
screenshot stays small (Chromium's own encoding of the page is ~450 KB). Python's standard library
only: zlib for the streams, median cut for the palette.
    python3 bench/report/palette.py IN.png OUT.png"""
import struct
import sys
import zlib


def read_rgb(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', path + ': not a PNG'
    pos, idat = 8, b''
    while pos < len(data):
        n, = struct.unpack('>I', data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, path + ': expected 8-bit RGB(A), not interlaced'
        elif kind == b'IDAT':
            idat += body
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):  # undo the per-row filters (PNG spec, section 9)
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for i, v in enumerate(line) if i % 4 != 3))
        prev = line
    return w, h, rows


def median_cut(hist, n):
    """Up to n colours: boxes of (colour, count) split at the weighted median of their widest channel."""
    boxes = [list(hist.items())]
    while len(boxes) < n:
        def spread(box):
            return max(max(c[k] for c, _ in box) - min(c[k] for c, _ in box) for k in range(3)) if len(box) > 1 else -1
        i = max(range(len(boxes)), key=lambda j: spread(boxes[j]) * sum(m for _, m in boxes[j]) ** 0.5)
        box = boxes[i]
        if spread(box) <= 0:
            break
        k = max(range(3), key=lambda k: max(c[k] for c, _ in box) - min(c[k] for c, _ in box))
        box.sort(key=lambda cm: cm[0][k])
        total, acc, cut = sum(m for _, m in box), 0, 1
        for j, (_, m) in enumerate(box):
            acc += m
            if acc >= total / 2:
                cut = max(1, min(len(box) - 1, j))
                break
        boxes[i:i + 1] = [box[:cut], box[cut:]]
    palette = []
    for box in boxes:
        total = sum(m for _, m in box)
        palette.append(tuple(round(sum(c[k] * m for c, m in box) / total) for k in range(3)))
    return palette


def main(src, dst):
    w, h, rows = read_rgb(src)
    hist = {}
    for row in rows:
        for i in range(0, len(row), 3):
            c = row[i:i + 3]
            hist[c] = hist.get(c, 0) + 1
    palette = median_cut({tuple(c): m for c, m in hist.items()}, 256)
    nearest = {}
    for c in hist:  # each distinct colour once
        r, g, b = c
        nearest[c] = min(range(len(palette)), key=lambda j: (palette[j][0] - r) ** 2 + (palette[j][1] - g) ** 2 + (palette[j][2] - b) ** 2)
    raw = bytearray()
    for row in rows:
        raw.append(0)
        raw.extend(nearest[row[i:i + 3]] for i in range(0, len(row), 3))

    def chunk(kind, body):
        return struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body) & 0xffffffff)
    out = b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 3, 0, 0, 0))
    out += chunk(b'PLTE', b''.join(bytes(c) for c in palette)) + chunk(b'IDAT', zlib.compress(bytes(raw), 9)) + chunk(b'IEND', b'')
    open(dst, 'wb').write(out)
    print(f'{dst}: {w}×{h}, {len(hist)} colours → {len(palette)}, {len(out)} bytes')


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
