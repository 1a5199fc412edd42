"""Writes the golden files of the checkpoint import / export / sampling tests (tests/data/pth/,
docs/CHECKPOINTS.md) with PyTorch, independently of the C++ code; CI never runs it (the small files
are committed). Needs torch, numpy, safetensors and diffusers.

    python3 tests/twin/make_pth_goldens.py                     # tests/data/pth + tests/fuzz/seeds/pth
    python3 tests/twin/make_pth_goldens.py --tiny DIR          # the same for the ProMoE-Tiny preset, in DIR
    python3 tests/twin/make_pth_goldens.py --check-export F    # F (from `promoe export`) into the twin, strict

What it writes:
- official_small.pth: a model of the ProMoE-Tiny family, smaller (small_config.json), trained two
  AdamW steps from random non-zero weights on random data, saved as the official train.py saves a
  checkpoint: torch.save({'step', 'model_state_dict', 'ema_model_state_dict' (EMA decay 0.9 so it
  differs from the weights), 'optimizer_state_dict'}) at loop step 1 (two optimizer steps).
- ema_ddp_small.pth: the EMA state dict alone with DDP's "module." prefix on every name.
- goldens.safetensors: noise (N, C, H, W), labels, the official sampler's output from that noise
  with the EMA weights (samples.cfg1, samples.cfg4: 10 Euler steps of diffusers'
  FlowMatchEulerDiscreteScheduler on sample.py's sigmas, guidance on all channels), and one more
  AdamW step after resuming from the checkpoint as train.py resumes (resume.grad.<name> set as the
  gradients, resume.param.<name> the parameters after the step).
- views.pth: tensors of every storage type, views with storage offsets and strides, shared
  storages, a scalar, an empty tensor, a Parameter and non-tensor values, for the reader's tests.
- tests/fuzz/seeds/pth/: small archives for fuzz_pth (a bf16 official-layout checkpoint of a tiny
  configuration, views.pth, and a raw data.pkl).

The noise seed is searched until every routing decision of both sampling runs has a top-1 margin of
at least 2e-5 and the float64 rerun routes identically and stays within 1e-5 of the float32 samples'
scale, so a correct float32 implementation cannot flip a route.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import zipfile

import numpy as np
import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import promoe_twin as tw  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "data", "pth"))
SEEDS = os.path.normpath(os.path.join(HERE, "..", "fuzz", "seeds", "pth"))

MOE = dict(type="promoe_tc", num_experts=4, top_k=1, interleave=True, use_uncond_expert=True, use_shared_expert=True,
           moe_intermediate_size=64, shared_expert_intermediate_size=64, router_weight_mode="identity",
           rcl_temperature=0.07, rcl_lambda=1.0, rcl_use_topk=True, load_balance_coef=0.0, norm_topk_prob=False)
SMALL = dict(input_size=16, in_channels=1, patch_size=4, hidden_size=32, depth=2, num_heads=2, mlp_ratio=4.0,
             num_classes=10, learn_sigma=True, class_dropout_prob=0.1, moe=MOE)
TINY = dict(input_size=32, in_channels=1, patch_size=4, hidden_size=128, depth=6, num_heads=4, mlp_ratio=4.0,
            num_classes=10, learn_sigma=True, class_dropout_prob=0.1,
            moe=dict(MOE, num_experts=8, moe_intermediate_size=256, shared_expert_intermediate_size=256))
FUZZ = dict(input_size=4, in_channels=1, patch_size=2, hidden_size=8, depth=2, num_heads=2, mlp_ratio=1.0,
            num_classes=2, learn_sigma=True, class_dropout_prob=0.1,
            moe=dict(MOE, num_experts=2, moe_intermediate_size=8, shared_expert_intermediate_size=8))
ADAMW = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.02)
EMA_DECAY = 0.9
STEPS = 10
CFGS = (1.0, 4.0)
MIN_MARGIN = 2e-5


def randomize(model: torch.nn.Module, gen: torch.Generator):
    """Random non-zero parameters (the official adaLN-Zero / final-layer zeros would make the
    model's output vanish); pos_embed stays the fixed table."""
    for name, p in model.named_parameters():
        if name == "pos_embed":
            continue
        with torch.no_grad():
            if p.dim() >= 2 and "cluster_centers" not in name and "embedding_table" not in name:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) * (0.7 / math.sqrt(fan_in)))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)


@torch.no_grad()
def update_ema(ema, model, decay):
    """train.py's update_ema."""
    ema_params = dict(ema.named_parameters())
    for name, param in model.named_parameters():
        ema_params[name].mul_(decay).add_(param.data, alpha=1 - decay)
    ema_buffers = dict(ema.named_buffers())
    for name, buf in model.named_buffers():
        ema_buffers[name].copy_(buf)


