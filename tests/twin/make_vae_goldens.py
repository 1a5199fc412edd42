"""Writes the AutoencoderKL goldens under tests/data/vae/ with diffusers (a test tool; CI never runs
it, the small files are committed):

    python3 tests/twin/make_vae_goldens.py            # needs torch, diffusers, safetensors

For each small random configuration in CONFIGS it builds diffusers' AutoencoderKL, perturbs every
parameter (so GroupNorm affines and biases are not the identity / zero of a fresh model), saves
the model folder as diffusers writes it (config.json, diffusion_pytorch_model.safetensors) and
`golden.safetensors` with:

    x       (B, in, H, W)       input images in [-1, 1]
    mean    (B, latent, h, w)   the posterior's mean of encode(x)
    logvar  (B, latent, h, w)   its log-variance (clamped to [-30, 20] by diffusers)
    z       (B, latent, h, w)   random latents
    decoded (B, out, H, W)      decode(z)

and beside the folder <name>_latents.safetensors: `samples` = z * scaling_factor (latents in the
diffusion model's space, as `promoe sample` writes them) and `labels`, for `promoe decode`.

`headroom` in the metadata is the largest |float32 - float64| over those outputs, from the same
float32 parameters and inputs, relative to the output's largest magnitude: the C++ test's
tolerance must stay well above it. The model `old_names` stores its mid-block attention under the
names older diffusers wrote (query, key, value, proj_attn).

It also writes sd_vae_ft_ema_shapes.json: every parameter name and shape of the full SD VAE
configuration (sd_vae_ft_ema_config.json) at random initialisation, and the parameter count; and
the seeds of the VAE fuzz targets (tests/fuzz/seeds/vae_config, vae_weights: the weights of
tests/fuzz/fuzz_vae_weights.cpp's fixed configuration FUZZ_CONFIG, under the new and the old
attention names).
"""
from __future__ import annotations

import json
import os
import shutil

import torch
from diffusers import AutoencoderKL
from safetensors.torch import load_file, save_file

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "vae"))

BASE = dict(in_channels=3, out_channels=3, act_fn="silu")
CONFIGS = {
    # two blocks, one ResNet per down block, groups of 4 channels, a 16 x 16 image pair
    "two_blocks": dict(BASE, block_out_channels=[16, 32], layers_per_block=1, norm_num_groups=8, latent_channels=4,
                       down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                       scaling_factor=0.18215, image=16, batch=2),
    # three blocks, two ResNets per down block (three per up block), the old
    # attention names, 4 -> 2 image channels, 32 x 32
    "old_names": dict(in_channels=4, out_channels=2, act_fn="silu", block_out_channels=[16, 16, 32],
                      layers_per_block=2, norm_num_groups=16, latent_channels=3,
                      down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
                      scaling_factor=0.5, image=32, batch=1),
}
FUZZ_CONFIG = dict(block_out_channels=[4, 8], norm_num_groups=2, latent_channels=2, in_channels=1, out_channels=1,
                   layers_per_block=1, down_block_types=["DownEncoderBlock2D"] * 2,
                   up_block_types=["UpDecoderBlock2D"] * 2)
SEEDS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz", "seeds"))
OLD_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def old_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renamed = {}
    for k, v in state.items():
        for new, old in OLD_NAMES.items():
            k = k.replace(f".attentions.0.{new}.", f".attentions.0.{old}.")
        renamed[k] = v
    return renamed


def perturb(model: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))


def run(model: AutoencoderKL, x: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        post = model.encode(x).latent_dist
        return {"mean": post.mean, "logvar": post.logvar, "decoded": model.decode(z).sample}


def write_case(name: str, spec: dict) -> None:
    spec = dict(spec)
    image, batch = spec.pop("image"), spec.pop("batch")
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)
    model = AutoencoderKL(**spec).eval()
    perturb(model, gen)
    f = 2 ** (len(spec["block_out_channels"]) - 1)
    x = torch.rand((batch, spec["in_channels"], image, image), generator=gen) * 2 - 1
    z = torch.randn((batch, spec["latent_channels"], image // f, image // f), generator=gen)
    out = run(model, x, z)
    out64 = run(model.double(), x.double(), z.double())
    model.float()
    headroom = max(float((out[k].double() - out64[k]).abs().max() / out64[k].abs().max()) for k in out)
    assert headroom < 1e-5, (name, headroom)

    folder = os.path.join(OUT, name)
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    weights = os.path.join(folder, "diffusion_pytorch_model.safetensors")
    if name == "old_names":
        save_file(old_names(load_file(weights)), weights, metadata={"format": "pt"})
    tensors = {"x": x, "z": z, **out}
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, os.path.join(folder, "golden.safetensors"),
              metadata={"headroom": f"{headroom:.3e}"})
    # Latents in the diffusion model's space, as `promoe sample --out x.safetensors` writes them,
    # for the command-line decode test: z * scaling_factor with labels.
    save_file({"labels": torch.arange(batch, dtype=torch.int64) + 3, "samples": z * spec["scaling_factor"]},
              os.path.join(OUT, f"{name}_latents.safetensors"))
    # The folder reloads in diffusers and gives the same outputs.
    again = run(AutoencoderKL.from_pretrained(folder).eval(), x, z)
    for k in out:
        assert torch.equal(again[k], out[k]), (name, k)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, headroom {headroom:.2e}")


def write_shapes() -> None:
    with open(os.path.join(OUT, "sd_vae_ft_ema_config.json")) as fh:
        config = {k: v for k, v in json.load(fh).items() if not k.startswith("_")}
    model = AutoencoderKL(**config)
    shapes = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    count = sum(p.numel() for p in model.parameters())
    with open(os.path.join(OUT, "sd_vae_ft_ema_shapes.json"), "w") as fh:  # one tensor a line
        rows = ",\n".join(json.dumps(s) for s in shapes)
        fh.write(f'{{"parameters": {count}, "tensors": [\n{rows}\n]}}\n')
    print(f"sd-vae-ft-ema: {count} parameters, {len(shapes)} tensors")


def write_fuzz_seeds() -> None:
    os.makedirs(os.path.join(SEEDS, "vae_config"), exist_ok=True)
    os.makedirs(os.path.join(SEEDS, "vae_weights"), exist_ok=True)
    for name in CONFIGS:
        shutil.copy(os.path.join(OUT, name, "config.json"), os.path.join(SEEDS, "vae_config", name))
    shutil.copy(os.path.join(OUT, "sd_vae_ft_ema_config.json"), os.path.join(SEEDS, "vae_config", "sd_vae_ft_ema"))
    torch.manual_seed(7)
    state = {k: v.contiguous() for k, v in AutoencoderKL(**FUZZ_CONFIG).state_dict().items()}
    save_file(state, os.path.join(SEEDS, "vae_weights", "tiny"))
    save_file(old_names(state), os.path.join(SEEDS, "vae_weights", "tiny_old_names"))


def main() -> None:
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    for name, spec in CONFIGS.items():
        write_case(name, spec)
    write_shapes()
    write_fuzz_seeds()


if __name__ == "__main__":
    main()
