#!/usr/bin/env python3
"""Training-step and sampling speed of the PyTorch twin (eager and torch.compile) against `promoe bench`.

A test tool, never part of the product. For each preset it builds the twin model
(tests/twin/promoe_twin.py) from the config that `promoe info --preset X` prints, random init, train
mode, and times one rectified-flow training step the way the C++ `promoe bench --what step` does:

  class dropout (p = class_dropout_prob; a dropped label becomes the null class `num_classes`, and the
  MoE routing sees the dropped label, as the official LabelEmbedder(return_labels=True) does),
  logit-normal sigma = sigmoid(N(0, 1)), x_t = (1 - sigma) x0 + sigma noise, t = 1000 sigma,
  loss = mean over samples of mean((out[:, :C] - (noise - x0))^2) + the routing aux losses (the
  official AddAuxiliaryLoss trick), backward, clip_grad_norm_(0.5), AdamW(lr 1e-4, betas (0.9, 0.999),
  eps 1e-8, weight_decay 0) step, zero_grad.

Data: a fixed random batch x0 (B, in_channels, input_size, input_size) and labels in
[0, num_classes); noise, sigma and the dropout draw are fresh every step (as `promoe bench`).

Implementations, all with the same thread count:
  torch_eager     the twin in fp32 eager mode;
  torch_compiled  torch.compile (default mode) of the loss function (forward + RF loss + aux; the
                  backward is compiled by AOTAutograd); the optimiser step and clipping run eager in
                  both torch variants. Compile / warm-up time is reported separately, never timed;
  promoe          one `promoe bench --what step --preset X --batch B --repeats k --threads T`
                  subprocess per round; its printed median_ms is used (it builds the model and runs
                  one untimed warm-up step itself).

Rounds are interleaved: for round r = 1..R: k timed steps of torch_eager, k of torch_compiled, one
promoe subprocess with --repeats k, so all three see the same machine conditions. Reported per
implementation: the median over rounds of the per-round median step time (and the min over rounds).

Faithfulness switches (defaults follow the official ali-vilab/ProMoE code):
  --attn sdpa    the official Attention uses F.scaled_dot_product_attention (fused_attn = True); the
                 twin spells attention out (q k^T softmax v). `--attn twin` keeps the twin's.
  the twin's `topk_margin` diagnostic (a float64 sort + host sync per MoE layer, used only by the case
  writer) is switched off unless --keep-twin-diagnostics.
The twin's ProMoE token-choice MoE is the official per-expert Python loop (gather the tokens of one
expert, run its MLP, index_add the weighted output; a zero-input dummy pass for an idle expert), and
its RCL is the official per-cluster loop.

--what sample: class-conditional sampling instead of training steps. The twin (eval mode, EMA-free
random init as above, under torch.no_grad) runs the official sample.py loop: the sigmas of
get_sampling_sigmas (linspace(1, 0, steps + 1)[:steps], shift 1) through diffusers'
FlowMatchEulerDiscreteScheduler (the loop written out when diffusers is missing), t = 1000 sigma,
with guidance > 1 a separate forward on the null labels and v = v_u + s (v_c - v_u) on all
channels, then the first C channels; `--num` samples, balanced over the classes, `--batch` at a
time, fixed random noise. No routing losses are computed (the official model computes none at
inference; the twin's aux terms never change the output). torch.compile compiles the model's
forward (one untimed warm-up sampling run of --compile-warmup steps absorbs the compiles for the
batch shapes). promoe: one `promoe bench --what sample --num N --steps S --cfg G --batch B`
subprocess per round (its own untimed warm-up, then one timed run of the same work). Each round
times one sampling run of each implementation, interleaved.

Usage:
  python3 tests/twin/bench_twin.py                                  # ProMoE-Tiny, Dense-Tiny, B 32
  python3 tests/twin/bench_twin.py --what sample --presets ProMoE-Tiny --num 200 --steps 10 --batch 100
  python3 tests/twin/bench_twin.py --presets ProMoE-S Dense-DiT-S --batch 4 --rounds 3 --k 2
  python3 tests/twin/bench_twin.py --device cuda --precision bf16 --presets ProMoE-B Dense-DiT-B --batch 32
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
import promoe_twin as tw  # noqa: E402

DEFAULT_PROMOE = REPO / "build" / "apps" / "promoe"


# ----------------------------------------------------------------------------------------------
# Machine information
# ----------------------------------------------------------------------------------------------
def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def cpu_model() -> str:
    for line in sh(["lscpu"]).splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def uptime() -> str:
    out = sh(["uptime"]).strip()
    m = re.search(r"load average[s]?:\s*(.*)$", out)
    return f"load average {m.group(1)}" if m else out


def busy_compilers() -> int:
    """Number of compiler/linker processes running on the machine (a sign of concurrent builds)."""
    names = {"cc1plus", "cc1", "nvcc", "cicc", "ptxas", "ld", "ld.gold", "ld.lld", "collect2"}
    n = 0
    for comm in sh(["ps", "-eo", "comm="]).split():
        if comm in names:
            n += 1
    return n


def snapshot_binary(path: Path, tmpdir: Path) -> tuple[Path, str]:
    """Copy the promoe binary so that a concurrent relink cannot change or remove it mid-run."""
    if not path.exists():
        sys.exit(f"bench_twin: {path} not found; build it with\n"
                 f"  cmake -S {REPO} -B {REPO / 'build'} -DPROMOE_CUDA=OFF && make -C {REPO / 'build'} -j2 promoe")
    dst = tmpdir / "promoe"
    shutil.copy2(path, dst)
    digest = hashlib.sha256(dst.read_bytes()).hexdigest()[:12]
    mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(path.stat().st_mtime))
    return dst, f"{path} (mtime {mtime}, sha256 {digest})"


# ----------------------------------------------------------------------------------------------
# promoe subprocesses
# ----------------------------------------------------------------------------------------------
def promoe_config(promoe: Path, preset: str) -> tuple[dict, str]:
    out = subprocess.run([str(promoe), "info", "--preset", preset], capture_output=True, text=True, check=True).stdout
    cfg, params = None, ""
    for line in out.splitlines():
        if line.startswith("config "):
            cfg = json.loads(line[len("config "):])
        elif line.startswith("parameters:"):
            params = line.split(":", 1)[1].strip()
    if cfg is None:
        sys.exit(f"bench_twin: no 'config' line in `promoe info --preset {preset}`:\n{out}")
    return cfg, params


def promoe_bench(promoe: Path, preset: str, batch: int, k: int, threads: int, device: str = "cpu",
                 precision: str = "fp32") -> tuple[float, float, float]:
    """(median_ms, min_ms, peak_MB) of one `promoe bench --what step` call."""
    cmd = [str(promoe), "bench", "--what", "step", "--preset", preset, "--batch", str(batch),
           "--repeats", str(k), "--threads", str(threads), "--device", device, "--precision", precision]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    for line in res.stdout.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] == preset:
            return float(f[2]), float(f[3]), float(f[4])
    raise RuntimeError(f"cannot parse `{' '.join(cmd)}` output:\n{res.stdout}")


# ----------------------------------------------------------------------------------------------
# Twin model and training step
# ----------------------------------------------------------------------------------------------
def sdpa_attention_forward(self, x):
    """Official modules.Attention with fused_attn = True."""
    B, N, D = x.shape
    qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    out = F.scaled_dot_product_attention(q, k, v)
    return self.proj(out.transpose(1, 2).reshape(B, N, D))


def build_model(cfg: dict, seed: int) -> tw.DiT:
    torch.manual_seed(seed)
    model = tw.DiT(cfg)
    # The twin leaves the router parameters uninitialised (torch.empty); the official init is
    # normal(0, 0.02). Everything else keeps the torch default (random, non-zero) init.
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("cluster_centers", tw.EC_GATE_NAME) or name.endswith("gate.weight"):
                p.normal_(0.0, 0.02)
    model.train()
    return model


class Trainer:
    """One model + AdamW; step() runs one RF training step and returns its wall time in ms."""

    def __init__(self, model: tw.DiT, cfg: dict, x0: torch.Tensor, y: torch.Tensor, compiled: bool,
                 adamw: str, seed: int, precision: str = "fp32"):
        self.model, self.cfg, self.x0, self.y = model, cfg, x0, y
        self.device = x0.device
        # bf16: the official training's autocast (bf16 matmuls, fp32 master weights and optimizer).
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
        self.params = [p for p in model.parameters() if p.requires_grad]
        kw = {}
        if adamw == "foreach":
            kw["foreach"] = True
        elif adamw == "fused":
            kw["fused"] = True
        elif adamw == "forloop":
            kw["foreach"] = False
        self.opt = torch.optim.AdamW(self.params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, **kw)
        self.C = model.C
        self.null = cfg["num_classes"]
        self.p_drop = cfg.get("class_dropout_prob", 0.1)
        self.gen = torch.Generator(self.device).manual_seed(seed)
        self.loss_fn = torch.compile(self._loss) if compiled else self._loss

    def _loss(self, x0, noise, sigma, y):
        x_t, t = tw.rf_inputs(x0, noise, sigma)
        out = self.model(x_t, t, y, aux_trick=True)           # aux losses enter via AddAuxiliaryLoss
        per_sample = ((out[:, : self.C] - (noise - x0)) ** 2).flatten(1).mean(dim=1)
        return per_sample.mean()

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def step(self) -> float:
        self.sync()
        t0 = time.perf_counter()
        B = self.x0.shape[0]
        g, dev = self.gen, self.device
        drop = torch.rand(B, generator=g, device=dev) < self.p_drop
        y = torch.where(drop, torch.full_like(self.y, self.null), self.y)
        sigma = torch.sigmoid(torch.randn(B, generator=g, device=dev))
        noise = torch.randn(self.x0.shape, generator=g, device=dev)
        with self.autocast:
            loss = self.loss_fn(self.x0, noise, sigma, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 0.5)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.sync()
        return (time.perf_counter() - t0) * 1e3


def dynamo_stats() -> dict:
    try:
        from torch._dynamo.utils import counters
    except Exception:  # pragma: no cover
        return {}
    return {"unique_graphs": int(counters["stats"].get("unique_graphs", 0)),
            "graph_breaks": int(sum(counters["graph_break"].values())),
            "frames_ok": int(counters["frames"].get("ok", 0))}


# ----------------------------------------------------------------------------------------------
# Benchmark of one preset
# ----------------------------------------------------------------------------------------------
def end_rounds(res: dict, graphs_before_timing: int, compiled: bool, log) -> None:
    """Records what happened during the timed rounds: graphs torch.compile added, the load at the end."""
    res["recompiles_during_timing"] = dynamo_stats().get("unique_graphs", 0) - graphs_before_timing
    if compiled and res["recompiles_during_timing"]:
        log(f"note: {res['recompiles_during_timing']} new graphs were compiled during the timed rounds")
    res["load_end"] = uptime()
    res["compilers_end"] = busy_compilers()


def bench_preset(preset: str, args, promoe: Path, log) -> dict:
    cfg, params = promoe_config(promoe, preset)
    B = args.batch
    C, S = cfg["in_channels"], cfg["input_size"]
    gen = torch.Generator().manual_seed(args.seed)
    x0 = torch.randn(B, C, S, S, generator=gen, device="cpu").to(args.device)
    y = torch.randint(0, cfg["num_classes"], (B,), generator=gen, device="cpu").to(args.device)

    base = build_model(cfg, args.seed).to(args.device)
    eager = Trainer(base, cfg, x0, y, compiled=False, adamw=args.adamw, seed=args.seed + 1, precision=args.precision)
    res = {"preset": preset, "batch": B, "params": params, "load_start": uptime(),
           "compilers_start": busy_compilers(), "eager": [], "compiled": [], "promoe": [],
           "promoe_peak_mb": [], "compile": None, "compile_error": None}
    log(f"\n## {preset}  batch {B}  ({params})  [{res['load_start']}, compiler processes: {res['compilers_start']}]")

    # Eager warm-up (allocator, first-touch), untimed.
    for _ in range(args.warmup):
        eager.step()

    comp = None
    if not args.no_compile:
        torch._dynamo.reset()                          # each preset compiles from scratch, own recompile budget
        twin = build_model(cfg, args.seed).to(args.device)  # same init as `base`, its own parameters
        twin.load_state_dict(base.state_dict())
        comp = Trainer(twin, cfg, x0, y, compiled=True, adamw=args.adamw, seed=args.seed + 2, precision=args.precision)
        st0 = dynamo_stats()
        t0 = time.perf_counter()
        try:
            first = comp.step()
            more = [comp.step() for _ in range(max(args.compile_warmup - 1, 0))]
            total = (time.perf_counter() - t0) * 1e3
            st1 = dynamo_stats()
            res["compile"] = {"first_step_ms": first, "warmup_steps": 1 + len(more), "warmup_total_ms": total,
                              "warmup_step_ms": more,
                              "graphs": st1.get("unique_graphs", 0) - st0.get("unique_graphs", 0),
                              "graph_breaks": st1.get("graph_breaks", 0) - st0.get("graph_breaks", 0)}
            log(f"torch.compile warm-up: first step {first / 1e3:.1f} s, {1 + len(more)} warm-up steps "
                f"{total / 1e3:.1f} s in all (later warm-up steps: {', '.join(f'{m:.0f}' for m in more)} ms); "
                f"{res['compile']['graphs']} graphs, {res['compile']['graph_breaks']} graph breaks")
        except Exception as e:  # compile failure: report it, carry on with eager and promoe
            res["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            log(f"torch.compile FAILED: {res['compile_error']}")
            comp = None

    graphs_before_timing = dynamo_stats().get("unique_graphs", 0)
    for r in range(args.rounds):
        e = statistics.median([eager.step() for _ in range(args.k)])
        res["eager"].append(e)
        line = f"round {r + 1}/{args.rounds}: torch_eager {e:9.1f} ms"
        if comp is not None:
            c = statistics.median([comp.step() for _ in range(args.k)])
            res["compiled"].append(c)
            line += f"   torch_compiled {c:9.1f} ms"
        pm, _, peak = promoe_bench(promoe, preset, B, args.k, args.threads, args.device, args.precision)
        res["promoe"].append(pm)
        res["promoe_peak_mb"].append(peak)
        line += f"   promoe {pm:9.1f} ms   [{uptime()}]"
        log(line)
    end_rounds(res, graphs_before_timing, comp is not None, log)
    del eager, comp, base
    return res


# ----------------------------------------------------------------------------------------------
# Sampling (--what sample)
# ----------------------------------------------------------------------------------------------
def promoe_bench_sample(promoe: Path, preset: str, args) -> float:
    """Seconds of one timed `promoe bench --what sample` run."""
    cmd = [str(promoe), "bench", "--what", "sample", "--preset", preset, "--num", str(args.num), "--steps",
           str(args.steps), "--cfg", str(args.cfg), "--batch", str(args.batch), "--threads", str(args.threads),
           "--precision", args.precision]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    for line in res.stdout.splitlines():
        f = line.split()
        if f and f[0] == "sample" and "median_s" in f:
            return float(f[f.index("median_s") + 1])
    raise RuntimeError(f"cannot parse `{' '.join(cmd)}` output:\n{res.stdout}")


def sampling_sigmas(steps: int):
    """sample.py's get_sampling_sigmas(steps, shift=1): linspace(1, 0, steps + 1)[:steps]."""
    import numpy as np
    sigma = np.linspace(1, 0, steps + 1)[:steps]
    return 1.0 * sigma / (1 + (1.0 - 1) * sigma)


