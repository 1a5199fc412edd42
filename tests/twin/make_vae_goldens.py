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

Encoding images as the official preprocessing does (preprocess/preprocess_vae.py), for `promoe
encode`: two_blocks/encode_golden.safetensors holds, for every image of tests/data/images/tree
(make_image_goldens.py) at --size 16, `<relative path>.latent` and `.latent_flip`: diffusers'
encode(x).latent_dist.parameters (mean and unclamped log-variance over channels, (8, 8, 8)) of
the image through guided-diffusion's center_crop_arr, ToTensor and Normalize(0.5, 0.5), and of its
mirror image, and likewise `npz/<i>.latent` and `npz/<i>.latent_flip` for image i of
tests/data/images/images.npz; its `headroom` is diffusers' float32-vs-float64 error of those. two_blocks_fp16/ is
the same model saved by diffusers as an fp16 variant only (diffusion_pytorch_model.fp16.safetensors),
with golden.safetensors: x, moments (encoder output) and decoded = decode(z) of that model loaded
in float32, and f16_values.safetensors: F16 values of every kind (normal, subnormal, zero, -0, inf,
nan) with their float32 values, written by the safetensors library. latents_4x8x8.safetensors:
8 random latents (8, 4, 8, 8) with labels, a training set for the `promoe sample --vae` test
(a model sampling latents two_blocks decodes).

It also writes sd_vae_ft_ema_shapes.json: every parameter name and shape of the full SD VAE
configuration (sd_vae_ft_ema_config.json) at random initialisation, and the parameter count; and
the seeds of the VAE fuzz targets (tests/fuzz/seeds/vae_config, vae_weights: the weights of
tests/fuzz/fuzz_vae_weights.cpp's fixed configuration FUZZ_CONFIG, under the new and the old
attention names).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np

import torch
from diffusers import AutoencoderKL
from PIL import Image
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_image_goldens import TREE, center_crop_arr  # noqa: E402

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


IMAGES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "images", "tree"))


def preprocess(image, size: int) -> torch.Tensor:
    """The official preprocessing's transform of one image file, (3, size, size) in [-1, 1]:
    center_crop_arr, then torchvision's ToTensor (bytes to float32, divided by 255) and
    Normalize(0.5, 0.5) (x.sub_(0.5).div_(0.5)), written out here as torchvision computes them."""
    pil = image if isinstance(image, Image.Image) else Image.open(image).convert("RGB")
    arr = center_crop_arr(pil, size)
    x = torch.from_numpy(np.array(arr)).permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    half = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float32)[:, None, None]
    return x.sub_(half).div_(half)


def write_encode_golden() -> None:
    folder = os.path.join(OUT, "two_blocks")
    model = AutoencoderKL.from_pretrained(folder).eval()
    names = sorted(TREE)
    arrays = np.load(os.path.join(IMAGES, "..", "images.npz"))["arr_0"]
    names += [f"npz/{i}" for i in range(len(arrays))]
    x = torch.stack([preprocess(os.path.join(IMAGES, n), 16) for n in sorted(TREE)] +
                    [preprocess(Image.fromarray(a), 16) for a in arrays])
    with torch.no_grad():
        moments = model.encode(x).latent_dist.parameters
        flipped = model.encode(x.flip(dims=[3])).latent_dist.parameters
        m64 = model.double().encode(x.double()).latent_dist.parameters
        f64 = model.encode(x.double().flip(dims=[3])).latent_dist.parameters
    headroom = max(float((a.double() - b).abs().max() / b.abs().max()) for a, b in ((moments, m64), (flipped, f64)))
    tensors = {}
    for i, n in enumerate(names):
        tensors[n + ".latent"] = moments[i].contiguous()
        tensors[n + ".latent_flip"] = flipped[i].contiguous()
    save_file(tensors, os.path.join(folder, "encode_golden.safetensors"), metadata={"headroom": f"{headroom:.3e}"})
    print(f"encode golden: {len(names)} images, moments {tuple(moments.shape[1:])}, headroom {headroom:.2e}")


def write_fp16_folder() -> None:
    model = AutoencoderKL.from_pretrained(os.path.join(OUT, "two_blocks")).eval()
    folder = os.path.join(OUT, "two_blocks_fp16")
    shutil.rmtree(folder, ignore_errors=True)
    model.half().save_pretrained(folder, safe_serialization=True, variant="fp16")
    assert os.listdir(folder) and not os.path.exists(os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    upcast = AutoencoderKL.from_pretrained(folder, variant="fp16", torch_dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(99)
    x = torch.rand((1, 3, 16, 16), generator=gen) * 2 - 1
    z = torch.randn((1, 4, 8, 8), generator=gen)
    with torch.no_grad():
        out = {"x": x, "z": z, "moments": upcast.encode(x).latent_dist.parameters, "decoded": upcast.decode(z).sample}
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(folder, "golden.safetensors"))
    values = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05, 5.9604645e-08, 3.0517578e-05, np.inf, -np.inf,
                       np.nan, 0.333], dtype=np.float16)
    save_numpy({"half": values, "float": values.astype(np.float32)}, os.path.join(folder, "f16_values.safetensors"))
    print(f"fp16 folder: {sorted(os.listdir(folder))}")


def write_training_latents() -> None:
    rng = np.random.default_rng(5)
    save_numpy({"latents": rng.standard_normal((8, 4, 8, 8)).astype(np.float32),
                "labels": (np.arange(8) % 2).astype(np.int64)}, os.path.join(OUT, "latents_4x8x8.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encode-only", action="store_true",
                        help="only the encode golden and the fp16 folder, from the committed two_blocks model")
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    if not args.encode_only:
        for name, spec in CONFIGS.items():
            write_case(name, spec)
        write_shapes()
        write_fuzz_seeds()
    write_encode_golden()
    write_fp16_folder()
    write_training_latents()


if __name__ == "__main__":
    main()
