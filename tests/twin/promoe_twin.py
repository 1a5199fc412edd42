"""PyTorch twin of the promoe model: a test tool, never part of the product.

It re-states the official ali-vilab/ProMoE semantics (models_ProMoE_TC.py, models_ProMoE_EC.py,
models_TCDiT.py, models_ECDiT.py, modules.py, train.py) and the DiT/ADM Gaussian diffusion in one
readable file, so that make_cases.py can write golden parity cases (tests/cases/*.safetensors,
format: docs/CASES.md) that the C++ `promoe check` verifies.

Conventions (see also README.md beside this file):
- Null label: the null / CFG class is `num_classes` (the last row of the label table). The official
  MoE code hard-codes 1000; both agree for ImageNet (num_classes = 1000). The small cases use
  num_classes = 10, so label 10 is the null class and its samples are routed as unconditional.
- The model is dtype-generic: cases are computed in float32; make_cases.py reruns every case in
  float64 to check that the float32 numbers are robust.
- Auxiliary losses (routing contrastive loss, load balance) enter the gradient through an
  identity autograd op that hands them an upstream gradient of exactly 1, as the official
  `AddAuxiliaryLoss` does. This equals adding lambda*aux to the loss.
- Every parameter name equals the official state_dict name (docs/CASES.md table). The expert-choice
  baseline's gate is the official `blocks.{i}.mlp.gate_weight` (EC_GATE_NAME below).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FREQ_DIM = 256          # timestep frequency embedding size (fixed by the model)
LN_EPS = 1e-6           # LayerNorm eps, no affine
NORM_EPS = 1e-12        # F.normalize clamp
EC_GATE_NAME = "gate_weight"   # official models_ECDiT.py name: blocks.{i}.mlp.gate_weight


# ----------------------------------------------------------------------------------------------
# Fixed embeddings
# ----------------------------------------------------------------------------------------------
def sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    """(M,) positions -> (M, dim): all sines first, then all cosines; omega_k = 10000^(-k/(dim/2))."""
    assert dim % 2 == 0
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000 ** omega
    out = np.outer(pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def pos_embed_2d(dim: int, grid: int) -> np.ndarray:
    """(grid*grid, dim) float64. Token n = i*grid + j (row i, col j) gets
    [sincos_1d(dim/2, j), sincos_1d(dim/2, i)]: the column comes first."""
    assert dim % 4 == 0
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    return np.concatenate([sincos_1d(dim // 2, cols.astype(np.float32)),
                           sincos_1d(dim // 2, rows.astype(np.float32))], axis=1)


def timestep_frequencies(t: torch.Tensor, dim: int = FREQ_DIM, max_period: float = 10000.0) -> torch.Tensor:
    """(B,) float t -> (B, dim) = [cos(t*f_k), sin(t*f_k)], f_k = exp(-ln(max_period)*k/half): cos first."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=t.dtype) / half)
    args = t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x, shift, scale):
    """x (B,N,D); shift, scale (B,D)."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def layer_norm(x):
    return F.layer_norm(x, (x.shape[-1],), eps=LN_EPS)


class AddAuxiliaryLoss(torch.autograd.Function):
    """Identity on x; in backward, the scalar aux loss gets an upstream gradient of exactly 1."""

    @staticmethod
    def forward(ctx, x, aux):
        ctx.aux_needs_grad = aux.requires_grad
        ctx.aux_shape, ctx.aux_dtype = aux.shape, aux.dtype
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_out):
        g_aux = torch.ones(ctx.aux_shape, dtype=ctx.aux_dtype) if ctx.aux_needs_grad else None
        return grad_out, g_aux


# ----------------------------------------------------------------------------------------------
# Small modules (names follow the official state_dict)
# ----------------------------------------------------------------------------------------------
class PatchEmbed(nn.Module):
    """Conv2d(C, D, k=p, s=p) -> (B, N, D) tokens in row-major patch order."""

    def __init__(self, in_ch, dim, p):
        super().__init__()
        self.proj = nn.Conv2d(in_ch, dim, kernel_size=p, stride=p, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class TimestepEmbedder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(FREQ_DIM, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t):
        return self.mlp(timestep_frequencies(t))


class LabelEmbedder(nn.Module):
    """Table of num_classes + 1 rows; row num_classes is the null class. No dropout in a check."""

    def __init__(self, num_classes, dim):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, dim)

    def forward(self, y):
        return self.embedding_table(y)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)                                   # (B, H, N, hd)
        att = (q @ k.transpose(-2, -1)) * (self.hd ** -0.5)
        out = att.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    """fc1 -> GELU(tanh) -> fc2 (dense block MLP, and the experts of the tc/ec baselines)."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class MoeMLP(nn.Module):
    """up_proj -> GELU(tanh) -> down_proj (ProMoE experts and shared expert; not gated)."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.up_proj = nn.Linear(dim, hidden)
        self.down_proj = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.down_proj(F.gelu(self.up_proj(x), approximate="tanh"))


def touch(module: nn.Module, dim: int, like: torch.Tensor) -> torch.Tensor:
    """0 * module(zeros): keeps an idle expert in the graph so its gradients are zero tensors."""
    return module(torch.zeros(1, dim, dtype=like.dtype)).sum() * 0


def activate(z: torch.Tensor, mode: str, dim: int) -> torch.Tensor:
    if mode == "identity":
        return z
    if mode == "sigmoid":
        return torch.sigmoid(z)
    if mode == "softmax":
        return F.softmax(z, dim=dim)
    raise ValueError(mode)


def topk_margin(scores: torch.Tensor, k: int) -> float:
    """Smallest gap between consecutive sorted scores among the first k+1 of each row: covers the
    selection (k-th vs (k+1)-th) and the slot order inside the top-k. inf if nothing to compare."""
    if scores.numel() == 0:
        return math.inf
    s = scores.detach().double().sort(dim=-1, descending=True).values
    m = min(k + 1, s.shape[-1])
    if m < 2:
        return math.inf
    return float((s[..., : m - 1] - s[..., 1:m]).min())


@dataclass
class MoeRecord:
    """What one MoE layer did in one forward (all detached except `aux`)."""
    route_idx: torch.Tensor = None       # (B,N,K) token choice or (B,E,cap) expert choice, int64
    route_w: torch.Tensor = None         # same shape, weights
    rcl: Optional[torch.Tensor] = None   # unweighted routing contrastive loss
    lb: Optional[torch.Tensor] = None    # unweighted load-balance loss
    aux: Optional[torch.Tensor] = None   # weighted aux that enters the gradient (lambda*rcl + coef*lb)
    margin: float = math.inf


# ----------------------------------------------------------------------------------------------
# MoE layers
# ----------------------------------------------------------------------------------------------
def rcl_loss(protos: torch.Tensor, means: torch.Tensor, tau: float) -> torch.Tensor:
    """Row-wise cross-entropy of cos(P_i, m_j)/tau with target j = i. protos (R,D), means (...,R,D)."""
    p = F.normalize(protos, p=2, dim=-1, eps=NORM_EPS)
    m = F.normalize(means, p=2, dim=-1, eps=NORM_EPS)
    logits = torch.einsum("id,...jd->...ij", p, m) / tau
    R = protos.shape[0]
    logits = logits.reshape(-1, R)
    target = torch.arange(R).repeat(logits.shape[0] // R)
    return F.cross_entropy(logits, target)


class ProMoETC(nn.Module):
    """ProMoE token choice: conditional routing (null-label tokens -> expert E, weight 1), then
    prototypical cosine routing with top-k over the E routed experts, plus a shared expert."""

    def __init__(self, dim, m: dict, null_label: int):
        super().__init__()
        self.E, self.K, self.null = m["num_experts"], m["top_k"], null_label
        self.m = m
        self.use_uncond = m["use_uncond_expert"]
        self.cluster_centers = nn.Parameter(torch.empty(self.E, dim))
        n_exp = self.E + (1 if self.use_uncond else 0)
        self.experts = nn.ModuleList([MoeMLP(dim, m["moe_intermediate_size"]) for _ in range(n_exp)])
        if m["use_shared_expert"]:
            self.shared_expert = MoeMLP(dim, m["shared_expert_intermediate_size"])

    def forward(self, u, labels):
        B, N, D = u.shape
        E, K, m = self.E, self.K, self.m
        T = B * N
        U = u.reshape(T, D)
        lab = labels.repeat_interleave(N)
        unc = (lab == self.null) if self.use_uncond else torch.zeros(T, dtype=torch.bool)
        cnd = ~unc
        W = torch.zeros(T, K, dtype=u.dtype)
        IDX = torch.zeros(T, K, dtype=torch.long)
        W[unc, 0] = 1.0
        IDX[unc] = E
        rec = MoeRecord()
        Uc = U[cnd]
        S = J = None
        if cnd.any():
            Z = F.normalize(Uc, p=2, dim=1, eps=NORM_EPS) @ F.normalize(self.cluster_centers, p=2, dim=1, eps=NORM_EPS).T
            S = activate(Z, m["router_weight_mode"], dim=1)           # (n_c, E)
            G, J = torch.topk(S, k=K, dim=1)                          # sorted, descending
            W[cnd] = G.to(W.dtype)  # bf16 under autocast
            IDX[cnd] = J
            rec.margin = topk_margin(S, K)

        out = torch.zeros(T, D, dtype=u.dtype)
        for e, expert in enumerate(self.experts):
            hit = IDX == e                                            # (T, K)
            rows = torch.where(hit.any(dim=1))[0]
            if rows.numel() > 0:
                w = (W[rows] * hit[rows].to(u.dtype)).sum(dim=1)      # slots of one expert summed
                out = out.index_add(0, rows, expert(U[rows]) * w[:, None])
            else:
                out = out + touch(expert, D, u)
        if m["use_shared_expert"]:
            out = out + self.shared_expert(U)

        aux = None
        if m["load_balance_coef"] > 0 and S is not None:
            p = S if m["router_weight_mode"] == "softmax" else F.softmax(S, dim=1)
            f = F.one_hot(J.reshape(-1), num_classes=E).to(u.dtype).mean(0) * E
            rec.lb = (p.mean(0) * f).sum()
            aux = rec.lb * m["load_balance_coef"]
        if m["rcl_lambda"] > 0:
            rec.rcl = self._rcl(Uc, J, u)
            w_rcl = rec.rcl * m["rcl_lambda"]
            aux = w_rcl if aux is None else aux + w_rcl
        rec.aux = aux
        rec.route_idx = IDX.reshape(B, N, K)
        rec.route_w = W.detach().reshape(B, N, K)
        return out.reshape(B, N, D), rec

    def _rcl(self, Uc, J, like):
        if J is None:
            return torch.zeros((), dtype=like.dtype)
        assign = J if self.m["rcl_use_topk"] else J[:, :1]
        valid, means = [], []
        for e in range(self.E):
            mask = (assign == e).any(dim=1)
            if mask.any():
                valid.append(e)
                means.append(Uc[mask].mean(dim=0))
        if len(valid) < 2:
            return torch.zeros((), dtype=like.dtype)   # constant: no gradient
        return rcl_loss(self.cluster_centers[valid], torch.stack(means), self.m["rcl_temperature"])


def ec_capacity(n_tokens: int, n_experts: int, factor) -> int:
    return max(1, min(int((n_tokens / n_experts) * factor), n_tokens))


def expert_choice_combine(x, G, I, experts, dim):
    """x (b,N,D); G, I (b,E,cap). Each expert e runs on its picked tokens; outputs scaled by G and
    scattered back (summed where several experts took a token). Returns (out (b,N,D), picked (b,E,cap,D))."""
    b, N, D = x.shape
    E, cap = I.shape[1], I.shape[2]
    picked = torch.gather(x.unsqueeze(1).expand(b, E, N, D), 2, I.unsqueeze(-1).expand(b, E, cap, D))
    eo = torch.stack([experts[e](picked[:, e]) for e in range(E)], dim=1)   # (b,E,cap,D)
    contrib = (eo * G.unsqueeze(-1)).reshape(b, E * cap, D)
    out = torch.zeros(b, N, D, dtype=x.dtype).scatter_add(1, I.reshape(b, E * cap, 1).expand(b, E * cap, D), contrib)
    return out, picked


class ProMoEEC(nn.Module):
    """ProMoE expert choice: per cond image, each routed expert takes its top-`capacity` tokens by
    cos(u, P) (activation over the image's tokens); null images go wholly to expert E (weight 1)."""

    def __init__(self, dim, m: dict, null_label: int):
        super().__init__()
        self.E, self.null, self.m = m["num_experts"], null_label, m
        self.use_uncond = m["use_uncond_expert"]
        self.cluster_centers = nn.Parameter(torch.empty(self.E, dim))
        n_exp = self.E + (1 if self.use_uncond else 0)
        self.experts = nn.ModuleList([MoeMLP(dim, m["moe_intermediate_size"]) for _ in range(n_exp)])
        if m["use_shared_expert"]:
            self.shared_expert = MoeMLP(dim, m["shared_expert_intermediate_size"])

    def forward(self, u, labels):
        B, N, D = u.shape
        E, m = self.E, self.m
        cap = ec_capacity(N, E, m["top_k"])
        cond = (labels != self.null) if self.use_uncond else torch.ones(B, dtype=torch.bool)
        out = torch.zeros(B, N, D, dtype=u.dtype)
        rec = MoeRecord()
        idx_rec = torch.full((B, E, cap), -1, dtype=torch.long)
        w_rec = torch.zeros(B, E, cap, dtype=u.dtype)
        routed = self.experts[:E]
        if cond.any():
            uc = u[cond]                                                     # (Bc,N,D)
            Z = F.normalize(uc, p=2, dim=-1, eps=NORM_EPS) @ F.normalize(self.cluster_centers, p=2, dim=-1, eps=NORM_EPS).T
            S = activate(Z.transpose(1, 2), m["router_weight_mode"], dim=-1)   # (Bc,E,N)
            G, I = torch.topk(S, k=cap, dim=-1)                             # sorted, descending
            cond_out, picked = expert_choice_combine(uc, G, I, routed, D)
            out[cond] = cond_out
            idx_rec[cond], w_rec[cond] = I, G.detach()
            rec.margin = topk_margin(S, cap)
            if m["rcl_lambda"] > 0 and E > 1:
                rec.rcl = rcl_loss(self.cluster_centers, picked.mean(dim=2), m["rcl_temperature"])
                rec.aux = rec.rcl * m["rcl_lambda"]
        else:
            for ex in routed:
                out = out + touch(ex, D, u)
        if self.use_uncond:
            if (~cond).any():
                out[~cond] = self.experts[E](u[~cond])
            else:
                out = out + touch(self.experts[E], D, u)
        if m["use_shared_expert"]:
            out = out + self.shared_expert(u)
        rec.route_idx, rec.route_w = idx_rec, w_rec
        return out, rec


class Gate(nn.Module):
    def __init__(self, E, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(E, dim))


class TCMoE(nn.Module):
    """Token-choice baseline (models_TCDiT.py): bias-free linear gate, softmax over experts, top-k,
    optional renormalisation, load balance over all tokens; experts are fc1/fc2 GELU MLPs."""

    def __init__(self, dim, m: dict):
        super().__init__()
        self.E, self.K, self.m = m["num_experts"], m["top_k"], m
        self.gate = Gate(self.E, dim)
        self.experts = nn.ModuleList([Mlp(dim, m["moe_intermediate_size"]) for _ in range(self.E)])
        if m.get("use_shared_expert"):
            self.shared_expert = MoeMLP(dim, m["shared_expert_intermediate_size"])

    def forward(self, u, labels):
        B, N, D = u.shape
        E, K, m = self.E, self.K, self.m
        U = u.reshape(-1, D)
        scores = F.softmax(U @ self.gate.weight.T, dim=-1)          # (T, E)
        G, J = torch.topk(scores, k=K, dim=-1)
        if K > 1 and m.get("norm_topk_prob"):
            G = G / (G.sum(dim=-1, keepdim=True) + 1e-20)
        rec = MoeRecord(margin=topk_margin(scores, K))
        flat_j = J.reshape(-1)
        slot_out = torch.zeros(U.shape[0] * K, D, dtype=u.dtype)
        U_rep = U.repeat_interleave(K, dim=0)
        for e, expert in enumerate(self.experts):
            sel = flat_j == e
            if sel.any():
                slot_out = slot_out.index_put((torch.where(sel)[0],), expert(U_rep[sel]))
            else:
                slot_out = slot_out + touch(expert, D, u)
        out = (slot_out.reshape(-1, K, D) * G.unsqueeze(-1)).sum(dim=1)
        if m["load_balance_coef"] > 0:
            f = F.one_hot(flat_j, num_classes=E).to(u.dtype).mean(0) * E
            rec.lb = (scores.mean(0) * f).sum()
            rec.aux = rec.lb * m["load_balance_coef"]
        if m.get("use_shared_expert"):
            out = out + self.shared_expert(U)
        rec.route_idx, rec.route_w = J.reshape(B, N, K), G.detach().reshape(B, N, K)
        return out.reshape(B, N, D), rec


class ECMoE(nn.Module):
    """Expert-choice baseline (models_ECDiT.py): softmax over experts of a bias-free linear gate,
    then each expert takes its top-`capacity` tokens of each image, gated by that softmax value."""

    def __init__(self, dim, m: dict):
        super().__init__()
        self.E, self.m = m["num_experts"], m
        self.register_parameter(EC_GATE_NAME, nn.Parameter(torch.empty(self.E, dim)))
        self.experts = nn.ModuleList([Mlp(dim, m["moe_intermediate_size"]) for _ in range(self.E)])
        if m.get("use_shared_expert"):
            self.shared_expert = MoeMLP(dim, m["shared_expert_intermediate_size"])

    def forward(self, u, labels):
        B, N, D = u.shape
        cap = ec_capacity(N, self.E, self.m["top_k"])
        aff = F.softmax(u @ getattr(self, EC_GATE_NAME).T, dim=-1).transpose(1, 2)   # (B,E,N)
        G, I = torch.topk(aff, k=cap, dim=-1)
        out, _ = expert_choice_combine(u, G, I, self.experts, D)
        if self.m.get("use_shared_expert"):
            out = out + self.shared_expert(u)
        return out, MoeRecord(route_idx=I, route_w=G.detach(), margin=topk_margin(aff, cap))


# ----------------------------------------------------------------------------------------------
# DiT
# ----------------------------------------------------------------------------------------------
class DiTBlock(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, moe: Optional[dict], null_label: int):
        super().__init__()
        self.attn = Attention(dim, heads)
        self.is_moe = moe is not None
        if moe is None:
            self.mlp = Mlp(dim, int(dim * mlp_ratio))
        else:
            self.mlp = {"promoe_tc": lambda: ProMoETC(dim, moe, null_label),
                        "promoe_ec": lambda: ProMoEEC(dim, moe, null_label),
                        "tc": lambda: TCMoE(dim, moe),
                        "ec": lambda: ECMoE(dim, moe)}[moe["type"]]()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def forward(self, x, c, labels, aux_trick=True):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.adaLN_modulation(c).chunk(6, dim=1)
        x = x + gate_msa.unsqueeze(1) * self.attn(modulate(layer_norm(x), shift_msa, scale_msa))
        h = modulate(layer_norm(x), shift_mlp, scale_mlp)
        rec = None
        if self.is_moe:
            y, rec = self.mlp(h, labels)
            if aux_trick and rec.aux is not None:
                y = AddAuxiliaryLoss.apply(y, rec.aux)
        else:
            y = self.mlp(h)
        return x + gate_mlp.unsqueeze(1) * y, rec


class FinalLayer(nn.Module):
    def __init__(self, dim, p, c_out):
        super().__init__()
        self.linear = nn.Linear(dim, p * p * c_out)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, c):
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)
        return self.linear(modulate(layer_norm(x), shift, scale))


