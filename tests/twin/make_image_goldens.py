"""Writes the image-reading and resampling goldens under tests/data/images/ with Pillow (a test
tool; CI never runs it, the small files are committed):

    python3 tests/twin/make_image_goldens.py          # needs numpy and Pillow

tree/: a tiny class-folder tree of synthetic images as JPEG (4:2:0, 4:4:4, progressive,
greyscale, CMYK) and PNG (RGB, RGBA, palette, greyscale), the input of `promoe encode` in the
tests. pillow.npz holds, as uint8 arrays (sizes and hashes int64):

    <name>.rgb        Image.open(file).convert("RGB") of tree/<name>, (H, W, 3)
    <name>.crop16     center_crop_arr(that, 16), the ADM centre crop (16, 16, 3)
    <name>.crop12     center_crop_arr(that, 12)
    resize<i>.in      a random image (H, W, 3)
    resize<i>.box     its Image.resize((w, h), Image.BOX), w and h in resize<i>.size
    resize<i>.bicubic its Image.resize((w, h), Image.BICUBIC)
    large<k>.crop256  center_crop_arr to 256 of the patterned image large_pattern(h, w) of
                      large<k>.size = [h, w] (ImageNet-sized: 375 x 500, 900 x 1200, 500 x 333),
                      every 7th row and column of it (37, 37, 3)
    large<k>.fnv      the 64-bit FNV-1a hash of all of that crop's bytes (as int64)

images.npz: arr_0, three uint8 photos (3, 20, 24, 3), and arr_1, their labels [0, 2, 2], the
array input of `promoe encode`.

center_crop_arr is guided-diffusion's, as the official ProMoE preprocessing uses it. The tree's
files are also the seeds of the fuzz target fuzz_image (tests/fuzz/seeds/image).
"""
from __future__ import annotations

import io
import os
import shutil

import numpy as np
from PIL import Image

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "images"))
SEEDS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "seeds", "image"))


def center_crop_arr(pil_image: Image.Image, image_size: int) -> np.ndarray:
    while min(*pil_image.size) >= 2 * image_size:
        pil_image = pil_image.resize(tuple(x // 2 for x in pil_image.size), resample=Image.BOX)
    scale = image_size / min(*pil_image.size)
    pil_image = pil_image.resize(tuple(round(x * scale) for x in pil_image.size), resample=Image.BICUBIC)
    arr = np.array(pil_image)
    crop_y = (arr.shape[0] - image_size) // 2
    crop_x = (arr.shape[1] - image_size) // 2
    return arr[crop_y : crop_y + image_size, crop_x : crop_x + image_size]


def large_pattern(h: int, w: int) -> np.ndarray:
    """An image the C++ test makes too (tests/test_unit_io_image.cpp), so that only its crop is
    committed: ((31 x + 17 y + 71 c) xor (x y)) mod 256."""
    y, x, c = np.mgrid[0:h, 0:w, 0:3].astype(np.int64)
    return (((x * 31 + y * 17 + c * 71) ^ (x * y)) & 255).astype(np.uint8)


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h - (1 << 64) if h >= 1 << 63 else h


LARGE = [(375, 500), (900, 1200), (500, 333)]


def photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth gradients and blobs with some noise: JPEG-like content with edges."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(x / (3 + c) + y / (5 + 2 * c) + c) for c in range(3)], axis=-1)
    img[(x - w / 3) ** 2 + (y - h / 2) ** 2 < (min(h, w) / 4) ** 2] = [250, 30, 60]
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


# name -> (height, width, how it is saved)
TREE = {
    "n01/a_420.JPEG": (50, 37, dict(format="JPEG", quality=90)),
    "n01/b_444.jpg": (29, 13, dict(format="JPEG", quality=95, subsampling=0)),
    "n01/c_progressive.jpeg": (71, 140, dict(format="JPEG", quality=85, progressive=True)),
    "n01/d_grey.jpg": (40, 33, dict(format="JPEG", quality=90, mode="L")),
    "n02/e_cmyk.jpg": (24, 30, dict(format="JPEG", quality=90, mode="CMYK")),
    "n02/f_rgb.png": (16, 16, dict(format="PNG")),
    "n02/g_rgba.png": (8, 11, dict(format="PNG", mode="RGBA")),
    "n02/h_palette.png": (35, 20, dict(format="PNG", mode="P")),
    "n02/i_grey.PNG": (13, 8, dict(format="PNG", mode="L")),
}
# (input height, width) -> (output width, height): down by non-integer and integer factors, up,
# one axis only.
RESIZES = [((23, 37), (16, 9)), ((16, 16), (8, 8)), ((7, 5), (13, 11)), ((30, 12), (12, 17)), ((9, 40), (40, 4))]


def main() -> None:
    rng = np.random.default_rng(2024)
    shutil.rmtree(os.path.join(OUT, "tree"), ignore_errors=True)
    arrays: dict[str, np.ndarray] = {}
    for name, (h, w, how) in TREE.items():
        how = dict(how)
        mode = how.pop("mode", "RGB")
        img = Image.fromarray(photo(rng, h, w))
        if mode == "P":
            img = img.quantize(colors=16)
        elif mode == "RGBA":
            a = rng.integers(0, 256, (h, w), dtype=np.uint8)
            img = Image.fromarray(np.dstack([np.array(img), a]), "RGBA")
        else:
            img = img.convert(mode)
        path = os.path.join(OUT, "tree", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        img.save(path, **how)
        os.makedirs(SEEDS, exist_ok=True)
        shutil.copy(path, os.path.join(SEEDS, os.path.basename(name)))
        rgb = Image.open(path).convert("RGB")
        arrays[f"{name}.rgb"] = np.array(rgb)
        arrays[f"{name}.crop16"] = center_crop_arr(rgb, 16)
        arrays[f"{name}.crop12"] = center_crop_arr(rgb, 12)
    for i, ((h, w), (ow, oh)) in enumerate(RESIZES):
        src = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img = Image.fromarray(src)
        arrays[f"resize{i}.in"] = src
        arrays[f"resize{i}.size"] = np.array([ow, oh], dtype=np.int64)
        arrays[f"resize{i}.box"] = np.array(img.resize((ow, oh), resample=Image.BOX))
        arrays[f"resize{i}.bicubic"] = np.array(img.resize((ow, oh), resample=Image.BICUBIC))
    for k, (h, w) in enumerate(LARGE):
        crop = np.ascontiguousarray(center_crop_arr(Image.fromarray(large_pattern(h, w)), 256))
        arrays[f"large{k}.size"] = np.array([h, w], dtype=np.int64)
        arrays[f"large{k}.crop256"] = crop[::7, ::7]
        arrays[f"large{k}.fnv"] = np.array([fnv1a(crop.tobytes())], dtype=np.int64)
    np.savez_compressed(os.path.join(OUT, "pillow.npz"), **arrays)
    np.savez(os.path.join(OUT, "images.npz"), np.stack([photo(rng, 20, 24) for _ in range(3)]),
             np.array([0, 2, 2], dtype=np.int64))
    import PIL

    print(f"Pillow {PIL.__version__}: {len(TREE)} images, {len(RESIZES)} resizes")


if __name__ == "__main__":
    main()