def train_and_save(cfg, path, seed=0, dtype=torch.float32):
    """Two optimizer steps as train.py takes them, then its save_checkpoint at loop step 1."""
    gen = torch.Generator().manual_seed(seed)
    model = tw.DiT(cfg)
    randomize(model, gen)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), **ADAMW)
    null, C, S = cfg["num_classes"], cfg["in_channels"], cfg["input_size"]
    for step in range(2):
        x0 = torch.randn(4, C, S, S, generator=gen)
        noise = torch.randn(4, C, S, S, generator=gen)
        sigma = torch.sigmoid(torch.randn(4, generator=gen))
        y = torch.tensor([1, null, 3, 5]) % (null + 1)
        r = tw.rf_loss(model, x0, noise, sigma, y)
        loss = r["main"] + (model.aux_total() if model.aux_total() is not None else 0)
        loss.backward()
        opt.step()
        opt.zero_grad()
        update_ema(ema, model, EMA_DECAY)
        if step == 1:
            to = (lambda sd: {k: v.to(dtype) for k, v in sd.items()}) if dtype != torch.float32 else (lambda sd: sd)
            state = opt.state_dict()
            if dtype != torch.float32:
                state = copy.deepcopy(state)
                for s in state["state"].values():
                    s["exp_avg"], s["exp_avg_sq"] = s["exp_avg"].to(dtype), s["exp_avg_sq"].to(dtype)
            torch.save({"step": step, "model_state_dict": to(model.state_dict()),
                        "ema_model_state_dict": to(ema.state_dict()), "optimizer_state_dict": state}, path)
    return model, ema, opt


def official_sample(model, noise, labels, cfg_scale, num_classes, margins=None):
    """sample.py's loop: get_sampling_sigmas(steps, shift 1), diffusers' FlowMatchEulerDiscreteScheduler
    (shift 1) with those sigmas, a separate null-label pass when cfg > 1, guidance on all channels,
    then the first C channels."""
    from diffusers.schedulers import FlowMatchEulerDiscreteScheduler
    sigma = np.linspace(1, 0, STEPS + 1)[:STEPS]
    sigma = 1.0 * sigma / (1 + (1.0 - 1) * sigma)
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    sched.set_timesteps(sigmas=sigma)
    latents = noise
    y_null = torch.full_like(labels, num_classes)
    for t in sched.timesteps:
        timestep = torch.stack([t] * len(latents)).to(noise.dtype)
        cond = model(latents, timestep, labels)
        if margins is not None:
            margins.extend(r.margin for r in model.records.values())
        if cfg_scale > 1.0:
            uncond = model(latents, timestep, y_null)
            pred = uncond + cfg_scale * (cond - uncond)
        else:
            pred = cond
        if pred.shape[1] != latents.shape[1]:
            pred, _ = pred.chunk(2, dim=1)
        latents = sched.step(pred.to(noise.dtype), t, latents, return_dict=False)[0].to(noise.dtype)
    return latents


def inline_sample(model, noise, labels, cfg_scale, num_classes):
    """The same loop written out (f32 sigmas, t = sigma * 1000, x += (sigma_next - sigma) * v), to
    guard against a diffusers version that changed the scheduler."""
    s = np.linspace(1, 0, STEPS + 1)[:STEPS].astype(np.float32)
    s = torch.from_numpy(np.append(s, np.float32(0)))
    x = noise
    for i in range(STEPS):
        t = torch.full((len(x),), float(s[i] * 1000), dtype=noise.dtype)
        out = model(x, t, labels)
        if cfg_scale > 1:
            u = model(x, t, torch.full_like(labels, num_classes))
            out = u + cfg_scale * (out - u)
        x = x + (s[i + 1] - s[i]) * out[:, : x.shape[1]]
    return x


def sample_goldens(cfg, ema_state, n=4):
    model = tw.DiT(cfg)
    model.load_state_dict(ema_state, strict=True)
    model.eval()
    labels = torch.tensor([3, 7, 0, 9][:n]) % cfg["num_classes"]
    C, S = cfg["in_channels"], cfg["input_size"]
    for seed in range(200):
        noise = torch.randn(n, C, S, S, generator=torch.Generator().manual_seed(1000 + seed))
        margins, out, ok = [], {}, True
        with torch.no_grad():
            for g in CFGS:
                out[g] = official_sample(model, noise, labels, g, cfg["num_classes"], margins)
                ref = inline_sample(model, noise, labels, g, cfg["num_classes"])
                assert (out[g] - ref).abs().max() <= 1e-6 * out[g].abs().max(), "diffusers' scheduler changed"
                m64 = copy.deepcopy(model).double()
                hi = official_sample(m64, noise.double(), labels, g, cfg["num_classes"])
                ok = ok and (hi.float() - out[g]).abs().max().item() <= 1e-5 * out[g].abs().max().item()
        if ok and min(margins) >= MIN_MARGIN:
            print(f"noise seed {1000 + seed}: min route margin {min(margins):.2e}, "
                  f"sample scale {max(o.abs().max().item() for o in out.values()):.3f}")
            return noise, labels, out
    raise SystemExit("no noise seed gives robust routing")