class DiT(nn.Module):
    """Class-conditional DiT with optional MoE blocks. forward(x (B,C,H,W), t (B,) float, y (B,) int)
    returns (B, C_out, H, W); per-block MoE records and block outputs are kept in self.records /
    self.block_out for the case writer."""

    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg
        D, p, C = cfg["hidden_size"], cfg["patch_size"], cfg["in_channels"]
        self.p, self.C = p, C
        self.c_out = 2 * C if cfg["learn_sigma"] else C
        self.null_label = cfg["num_classes"]
        grid = cfg["input_size"] // p
        self.x_embedder = PatchEmbed(C, D, p)
        self.t_embedder = TimestepEmbedder(D)
        self.y_embedder = LabelEmbedder(cfg["num_classes"], D)
        self.pos_embed = nn.Parameter(torch.from_numpy(pos_embed_2d(D, grid)).float().unsqueeze(0),
                                      requires_grad=False)
        moe = cfg.get("moe")
        self.blocks = nn.ModuleList([
            DiTBlock(D, cfg["num_heads"], cfg["mlp_ratio"], moe if self.block_is_moe(i) else None, self.null_label)
            for i in range(cfg["depth"])])
        self.final_layer = FinalLayer(D, p, self.c_out)
        self.records: dict[int, MoeRecord] = {}
        self.block_out: dict[int, torch.Tensor] = {}

    def block_is_moe(self, i):
        moe = self.cfg.get("moe")
        return moe is not None and (not moe["interleave"] or i % 2 == 1)

    def unpatchify(self, x):
        """(B, N, p*p*c) with (py, px, c) ordering -> (B, c, H, W)."""
        B, N, _ = x.shape
        h = w = int(round(N ** 0.5))
        x = x.reshape(B, h, w, self.p, self.p, self.c_out)
        return torch.einsum("nhwpqc->nchpwq", x).reshape(B, self.c_out, h * self.p, w * self.p)

    def forward(self, x, t, y, aux_trick=True):
        self.records, self.block_out = {}, {}
        h = self.x_embedder(x) + self.pos_embed.to(x.dtype)
        c = self.t_embedder(t.to(x.dtype)) + self.y_embedder(y)
        for i, blk in enumerate(self.blocks):
            h, rec = blk(h, c, y, aux_trick)
            self.block_out[i] = h.detach()
            if rec is not None:
                self.records[i] = rec
        return self.unpatchify(self.final_layer(h, c))

    def aux_total(self):
        """Sum of the weighted aux losses of this forward (the part of the loss not in the main objective)."""
        tot = None
        for rec in self.records.values():
            if rec.aux is not None:
                tot = rec.aux if tot is None else tot + rec.aux
        return tot


