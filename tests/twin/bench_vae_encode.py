"""Times `promoe encode` against the official preprocessing in diffusers on the same images, in
interleaved rounds (docs/PERF.md):

    python3 tests/twin/bench_vae_encode.py OUT_DIR --promoe build/apps/promoe [--images 4] [--threads 2] [--rounds 3]

Writes OUT_DIR/vae (the sd-vae-ft-ema architecture at random initialisation; the weights do not
change the time, 335 MB) and OUT_DIR/images/n00/*.jpg (ImageNet-like 500 x 375 JPEG photos).
Each round runs, on `threads` threads, the official preprocess_vae.py path image by image
(Image.open().convert("RGB"), center_crop_arr to 256, ToTensor + Normalize written out, vae.encode
of the image and its flip, np.savez_compressed of latent_dist.parameters), then `promoe encode`
into a fresh folder with --threads THREADS --jobs 1 --batch 1, and prints both wall times (promoe's
as it reports it, reading, cropping, encoding and writing without the VAE's loading, and the
whole process's).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
from diffusers import AutoencoderKL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_image_goldens import center_crop_arr, photo  # noqa: E402
from sd_vae import random_sd_vae  # noqa: E402


def official(vae: AutoencoderKL, paths: list[str], out: str) -> None:
    half = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float32)[:, None, None]
    for p in paths:
        arr = center_crop_arr(Image.open(p).convert("RGB"), 256)
        x = torch.from_numpy(np.array(arr)).permute(2, 0, 1).contiguous().float().div(255).sub_(half).div_(half)[None]
        with torch.no_grad():
            z = vae.encode(x).latent_dist.parameters
            zf = vae.encode(x.flip(dims=[3])).latent_dist.parameters
        name = os.path.join(out, os.path.splitext(os.path.basename(p))[0] + ".latent.npz")
        np.savez_compressed(name, latent=z[0].numpy(), latent_flip=zf[0].numpy())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--promoe", required=True)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    vae = random_sd_vae(os.path.join(a.out, "vae"))
    rng = np.random.default_rng(0)
    folder = os.path.join(a.out, "images", "n00")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(a.images):
        p = os.path.join(folder, f"img{i}.jpg")
        Image.fromarray(photo(rng, 375, 500)).save(p, quality=90)
        paths.append(p)
    official(vae, paths[:1], a.out)  # warm-up
    for r in range(a.rounds):
        out = os.path.join(a.out, "diffusers_latents")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        t = time.perf_counter()
        official(vae, paths, out)
        t_py = time.perf_counter() - t
        out = os.path.join(a.out, "promoe_latents")
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        run = subprocess.run([a.promoe, "encode", "--vae", os.path.join(a.out, "vae"), "--images",
                              os.path.join(a.out, "images"), "--out", out, "--threads", str(a.threads), "--jobs", "1",
                              "--batch", "1", "--quiet"], check=True, capture_output=True, text=True)
        t_cpp = time.perf_counter() - t
        t_enc = float(re.search(r" in ([0-9.]+) s", run.stdout).group(1))
        print(f"round {r}: {a.images} images of 500x375 to 256px latents on {a.threads} threads: "
              f"diffusers {t_py:.2f} s, promoe {t_enc:.2f} s ({t_cpp:.2f} s with its start and VAE load)")
    z = np.load(os.path.join(a.out, "diffusers_latents", "img0.latent.npz"))["latent"]
    w = np.load(os.path.join(a.out, "promoe_latents", "n00", "img0.latent.npz"))["latent"]
    print(f"img0 latent: largest |difference| {np.abs(z - w).max():.2e}, scale {np.abs(z).max():.2f}")


if __name__ == "__main__":
    main()
