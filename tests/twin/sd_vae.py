"""The sd-vae-ft-ema architecture (tests/data/vae/sd_vae_ft_ema_config.json) at random
initialisation, saved as a diffusers model folder: what the VAE benchmarks time (the weights do
not change the time)."""
import json
import os

import torch
from diffusers import AutoencoderKL

HERE = os.path.dirname(os.path.abspath(__file__))


def random_sd_vae(folder: str) -> AutoencoderKL:
    """Builds the VAE with seed 0, writes it to `folder` (335 MB, safetensors) and returns it in eval mode."""
    with open(os.path.join(HERE, "..", "data", "vae", "sd_vae_ft_ema_config.json")) as fh:
        config = {k: v for k, v in json.load(fh).items() if not k.startswith("_")}
    torch.manual_seed(0)
    vae = AutoencoderKL(**config).eval()
    vae.save_pretrained(folder, safe_serialization=True)
    return vae