def resume_goldens(cfg, path, seed=7):
    """train.py's load_latest_checkpoint into a fresh model and optimizer, then one step with
    given gradients."""
    ckpt = torch.load(path, map_location="cpu")
    model = tw.DiT(cfg)
    model.load_state_dict(ckpt["model_state_dict"], strict=True)
    opt = torch.optim.AdamW(model.parameters(), **ADAMW)
    opt.load_state_dict(ckpt["optimizer_state_dict"])
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.grad = torch.randn(p.shape, generator=gen) * 0.1
            out["resume.grad." + name] = p.grad.clone()
    opt.step()
    for name, p in model.named_parameters():
        if p.requires_grad:
            out["resume.param." + name] = p.detach().clone()
    return out


def views_file(path):
    """Every storage type, views, shared storages and non-tensor values."""
    from collections import OrderedDict
    big = torch.arange(20, dtype=torch.float32).reshape(4, 5)
    d = OrderedDict()
    d["f32"] = big
    d["view"] = big[1:, 1::2]                      # storage offset 6, strides (5, 2), shares big's storage
    d["t"] = big.t()                                # strides (1, 5)
    d["f64"] = torch.arange(6, dtype=torch.float64).reshape(2, 3) / 4
    d["f16"] = torch.tensor([0.5, -2.0, 65504.0, 6.1035e-05, 5.96e-08, float("inf")], dtype=torch.float16)
    d["bf16"] = torch.tensor([1.0, -3.25, 1e-3, 3.0e38], dtype=torch.bfloat16)
    d["i64"] = torch.tensor([-(2**40), 0, 2**40])
    d["i32"] = torch.tensor([-7, 8], dtype=torch.int32)
    d["i16"] = torch.tensor([-300, 300], dtype=torch.int16)
    d["i8"] = torch.tensor([-128, 127], dtype=torch.int8)
    d["u8"] = torch.tensor([0, 255], dtype=torch.uint8)
    d["bool"] = torch.tensor([True, False, True])
    d["scalar"] = torch.tensor(2.5)
    d["empty"] = torch.zeros(0, 3)
    d["param"] = torch.nn.Parameter(torch.tensor([[1.0, 2.0]]))
    d["expanded"] = torch.tensor([1.0, 2.0, 3.0]).expand(2, 3)   # stride 0
    torch.save({"tensors": d, "meta": {"list": [1, 2.5, "x", None, True], "tuple": (1, 2), "big": 2**40,
                                       "neg": -5}}, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", help="write the goldens of the ProMoE-Tiny preset into this folder instead")
    ap.add_argument("--check-export", help="a safetensors file from `promoe export` to load into the twin")
    ap.add_argument("--config", default=None, help="with --check-export: small (default) or tiny")
    args = ap.parse_args()
    torch.manual_seed(0)

    if args.check_export:
        from safetensors.torch import load_file
        cfg = TINY if args.config == "tiny" else SMALL
        model = tw.DiT(cfg)
        model.load_state_dict(load_file(args.check_export), strict=True)
        print(f"{args.check_export}: load_state_dict(strict=True) into the twin: ok")
        gold_dir = args.tiny if args.tiny else OUT
        from safetensors.torch import load_file as lf
        g = lf(os.path.join(gold_dir, "goldens.safetensors"))
        with torch.no_grad():
            for c in CFGS:
                s = official_sample(model, g["noise"], g["labels"], c, cfg["num_classes"])
                ref = g[f"samples.cfg{int(c)}"]
                print(f"cfg {c}: max |twin(exported) - golden| = {(s - ref).abs().max().item():.3e} "
                      f"(scale {ref.abs().max().item():.3f})")
        return

    cfg, out = (TINY, args.tiny) if args.tiny else (SMALL, OUT)
    os.makedirs(out, exist_ok=True)
    ckpt = os.path.join(out, "official_tiny.pth" if args.tiny else "official_small.pth")
    model, ema, _ = train_and_save(cfg, ckpt)
    ema_state = ema.state_dict()
    torch.save({"module." + k: v for k, v in ema_state.items()},
               os.path.join(out, "ema_ddp_tiny.pth" if args.tiny else "ema_ddp_small.pth"))
    noise, labels, samples = sample_goldens(cfg, ema_state)
    tensors = {"noise": noise, "labels": labels}
    for c, s in samples.items():
        tensors[f"samples.cfg{int(c)}"] = s
    tensors.update(resume_goldens(cfg, ckpt))
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out, "goldens.safetensors"),
              metadata={"adamw": json.dumps(ADAMW), "steps": str(STEPS), "config": json.dumps(cfg)})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    if args.tiny:
        return
    views_file(os.path.join(out, "views.pth"))
    os.makedirs(SEEDS, exist_ok=True)
    train_and_save(FUZZ, os.path.join(SEEDS, "tiny_official_bf16.pth"), dtype=torch.bfloat16)
    views_file(os.path.join(SEEDS, "views.pth"))
    with zipfile.ZipFile(os.path.join(SEEDS, "tiny_official_bf16.pth")) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
        with open(os.path.join(SEEDS, "data_pkl"), "wb") as f:
            f.write(z.read(pkl))
    for d in (out, SEEDS):
        for name in sorted(os.listdir(d)):
            print(f"{os.path.join(d, name)}: {os.path.getsize(os.path.join(d, name))} bytes")


if __name__ == "__main__":
    main()
