"""Naive reference loop: one episode at a time, NumPy only, built on :mod:`theory.reference`.

Each iteration forms the two feature maps with :func:`theory.reference.correlate` (the paper's
eq. 1b / 12-13 with the requested padding), takes ``<F1, F2>``, ``||F1||²``, ``||F2||²`` from them
directly, evaluates the objective (``<K1, K2>²``, or ``Σ (K1 ⋆ K2)²`` with
:func:`theory.reference.kernel_crosscorrelation`), its closed-form gradient in NumPy and a NumPy
Adam / SGD step. It is the ground truth the batched runner is tested against and the baseline of the
benchmark; it records the same quantities in the same layout as
:class:`~.episodes.Trajectories` (as NumPy arrays).
"""

from __future__ import annotations

import numpy as np

from experiments.common.optim import ADAM_BETAS, ADAM_EPS
from theory.reference import correlate, kernel_crosscorrelation


def objective_and_grad(k1: np.ndarray, k2: np.ndarray, objective: str):
    """``(L, ∂L/∂K1, ∂L/∂K2)`` for one episode.

    ``kernel``: ``L = d²``, ``d = <K1, K2>``, ``∂L/∂K1 = 2d·K2``, ``∂L/∂K2 = 2d·K1``.
    ``cs``: ``L = Σ_n C[n]²``, ``C = K1 ⋆ K2`` (index ``c = n + N-1``),
    ``∂L/∂K1[m] = 2 Σ_n C[n]·K2[m+n]``, ``∂L/∂K2[j] = 2 Σ_n C[n]·K1[j-n]``.
    """
    if objective == "kernel":
        d = float(np.dot(k1, k2))
        return d * d, 2.0 * d * k2, 2.0 * d * k1
    if objective != "cs":
        raise ValueError(f"objective: unknown {objective!r}; expected 'kernel' or 'cs'")
    n = k1.shape[0]
    c = kernel_crosscorrelation(k1, k2, d=1)                 # c[n + N-1] = Σ_m K1[m] K2[m+n]
    g1 = np.zeros(n)
    g2 = np.zeros(n)
    for lag in range(1 - n, n):
        cn = c[lag + n - 1]
        for m in range(max(0, -lag), min(n, n - lag)):
            g1[m] += 2.0 * cn * k2[m + lag]                  # ∂C[n]/∂K1[m] = K2[m+n]
            g2[m + lag] += 2.0 * cn * k1[m]                  # ∂C[n]/∂K2[m+n] = K1[m]
    return float(np.sum(c * c)), g1, g2


class NumpyAdam:
    """Adam with ``torch.optim.Adam``'s defaults and arithmetic (lerp for the first moment)."""

    def __init__(self, shape, lr: float):
        self.lr = lr
        self.m = np.zeros(shape)
        self.v = np.zeros(shape)
        self.t = 0

    def step(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        b1, b2 = ADAM_BETAS
        self.t += 1
        self.m = self.m + (1.0 - b1) * (g - self.m)          # torch.lerp with weight < 0.5
        self.v = self.v * b2 + (1.0 - b2) * g * g
        bc1 = 1.0 - b1 ** self.t
        bc2_sqrt = (1.0 - b2 ** self.t) ** 0.5
        denom = np.sqrt(self.v) / bc2_sqrt + ADAM_EPS
        return p - (self.lr / bc1) * self.m / denom


class NumpySGD:
    def __init__(self, shape, lr: float):
        self.lr = lr

    def step(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        return p - self.lr * g


def run_episode(k0: np.ndarray, x: np.ndarray, objective: str, optimizer: str, lr: float, iterations: int,
                paddings=("full",)) -> dict:
    """One episode; ``k0`` (2, N), ``x`` (M,). Returns ``objective`` (T+1,), ``quad`` (T+1, nP, 3), ``kT``."""
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer: unknown {optimizer!r}; expected 'adam' or 'sgd'")
    p = np.array(k0, dtype=np.float64)
    opt = (NumpyAdam if optimizer == "adam" else NumpySGD)(p.shape, lr)
    obj = np.empty(iterations + 1)
    quad = np.empty((iterations + 1, len(paddings), 3))
    with np.errstate(over="ignore", invalid="ignore"):        # divergence is detected, not warned about
        p = _loop(p, x, objective, opt, iterations, paddings, obj, quad)
    return {"objective": obj, "quad": quad, "k0": np.array(k0, dtype=np.float64), "kT": p}


def _loop(p, x, objective, opt, iterations, paddings, obj, quad):
    for t in range(iterations + 1):
        for j, pad in enumerate(paddings):
            f1 = correlate(x, p[0], pad, d=1)
            f2 = correlate(x, p[1], pad, d=1)
            quad[t, j] = (np.dot(f1, f1), np.dot(f1, f2), np.dot(f2, f2))
        obj[t], g1, g2 = objective_and_grad(p[0], p[1], objective)
        if t == iterations:
            break
        p = opt.step(p, np.stack((g1, g2)))
        if not np.all(np.isfinite(p)):                        # diverged: the rest stays non-finite
            obj[t + 1:] = np.nan
            quad[t + 1:] = np.nan
            break
    return p


def run_naive(k0: np.ndarray, x: np.ndarray, objective: str, optimizer: str, lr: float, iterations: int,
              paddings=("full",)) -> dict:
    """Episodes one after another; same layout as ``Trajectories.numpy()``."""
    runs = [run_episode(k0[e], x[e], objective, optimizer, lr, iterations, paddings) for e in range(k0.shape[0])]
    return {"objective": np.stack([r["objective"] for r in runs], axis=1),
            "quad": np.stack([r["quad"] for r in runs], axis=1),
            "k0": np.stack([r["k0"] for r in runs]),
            "kT": np.stack([r["kT"] for r in runs])}
