#!/usr/bin/env python3
"""Writes the fuzz targets' seeds (tests/fuzz/seeds/<target>/, committed; rerun to change them)."""
import gzip
import io
import json
import os
import struct
import zipfile
import zlib

here = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(here, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, meta=None):
    hdr, data = {}, b""
    if meta:
        hdr["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def i64(*v):
    return struct.pack("<%dq" % len(v), *v)


TINY = {"input_size": 4, "in_channels": 1, "patch_size": 2, "hidden_size": 8, "depth": 1, "num_heads": 2,
        "mlp_ratio": 2.0, "num_classes": 2, "learn_sigma": False, "class_dropout_prob": 0.1}
TINY_MOE = dict(TINY, moe={"type": "promoe_tc", "num_experts": 2, "top_k": 1, "moe_intermediate_size": 8,
                           "shared_expert_intermediate_size": 8, "use_shared_expert": True})

put("safetensors", "f32_i64_bf16", safetensors({"a": ("F32", [2, 2], f32(1, 2, 3, 4)), "b": ("I64", [2], i64(1, 2)),
                                                 "c": ("BF16", [2], b"\x80\x3f\x00\x40")}, {"k": "v"}))
put("safetensors", "empty_and_scalar", safetensors({"e": ("F64", [0, 3], b""), "s": ("F32", [], f32(5))}))
put("latents", "two_samples", safetensors({"latents": ("F32", [2, 1, 2, 2], f32(*range(8))),
                                           "labels": ("I64", [2], i64(0, 1))}))
put("latents", "float_labels", safetensors({"latents": ("F32", [1, 1, 1, 1], f32(0)), "labels": ("F32", [1], f32(1))}))
meta = {"format": "promoe-checkpoint-1", "model_config": json.dumps(TINY), "step": "3", "adam_step": "3",
        "rng_seed": "1", "rng_offset": "12", "train_config": "{}"}
put("checkpoint", "metadata_only", safetensors({"model.pos_embed": ("F32", [1], f32(0))}, meta))
put("case", "inputs_only", safetensors({"input.x0": ("F32", [1, 1, 4, 4], f32(*range(16))),
                                        "input.noise": ("F32", [1, 1, 4, 4], f32(*range(16))),
                                        "input.y": ("I64", [1], i64(1)), "input.sigma": ("F32", [1], f32(0.5))},
                                       {"config": json.dumps(TINY), "objective": "rf"}))
put("model_config", "dense", json.dumps(TINY).encode())
put("model_config", "promoe_tc", json.dumps(TINY_MOE).encode())
put("model_config", "ec", json.dumps(dict(TINY, moe={"type": "ec", "num_experts": 2, "top_k": 1,
                                                     "moe_intermediate_size": 8})).encode())


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


# fuzz_idx reads the first byte as max_items (255: all), the rest as the file.
put("idx", "images", b"\xff" + idx([2, 2, 2], bytes(range(8))))
put("idx", "labels_cut", b"\x01" + idx([3], b"\x01\x02\x03"))


def npy(descr, shape, raw):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join("%d, " % s for s in shape))
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + raw


put("npy", "f4", npy("<f4", [2, 2], f32(1, 2, 3, 4)))
put("npy", "i4", npy("<i4", [3], struct.pack("<3i", 1, 2, 3)))
put("npy", "i8_v2", b"\x93NUMPY\x02\x00" + struct.pack("<I", 118) + npy("<i8", [1], i64(7))[10:])


# fuzz_latent_shards: a 2-byte index length, index.json, then one shard file.
def latent_shard_input(index, shard):
    text = json.dumps(index).encode()
    return struct.pack("<H", len(text)) + text + shard


SHARD_INDEX = {"format": "promoe-latent-shards", "version": 1, "shape": [4, 2, 3], "dtype": "F32", "moments": True,
               "flips": True, "num_classes": 3, "scaling_factor": 0.18215, "size": 2,
               "shards": [{"file": "shard-00000.safetensors", "entries": 2}]}
SHARD = safetensors({"latents": ("F32", [2, 4, 2, 3], f32(*range(48))),
                     "latents_flip": ("F32", [2, 4, 2, 3], f32(*range(48))), "labels": ("I64", [2], i64(0, 2))})
put("latent_shards", "moments_flips", latent_shard_input(SHARD_INDEX, SHARD))
put("latent_shards", "plain_two_shards", latent_shard_input(
    dict(SHARD_INDEX, moments=False, flips=False, size=3, shards=[{"file": "a.safetensors", "entries": 2},
                                                                  {"file": "b.safetensors", "entries": 1}]),
    safetensors({"latents": ("F32", [2, 4, 2, 3], f32(*range(48))), "labels": ("I64", [2], i64(1, 1))})))


# fuzz_npz starts from the archives numpy wrote for the reader's tests (tests/data/make_npz.py).
for name in ("npz_stored.npz", "npz_deflated.npz"):
    with open(os.path.join(here, "..", "data", name), "rb") as f:
        put("npz", name, f.read())


def npz(members, method, zip64=False):
    """A zip of .npy members (name -> bytes), fixed timestamps, stored or deflated, zip64 records
    in the local headers when asked."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            with z.open(info, "w", force_zip64=zip64) as f:
                f.write(data)
    return buf.getvalue()


# Members the numpy archives lack: '|u1' bytes, a 0-d scalar, a version 2.0 header, '<i4' data
# at an odd offset (an unpadded header), and zip64 local records over deflated data.
u1 = npy("|u1", [2, 3], bytes([0, 1, 2, 127, 128, 255]))
odd = b"\x93NUMPY\x01\x00" + struct.pack("<H", 63) + b"{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }" + \
    b" " * 5 + b"\n" + struct.pack("<2i", -1, 7)
members = {"bytes": u1, "scalar": npy("<i8", [], i64(3)), "odd": odd, "v2": b"\x93NUMPY\x02\x00" +
           struct.pack("<I", 118) + npy("<f8", [1], struct.pack("<d", 0.5))[10:]}
put("npz", "members_stored.npz", npz(members, zipfile.ZIP_STORED))
put("npz", "members_zip64_deflated.npz", npz(members, zipfile.ZIP_DEFLATED, zip64=True))


def png(width, height, colour_type, bit_depth, rows):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)  # filter type 0 on every row
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


put("png", "grey_4x2", png(4, 2, 0, 8, [bytes([0, 64, 128, 255]), bytes([255, 128, 64, 0])]))
put("png", "rgb_2x2", png(2, 2, 2, 8, [bytes(range(6)), bytes(range(6, 12))]))
put("png", "grey_1bit_16x1", png(16, 1, 0, 1, [b"\xa5\x0f"]))
