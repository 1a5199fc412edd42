#!/usr/bin/env python3
"""Writes the crafted image files of tests/cli/hostile_images/ (committed; rerun only to change
them) from the JPEG and PNG files of tests/data/images/tree. `promoe encode` must refuse each with
one error line naming the file, a non-zero exit and memory bounded by the bytes really present
(tests/cli/hostile_images.sh). Usage: python3 tests/cli/make_hostile_images.py  (needs numpy, Pillow)
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
tree = os.path.join(here, "..", "data", "images", "tree")
out = os.path.join(here, "hostile_images")


def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


def with_sof_size(jpeg, height, width):
    """The JPEG with its start-of-frame's height and width replaced."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = jpeg.find(marker)
        if at >= 0:
            return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]
    raise ValueError("no SOF")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def main():
    os.makedirs(out, exist_ok=True)
    baseline = open(os.path.join(tree, "n01", "a_420.JPEG"), "rb").read()
    progressive = open(os.path.join(tree, "n01", "c_progressive.jpeg"), "rb").read()
    png = open(os.path.join(tree, "n02", "f_rgb.png"), "rb").read()
    put("jpeg_claims_65500x65500.jpg", with_sof_size(baseline, 65500, 65500))
    put("jpeg_progressive_claims_11000x11000.jpg", with_sof_size(progressive, 11000, 11000))
    put("jpeg_cut_in_half.jpg", baseline[: len(baseline) // 2])
    put("jpeg_markers_only.jpg", b"\xff\xd8\xff\xd9")
    put("jpeg_zero_width.jpg", with_sof_size(baseline, 50, 0))
    # A PNG whose header claims 100000 x 100000 RGB pixels with a 20-byte image data chunk.
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    put("png_claims_100000x100000.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
        png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))
    put("png_cut_in_half.png", png[: len(png) // 2])
    put("text_named_jpg.jpg", b"this is not an image\n")
    put("empty.png", b"")
    # A valid 1 x 300000 image: the ADM crop would resize it to 256 x 76800000.
    buf = io.BytesIO()
    Image.fromarray(np.zeros((300000, 1), dtype=np.uint8)).save(buf, format="PNG")
    put("png_1x300000.png", buf.getvalue())
    print(f"{len(os.listdir(out))} files in {out}")


if __name__ == "__main__":
    main()
