#!/usr/bin/env python3
"""Writes the crafted files of tests/cli/hostile/ (committed; rerun only to change them).

Each file is small and lies about its size or shape; every command that reads files must refuse
each with a one-line error, a non-zero exit and memory bounded by the bytes really present.
Usage: python3 tests/cli/make_hostile.py [OUT_DIR]
"""
import gzip
import io
import json
import os
import struct
import sys
import zipfile

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "hostile")


def safetensors(header, data=b""):
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def latents(n=4, c=1, s=32, labels=None, labels_data=None):
    lat = struct.pack("<%df" % (n * c * s * s), *([0.0] * (n * c * s * s)))
    lab = labels_data if labels_data is not None else struct.pack("<%dq" % n, *range(n))
    hdr = {"latents": tensor("F32", [n, c, s, s], 0, len(lat))}
    hdr["labels"] = labels or tensor("I64", [n], len(lat), len(lat) + len(lab))
    return safetensors(hdr, lat + lab)


def idx(dims, data=b""):
    return bytes([0, 0, 8, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def npy(descr, shape, data=b""):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data


def pickle_tensor(key, numel, offset, shape, strides):
    """torch._utils._rebuild_tensor_v2 over ('storage', torch.FloatStorage, key, 'cpu', numel), as torch.save pickles it."""
    def i(v):
        return b"\x8a\x08" + struct.pack("<q", v)

    def s(v):
        return b"X" + struct.pack("<I", len(v)) + v.encode()

    def tup(vs):
        return b"(" + b"".join(i(v) for v in vs) + b"t"
    return (b"ctorch._utils\n_rebuild_tensor_v2\n((" + s("storage") + b"ctorch\nFloatStorage\n" + s(key) + s("cpu")
            + i(numel) + b"tQ" + i(offset) + tup(shape) + tup(strides) + b"\x89ccollections\nOrderedDict\n)Rt" + b"R")


def pth(pickle_body, storages=(), proto=True):
    """A torch.save-style archive (stored members) around a pickled dict body."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", (b"\x80\x02" if proto else b"") + pickle_body + b".")
        z.writestr("archive/byteorder", b"little")
        for key, data in storages:
            z.writestr("archive/data/" + key, data)
    return buf.getvalue()


def state_dict(entries):
    return b"}(" + b"".join(b"X" + struct.pack("<I", len(k)) + k.encode() + v for k, v in entries) + b"u"


files = {
    # numel * 8 wraps to 8: 2^61 + 1 elements "stored" in 8 bytes.
    "st_i64_numel_wraps.safetensors": safetensors({"x": tensor("I64", [2**61 + 1], 0, 8)}, b"\0" * 8),
    # 2^31 * 2^31 * 4 bytes wraps to 0.
    "st_f32_bytes_wrap_zero.safetensors": safetensors({"x": tensor("F32", [2**31, 2**31], 0, 0)}),
    # Valid latents, labels F32 [2^62] with an empty data range.
    "latents_labels_numel_wraps.safetensors": latents(labels=tensor("F32", [2**62], 4 * 32 * 32 * 4, 4 * 32 * 32 * 4),
                                                      labels_data=b""),
    # Latents [4, 1, 2^30, 2^30] "stored" in 0 bytes (4 * 2^62 wraps), with valid labels: train refuses
    # the sample shape, routing indexed into it.
    "latents_shape_bytes_wrap.safetensors": safetensors(
        {"latents": tensor("F32", [4, 1, 2**30, 2**30], 0, 0), "labels": tensor("I64", [4], 0, 32)},
        struct.pack("<4q", 0, 1, 2, 3)),
    # Latents of the wrong sample shape (1, 2, 2) for a 32x32 model.
    "latents_wrong_sample_shape.safetensors": latents(s=2),
    # Shape entries that do not fit int64.
    "st_shape_beyond_int64.safetensors": safetensors({"x": tensor("F32", [2**63 + 5], 0, 0)}),
    # Offsets beyond the file.
    "st_offsets_beyond_file.safetensors": safetensors({"x": tensor("F32", [4], 0, 2**62)}, b"\0" * 16),
    # Header length beyond the file.
    "st_header_length_lies.safetensors": struct.pack("<Q", 2**40) + b"{}",
    # A checkpoint header whose model config claims an enormous model, holding no tensors.
    "ckpt_huge_config.safetensors": safetensors({"__metadata__": {
        "format": "promoe-checkpoint-1", "step": "1", "rng_seed": "0", "rng_offset": "0", "adam_step": "1",
        "model_config": json.dumps({"input_size": 32, "in_channels": 1, "patch_size": 2, "hidden_size": 1 << 20,
                                    "depth": 1 << 10, "num_heads": 16, "num_classes": 10})}}),
    # A parity case whose config claims an enormous model.
    "case_huge_config.safetensors": safetensors({"__metadata__": {
        "config": json.dumps({"input_size": 32, "in_channels": 1, "patch_size": 2, "hidden_size": 1 << 20,
                              "depth": 1 << 10, "num_heads": 16, "num_classes": 10})}}),
    # .npy shapes whose product overflows int64 / whose data is missing.
    "npy_claims_more_than_file.npy": npy("<f4", [4, 1, 32, 32], b"\0" * 16),
    # .pth archives: a storage claiming 2^60 floats held in 16 bytes; a view reaching past its storage;
    # sizes whose product wraps; a global that would run code; a cut archive; a data.pkl claiming a
    # 2 GiB string; a list nested 20000 deep.
    "pth_storage_claims_2e60.pth": pth(state_dict([("w", pickle_tensor("0", 2**60, 0, [4], [1]))]), [("0", b"\0" * 16)]),
    "pth_view_beyond_storage.pth": pth(state_dict([("w", pickle_tensor("0", 4, 3, [2, 2], [2, 1]))]), [("0", b"\0" * 16)]),
    "pth_shape_wraps.pth": pth(state_dict([("w", pickle_tensor("0", 4, 0, [2**32, 2**32, 2**2], [0, 0, 1]))]),
                               [("0", b"\0" * 16)]),
    "pth_global_os_system.pth": pth(b"cos\nsystem\nX\x04\x00\x00\x00true\x85R"),
    "pth_cut_in_half.pth": pth(state_dict([("w", pickle_tensor("0", 4, 0, [4], [1]))]), [("0", b"\0" * 16)])[:200],
    "pth_string_claims_2gb.pth": pth(b"X\xff\xff\xff\x7fabc"),
    "pth_nested_lists.pth": pth(b"]" * 20000 + b"a" * 19999),
}
# IDX directories (a Fashion-MNIST layout: the train and t10k splits).
idx_dirs = {
    # A 16-byte image file claiming 3M 28x28 images.
    "idx_claims_3m_images": (idx([3000000, 28, 28]), idx([3000000])),
    # dims 2^18 x 2^18 x 2^28 wrap to 0 bytes.
    "idx_dims_wrap": (idx([1 << 18, 1 << 18, 1 << 28]), idx([0])),
    # Claims 3M images; holds one.
    "idx_claims_more_than_file": (idx([3000000, 28, 28], b"\0" * 784), idx([3000000], b"\0")),
}
os.makedirs(out, exist_ok=True)
for name, data in files.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
for name, (images, labels) in idx_dirs.items():
    for zipped in (False, True):
        d = os.path.join(out, name + ("_gz" if zipped else ""))
        os.makedirs(d, exist_ok=True)
        for split in ("train", "t10k"):
            for stem, data in ((split + "-images-idx3-ubyte", images), (split + "-labels-idx1-ubyte", labels)):
                path = os.path.join(d, stem + (".gz" if zipped else ""))
                with open(path, "wb") as f:
                    f.write(gzip.compress(data, mtime=0) if zipped else data)
# The valid data the bad-input tests train their fixture checkpoint on (4 samples of 1x32x32).
with open(os.path.join(os.path.dirname(out), "valid_latents.safetensors"), "wb") as f:
    f.write(latents())
# A .npy pair whose latents shape overflows int64.
d = os.path.join(out, "npy_shape_overflows")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "latents.npy"), "wb") as f:
    f.write(npy("<f4", [2**48, 2**48]))
with open(os.path.join(d, "labels.npy"), "wb") as f:
    f.write(npy("<i8", [4], struct.pack("<4q", 0, 1, 2, 3)))
# A latent .npy pair: latents claiming more than the file holds, with valid labels.
d = os.path.join(out, "npy_pair_truncated")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "latents.npy"), "wb") as f:
    f.write(npy("<f4", [4, 1, 32, 32], b"\0" * 16))
with open(os.path.join(d, "labels.npy"), "wb") as f:
    f.write(npy("<i8", [4], struct.pack("<4q", 0, 1, 2, 3)))
