"""Times diffusers' AutoencoderKL decode of one latent (the sd-vae-ft-ema architecture at random
initialisation; the weights do not change the time) and writes what `promoe decode` needs to time
the same decode (docs/PERF.md):

    python3 tests/twin/bench_vae_decode.py OUT_DIR [--size 256] [--threads 2] [--repeats 3]
    build/apps/promoe decode --vae OUT_DIR/vae --latents OUT_DIR/latents.safetensors --out OUT_DIR/x.npz --threads 2

OUT_DIR/vae is a diffusers model folder (335 MB), OUT_DIR/latents.safetensors holds `samples`
(1, 4, size/8, size/8) in the diffusion model's space (z * 0.18215).
"""
import argparse
import os
import time

import torch
from safetensors.torch import save_file

from sd_vae import random_sd_vae


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    vae = random_sd_vae(os.path.join(a.out, "vae"))
    z = torch.randn(1, 4, a.size // 8, a.size // 8)
    save_file({"samples": z * 0.18215}, os.path.join(a.out, "latents.safetensors"))
    with torch.no_grad():
        vae.decode(z)  # warm-up
        times = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            vae.decode(z)
            times.append(time.perf_counter() - t)
    print(f"diffusers decode of 1 x {a.size}px on {a.threads} threads: best {min(times):.2f} s of {a.repeats}")


if __name__ == "__main__":
    main()
