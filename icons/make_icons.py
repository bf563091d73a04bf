#!/usr/bin/env python3
"""Draws Cortex's app icon (a ring around a dot on a dark rounded square)
and writes the PNG sizes, icon.ico and icon.icns that bundles need.
Standard library only; run from anywhere: python3 icons/make_icons.py"""
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def pixel(x, y, n):
    """RGBA of pixel (x, y) in an n x n icon, with 4x4 supersampling."""
    acc = [0.0, 0.0, 0.0, 0.0]
    for sy in range(4):
        for sx in range(4):
            u = (x + (sx + 0.5) / 4) / n * 2 - 1
            v = (y + (sy + 0.5) / 4) / n * 2 - 1
            # Rounded square background.
            r = 0.22
            qx, qy = max(abs(u) - (0.92 - r), 0), max(abs(v) - (0.92 - r), 0)
            if math.hypot(qx, qy) > r:
                continue
            col = (17, 24, 39)
            d = math.hypot(u, v)
            if 0.46 <= d <= 0.66 and not (u > 0.25 and abs(v) < 0.22):
                col = (45, 212, 191)  # the ring, open on the right
            elif d <= 0.2:
                col = (250, 204, 21)  # the dot
            acc[0] += col[0]
            acc[1] += col[1]
            acc[2] += col[2]
            acc[3] += 255
    a = acc[3] / 16
    if a == 0:
        return (0, 0, 0, 0)
    return tuple(int(acc[i] / (acc[3] / 255)) for i in range(3)) + (int(a),)


def png(n):
    rows = []
    for y in range(n):
        row = bytearray([0])
        for x in range(n):
            row.extend(pixel(x, y, n))
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", n, n, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def main():
    sizes = {"32x32.png": 32, "128x128.png": 128, "128x128@2x.png": 256, "icon.png": 512}
    cache = {}
    for name, n in sizes.items():
        cache[n] = png(n)
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(cache[n])
    # ICO with embedded PNGs (32 and 256).
    entries = [(32, cache[32]), (256, cache[256])]
    header = struct.pack("<HHH", 0, 1, len(entries))
    offset = 6 + 16 * len(entries)
    dirs, blobs = b"", b""
    for n, data in entries:
        dirs += struct.pack("<BBBBHHII", n % 256, n % 256, 0, 0, 1, 32, len(data), offset + len(blobs))
        blobs += data
    with open(os.path.join(HERE, "icon.ico"), "wb") as f:
        f.write(header + dirs + blobs)
    # ICNS with PNG entries (ic08 = 256, ic09 = 512).
    body = b""
    for tag, n in ((b"ic08", 256), (b"ic09", 512)):
        body += tag + struct.pack(">I", 8 + len(cache[n])) + cache[n]
    with open(os.path.join(HERE, "icon.icns"), "wb") as f:
        f.write(b"icns" + struct.pack(">I", 8 + len(body)) + body)


if __name__ == "__main__":
    main()
