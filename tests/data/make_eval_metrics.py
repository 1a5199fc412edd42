"""Writes eval_metrics.json, the goldens of tests/test_unit_eval_metrics.cpp: two small feature sets
and their Fréchet distance (scipy.linalg.sqrtm), unbiased polynomial-kernel MMD^2 over the whole
sets, and k-NN precision/recall, each computed here from its definition. Run with numpy and scipy:
    python3 make_eval_metrics.py
"""
import json

import numpy as np
import scipy.linalg


def frechet(a, b):
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * np.trace(covmean))


def mmd2(a, b):
    d = a.shape[1]
    k = lambda x, y: (x @ y.T / d + 1) ** 3
    m, n = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float((kaa.sum() - np.trace(kaa)) / (m * (m - 1)) + (kbb.sum() - np.trace(kbb)) / (n * (n - 1))
                 - 2 * kab.sum() / (m * n))


def precision_recall(real, fake, k):
    def dist(x, y):
        return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
    r_real = np.sort(dist(real, real), axis=1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(dist(fake, fake), axis=1)[:, k]
    precision = (dist(fake, real) <= r_real[None, :]).any(1).mean()
    recall = (dist(real, fake) <= r_fake[None, :]).any(1).mean()
    return float(precision), float(recall)


if __name__ == "__main__":
    rng = np.random.default_rng(7)
    a = rng.normal(size=(40, 5))
    b = rng.normal(size=(30, 5)) @ rng.normal(size=(5, 5)) * 0.7 + 0.3
    p, r = precision_recall(a, b, 3)
    out = dict(a=a.tolist(), b=b.tolist(), fd=frechet(a, b), mmd2=mmd2(a, b), precision=p, recall=r, k=3)
    with open("eval_metrics.json", "w") as f:
        json.dump(out, f, indent=1)
