"""Plots the loss curve of a `promoe train` run (its log.jsonl) to a PNG, for the README.

usage: python3 docs/plot_loss.py runs/fashion/log.jsonl docs/img/loss_fashion.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

rows = [json.loads(line) for line in open(sys.argv[1])]
steps = [r["step"] for r in rows]
fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
ax.plot(steps, [r["loss"] for r in rows], label="rectified-flow loss (mean of 10 steps)")
ax.plot(steps, [r["aux"] for r in rows], label="routing contrastive loss (MoE layers summed, logged step)", alpha=0.7)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(sys.argv[2])