# ----------------------------------------------------------------------------------------------
# Objectives
# ----------------------------------------------------------------------------------------------
def rf_inputs(x0, noise, sigma):
    """x_t = (1-sigma) x0 + sigma noise; model time t = 1000 sigma."""
    s = sigma.view(-1, 1, 1, 1)
    return (1.0 - s) * x0 + s * noise, sigma * 1000.0


def rf_loss(model, x0, noise, sigma, y, aux_trick=True):
    x_t, t = rf_inputs(x0, noise, sigma)
    out = model(x_t, t, y, aux_trick)
    pred = out[:, : model.C]
    per_sample = ((pred - (noise - x0)) ** 2).flatten(1).mean(dim=1)
    mse = per_sample.mean()
    return {"x_t": x_t, "t": t, "out": out, "mse": mse, "main": mse}


class GaussianDiffusion:
    """DiT/ADM diffusion: linear betas 1e-4..0.02 over 1000 steps, eps prediction, LEARNED_RANGE
    variance, loss = mse + vb (vb with the mean prediction detached, in bits). Tables are float64;
    per-sample coefficients are gathered and cast to the model dtype (as `_extract_into_tensor`)."""

    def __init__(self, steps=1000):
        b = np.linspace(1e-4, 0.02, steps, dtype=np.float64)
        self.betas = b
        ac = np.cumprod(1.0 - b)
        ac_prev = np.append(1.0, ac[:-1])
        self.sqrt_ac = np.sqrt(ac)
        self.sqrt_1m_ac = np.sqrt(1.0 - ac)
        self.sqrt_recip_ac = np.sqrt(1.0 / ac)
        self.sqrt_recipm1_ac = np.sqrt(1.0 / ac - 1)
        post_var = b * (1.0 - ac_prev) / (1.0 - ac)
        self.post_logvar_clipped = np.log(np.append(post_var[1], post_var[1:]))
        self.post_c1 = b * np.sqrt(ac_prev) / (1.0 - ac)
        self.post_c2 = (1.0 - ac_prev) * np.sqrt(1.0 - b) / (1.0 - ac)
        self.log_betas = np.log(b)

    @staticmethod
    def ext(arr, t, like):
        return torch.from_numpy(arr)[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def q_sample(self, x0, t, noise):
        return self.ext(self.sqrt_ac, t, x0) * x0 + self.ext(self.sqrt_1m_ac, t, x0) * noise

    def posterior_mean(self, x0, x_t, t):
        return self.ext(self.post_c1, t, x_t) * x0 + self.ext(self.post_c2, t, x_t) * x_t

    def vb_bits(self, eps, var_values, x0, x_t, t):
        """Per-sample VLB term in bits: KL(q(x_{t-1}|x_t,x0) || p) for t > 0, decoder NLL at t = 0."""
        true_mean = self.posterior_mean(x0, x_t, t)
        true_logvar = self.ext(self.post_logvar_clipped, t, x_t)
        min_log, max_log = true_logvar, self.ext(self.log_betas, t, x_t)
        frac = (var_values + 1) / 2
        logvar = frac * max_log + (1 - frac) * min_log
        pred_x0 = self.ext(self.sqrt_recip_ac, t, x_t) * x_t - self.ext(self.sqrt_recipm1_ac, t, x_t) * eps
        mean = self.posterior_mean(pred_x0, x_t, t)
        kl = 0.5 * (-1.0 + logvar - true_logvar + torch.exp(true_logvar - logvar)
                    + (true_mean - mean) ** 2 * torch.exp(-logvar))
        kl = kl.flatten(1).mean(1) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(x0, mean, 0.5 * logvar)
        nll = nll.flatten(1).mean(1) / math.log(2.0)
        return torch.where(t == 0, nll, kl)


def approx_std_normal_cdf(x):
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x, means, log_scales):
    centered = x - means
    inv_std = torch.exp(-log_scales)
    cdf_plus = approx_std_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = approx_std_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    mid = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, mid))


DIFFUSION = GaussianDiffusion()


def ddpm_loss(model, x0, noise, t, y, aux_trick=True):
    x_t = DIFFUSION.q_sample(x0, t, noise)
    out = model(x_t, t.to(x0.dtype), y, aux_trick)
    C = model.C
    eps, var_values = out[:, :C], out[:, C:]
    mse_ps = ((noise - eps) ** 2).flatten(1).mean(1)
    vb_ps = DIFFUSION.vb_bits(eps.detach(), var_values, x0, x_t, t)
    return {"x_t": x_t, "t": t, "out": out, "mse": mse_ps.mean(), "vlb": vb_ps.mean(),
            "main": (mse_ps + vb_ps).mean()}


def compute_loss(model, objective, inp, aux_trick=True):
    if objective == "rf":
        return rf_loss(model, inp["x0"], inp["noise"], inp["sigma"], inp["y"], aux_trick)
    if objective == "ddpm":
        return ddpm_loss(model, inp["x0"], inp["noise"], inp["t"], inp["y"], aux_trick)
    raise ValueError(objective)
