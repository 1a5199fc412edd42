#!/usr/bin/env python3
"""Writes a synthetic latent set (docs/LATENTS.md) of a chosen size, for measuring streaming:
posterior moments (means ~ N(0, 1), log-variances ~ N(-4, 1)) with flipped copies and uniform
labels, as a sharded set (shards first, index.json last) or, with --tree, as the official
ProMoE latent cache (class folders of .latent.npz files). Needs only numpy.

  python3 scripts/make_synthetic_latents.py --out /work/synthetic_3g --entries 49152
  python3 scripts/make_synthetic_latents.py --out /work/synthetic_tree --entries 2000 --classes 10 --tree
"""
import argparse
import json
import os
import struct

import numpy as np


def write_shard(path, tensors):
    header, offset = {}, 0
    for name, array in tensors:
        header[name] = {"dtype": {np.float32: "F32", np.int64: "I64"}[array.dtype.type], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _, array in tensors:
            f.write(np.ascontiguousarray(array).tobytes())
    os.replace(path + ".tmp", path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--entries", type=int, required=True)
    p.add_argument("--shape", default="8,32,32", help="C,H,W of one entry (moments: 2x the latent channels)")
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--shard-size", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tree", action="store_true", help="write ROOT/nXXXXX/IMAGE.latent.npz files instead")
    a = p.parse_args()
    shape = [int(s) for s in a.shape.split(",")]
    half = shape[0] // 2
    os.makedirs(a.out, exist_ok=False)
    rng = np.random.default_rng(a.seed)
    if a.tree:
        for i in range(a.entries):
            x = rng.standard_normal((2, *shape), dtype=np.float32)
            x[:, half:] -= 4.0
            folder = os.path.join(a.out, "n%05d" % rng.integers(0, a.classes))
            os.makedirs(folder, exist_ok=True)
            np.savez_compressed(os.path.join(folder, "img%07d.latent.npz" % i), latent=x[0], latent_flip=x[1])
        print("wrote %s: %d .latent.npz files %s" % (a.out, a.entries, shape))
        return
    shards, left = [], a.entries
    while left > 0:
        n = min(a.shard_size, left)
        variants = []
        for _ in range(2):
            x = rng.standard_normal((n, *shape), dtype=np.float32)
            x[:, half:] -= 4.0
            variants.append(x)
        labels = rng.integers(0, a.classes, size=n, dtype=np.int64)
        name = "shard-%05d.safetensors" % len(shards)
        write_shard(os.path.join(a.out, name), [("latents", variants[0]), ("latents_flip", variants[1]),
                                                ("labels", labels)])
        shards.append({"file": name, "entries": n})
        left -= n
    index = {"format": "promoe-latent-shards", "version": 1, "shape": shape, "dtype": "F32", "moments": True,
             "flips": True, "num_classes": a.classes, "scaling_factor": 0.18215, "size": a.entries, "shards": shards}
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
    print("wrote %s: %d entries %s in %d shards" % (a.out, a.entries, shape, len(shards)))


if __name__ == "__main__":
    main()