class Sampler:
    """The official sample.py Euler loop with classifier-free guidance around `forward`."""

    def __init__(self, forward, C: int, null: int, steps: int, cfg_scale: float):
        self.forward, self.C, self.null, self.steps, self.cfg_scale = forward, C, null, steps, cfg_scale
        try:
            from diffusers.schedulers import FlowMatchEulerDiscreteScheduler
            self.scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
        except ImportError:
            self.scheduler = None

    def _loop(self, latents, labels):
        y_null = torch.full_like(labels, self.null)

        def guided(x, t):
            cond = self.forward(x, t, labels)
            if self.cfg_scale > 1.0:
                uncond = self.forward(x, t, y_null)
                cond = uncond + self.cfg_scale * (cond - uncond)
            return cond[:, : self.C] if cond.shape[1] != x.shape[1] else cond

        if self.scheduler is not None:
            self.scheduler.set_timesteps(sigmas=sampling_sigmas(self.steps))
            for t in self.scheduler.timesteps:
                timestep = torch.stack([t] * len(latents)).to(latents.dtype)
                latents = self.scheduler.step(guided(latents, timestep), t, latents, return_dict=False)[0]
            return latents
        s = torch.tensor(list(sampling_sigmas(self.steps)) + [0.0], dtype=torch.float32)
        for i in range(self.steps):
            t = torch.full((len(latents),), float(s[i] * 1000), dtype=latents.dtype)
            latents = latents + (s[i + 1] - s[i]) * guided(latents, t)
        return latents

    @torch.no_grad()
    def run(self, noise, labels, batch: int) -> float:
        """Seconds to sample every row of `noise`, `batch` at a time."""
        t0 = time.perf_counter()
        for at in range(0, len(noise), batch):
            self._loop(noise[at:at + batch], labels[at:at + batch])
        return time.perf_counter() - t0


