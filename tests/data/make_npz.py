"""Writes the .npz files that tests/test_unit_io_npz.cpp reads: the same arrays through np.savez
(stored members) and np.savez_compressed (deflated members). Run from this folder with numpy:
    python3 make_npz.py
"""
import numpy as np


def arrays():
    images = (np.arange(3 * 4 * 4, dtype=np.int64).reshape(3, 4, 4, 1) * 5 % 256).astype(np.uint8)
    labels = np.array([0, 9, 3], dtype=np.int64)
    floats = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)
    doubles = np.array([0.5, -2.25], dtype=np.float64)
    int32s = np.array([-7, 2147483647], dtype=np.int32)
    return dict(arr_0=images, arr_1=labels, floats=floats, doubles=doubles, int32s=int32s)


if __name__ == "__main__":
    np.savez("npz_stored.npz", **arrays())
    np.savez_compressed("npz_deflated.npz", **arrays())