def bench_sample_preset(preset: str, args, promoe: Path, log) -> dict:
    cfg, params = promoe_config(promoe, preset)
    if cfg.get("moe"):  # no routing losses at inference: the official model computes none there
        cfg = dict(cfg, moe=dict(cfg["moe"], rcl_lambda=0.0, load_balance_coef=0.0))
    C, S, K = cfg["in_channels"], cfg["input_size"], cfg["num_classes"]
    gen = torch.Generator().manual_seed(args.seed)
    noise = torch.randn(args.num, C, S, S, generator=gen)
    labels = torch.tensor([c for c in range(K) for _ in range(args.num // K + (c < args.num % K))])
    model = build_model(cfg, args.seed).eval()
    eager = Sampler(lambda x, t, y: model(x, t, y, aux_trick=False), C, K, args.steps, args.cfg)
    res = {"preset": preset, "batch": args.batch, "params": params, "num": args.num, "steps": args.steps,
           "cfg": args.cfg, "load_start": uptime(), "compilers_start": busy_compilers(), "eager": [],
           "compiled": [], "promoe": [], "compile": None, "compile_error": None}
    log(f"\n## {preset}: {args.num} samples x {args.steps} Euler steps, cfg {args.cfg}, batch {args.batch} "
        f"({params})  [{res['load_start']}, compiler processes: {res['compilers_start']}]")
    warm_n = min(args.batch, args.num)
    Sampler(eager.forward, C, K, min(args.steps, 2), args.cfg).run(noise[:warm_n], labels[:warm_n], args.batch)

    comp = None
    if not args.no_compile:
        torch._dynamo.reset()
        compiled = torch.compile(lambda x, t, y: model(x, t, y, aux_trick=False))
        comp = Sampler(compiled, C, K, args.steps, args.cfg)
        t0 = time.perf_counter()
        try:
            # every batch shape of the timed run (a last, smaller batch too), both label kinds
            shapes = sorted({min(args.batch, args.num - at) for at in range(0, args.num, args.batch)})
            for n in shapes:
                Sampler(compiled, C, K, args.compile_warmup, args.cfg).run(noise[:n], labels[:n], n)
            res["compile"] = {"warmup_s": time.perf_counter() - t0, "batch_shapes": shapes}
            log(f"torch.compile warm-up: {res['compile']['warmup_s']:.1f} s ({args.compile_warmup} steps for each "
                f"batch size {shapes})")
        except Exception as e:
            res["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            log(f"torch.compile FAILED: {res['compile_error']}")
            comp = None

    graphs_before_timing = dynamo_stats().get("unique_graphs", 0)
    for r in range(args.rounds):
        e = eager.run(noise, labels, args.batch)
        res["eager"].append(e)
        line = f"round {r + 1}/{args.rounds}: torch_eager {e:8.2f} s"
        if comp is not None:
            c = comp.run(noise, labels, args.batch)
            res["compiled"].append(c)
            line += f"   torch_compiled {c:8.2f} s"
        p = promoe_bench_sample(promoe, preset, args)
        res["promoe"].append(p)
        line += f"   promoe {p:8.2f} s   [{uptime()}]"
        log(line)
    end_rounds(res, graphs_before_timing, comp is not None, log)
    return res


def sample_table(results: list[dict]) -> str:
    rows = ["| preset | samples x steps | batch | torch eager s (min) | torch.compile s (min) | promoe s (min) | "
            "promoe / eager | promoe / compiled | load avg start → end |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        cells = [f"{fmt(med(xs), 2)} ({fmt(min(xs), 2)})" if xs else "—" for xs in (r["eager"], r["compiled"], r["promoe"])]
        la = lambda s: s.replace("load average ", "")
        rows.append(f"| {r['preset']} | {r['num']} x {r['steps']} | {r['batch']} | {' | '.join(cells)} | "
                    f"{ratios(r['promoe'], r['eager'])} | {ratios(r['promoe'], r['compiled'])} | "
                    f"{la(r['load_start'])} → {la(r['load_end'])} |")
    return "\n".join(rows)


def med(xs):
    return statistics.median(xs) if xs else math.nan


def fmt(x, nd=1):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def ratios(p: list[float], q: list[float]) -> str:
    """promoe/torch as: ratio of the medians; median of the per-round (paired) ratios; ratio of the mins."""
    if not p or not q:
        return "—"
    paired = statistics.median([a / b for a, b in zip(p, q)])
    return f"{med(p) / med(q):.2f} (paired {paired:.2f}, mins {min(p) / min(q):.2f})"


def table(results: list[dict]) -> str:
    rows = ["| preset | batch | torch eager ms (min) | torch.compile ms (min) | promoe ms (min) | "
            "promoe / eager | promoe / compiled | compile s | load avg start → end |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        cells = []
        for xs in (r["eager"], r["compiled"], r["promoe"]):
            cells.append(f"{fmt(med(xs))} ({fmt(min(xs))})" if xs else "—")
        comp = ("failed" if r["compile_error"] else
                "off" if r["compile"] is None else
                f"{r['compile']['first_step_ms'] / 1e3:.1f} (+{(r['compile']['warmup_total_ms'] - r['compile']['first_step_ms']) / 1e3:.1f})")
        la = lambda s: s.replace("load average ", "")
        rows.append(f"| {r['preset']} | {r['batch']} | {' | '.join(cells)} | {ratios(r['promoe'], r['eager'])} | "
                    f"{ratios(r['promoe'], r['compiled'])} | {comp} | {la(r['load_start'])} → {la(r['load_end'])} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--what", choices=["step", "sample"], default="step",
                    help="step: one training step; sample: class-conditional Euler sampling with CFG")
    ap.add_argument("--presets", nargs="+", default=None, help="default ProMoE-Tiny Dense-Tiny (sample: ProMoE-Tiny)")
    ap.add_argument("--batch", type=int, default=None, help="default 32 (sample: 64, samples per model call)")
    ap.add_argument("--num", type=int, default=1000, help="sample: samples per round")
    ap.add_argument("--steps", type=int, default=50, help="sample: Euler steps")
    ap.add_argument("--cfg", type=float, default=1.5, help="sample: guidance scale (1: off)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cuda: the twin and `promoe bench --device cuda` on the GPU (timings synchronised)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: torch autocast(bfloat16) for the twin, `--precision bf16` for promoe")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds R")
    ap.add_argument("--k", type=int, default=3, help="timed steps per implementation per round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed eager warm-up steps")
    ap.add_argument("--compile-warmup", type=int, default=6,
                    help="untimed torch.compile warm-up steps (the first one compiles; later ones absorb recompiles; "
                         "sample: sampler steps per batch shape)")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--attn", choices=["sdpa", "twin"], default="sdpa",
                    help="sdpa: official fused F.scaled_dot_product_attention (default); twin: the twin's explicit softmax")
    ap.add_argument("--adamw", choices=["default", "foreach", "forloop", "fused"], default="default",
                    help="torch.optim.AdamW implementation (default: torch's choice for CPU tensors)")
    ap.add_argument("--keep-twin-diagnostics", action="store_true",
                    help="keep the twin's per-layer topk_margin (float64 sort + host sync; not in the official code)")
    ap.add_argument("--warm-cache", action="store_true",
                    help="let Inductor reuse its on-disk cache (default: a fresh cache dir, so compile time is cold)")
    ap.add_argument("--promoe", type=Path, default=DEFAULT_PROMOE)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args()
    if args.presets is None:
        args.presets = ["ProMoE-Tiny"] if args.what == "sample" else ["ProMoE-Tiny", "Dense-Tiny"]
    if args.batch is None:
        args.batch = 64 if args.what == "sample" else 32

    torch.set_num_threads(args.threads)
    if args.device == "cuda":  # the twin's factory calls (zeros, arange, ...) name no device
        torch.set_default_device("cuda")
    if args.attn == "sdpa":
        tw.Attention.forward = sdpa_attention_forward
    if not args.keep_twin_diagnostics:
        tw.topk_margin = lambda scores, k: math.inf

    def log(msg):
        print(msg, flush=True)

    with tempfile.TemporaryDirectory(prefix="bench_twin_") as td:
        if not args.warm_cache:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(td) / "inductor_cache")
        promoe, promoe_desc = snapshot_binary(args.promoe, Path(td))
        log("# bench_twin: " + ("sampling" if args.what == "sample" else "one RF training step") +
            ", PyTorch twin vs promoe")
        log(f"command: python3 {' '.join([sys.argv[0]] + sys.argv[1:])}")
        log(f"date: {time.strftime('%Y-%m-%d %H:%M:%S')}")
        log(f"torch {torch.__version__}, python {platform.python_version()}, torch threads {torch.get_num_threads()} "
            f"(interop {torch.get_num_interop_threads()}), promoe --threads {args.threads}")
        log(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs")
        log(f"promoe binary: {promoe_desc}")
        log(f"batch {args.batch}, rounds {args.rounds}" + ("" if args.what == "sample" else f" x k={args.k} steps") +
            f", attention={args.attn}, "
            f"adamw={args.adamw}, twin diagnostics={'on' if args.keep_twin_diagnostics else 'off'}, "
            f"inductor cache={'reused' if args.warm_cache else 'fresh (cold compile)'}")
        log(f"start: {uptime()}; compiler processes running: {busy_compilers()}")
        bench = bench_sample_preset if args.what == "sample" else bench_preset
        results = [bench(p, args, promoe, log) for p in args.presets]

    log(f"\nend: {uptime()}; compiler processes running: {busy_compilers()}\n")
    if args.what == "sample":
        log(f"Median over {args.rounds} interleaved rounds of the seconds to sample {args.num} images with "
            f"{args.steps} Euler steps at guidance {args.cfg} (min over rounds in brackets), batch {args.batch}, "
            f"{args.threads} threads. Ratios: ratio of the medians (median of the per-round ratios, ratio of the "
            f"mins).\n")
        log(sample_table(results))
    else:
        log(f"Median over {args.rounds} interleaved rounds of the per-round median of {args.k} steps, ms per "
            f"training step (min over rounds in brackets); batch {args.batch}, {args.threads} threads. Ratios: "
            f"ratio of the medians (median of the per-round ratios, ratio of the mins). compile s: the first "
            f"compiled step (+ the other {args.compile_warmup - 1} untimed warm-up steps, which absorb recompiles).\n")
        log(table(results))
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "torch": torch.__version__, "cpu": cpu_model(),
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
