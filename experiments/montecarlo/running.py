"""Running statistics of Monte Carlo trajectories: what :func:`.metrics.summarize` needs, in O(E) memory.

Every statistic of a row reads the trajectories only through (per episode and measured padding)

* the values at ``t = 0`` and ``t = T`` of ``(||F1||², <F1,F2>, ||F2||²)``;
* whether every step was finite (objective and the three values);
* the Pearson correlation over ``t = 0..T`` of the objective and ``s_t`` (one per requested metric), and
  the largest ``|value|`` of each trajectory (the "constant trajectory" test of
  :func:`experiments.common.episode_stats.episode_correlations`);
* for the figure, the values at ~120 sampled steps (:func:`curve_steps`) of the first padding.

:class:`RunningStats` is a sink for :func:`.episodes.run_batched`: it takes each block of recorded steps,
updates these and drops the block, so the memory of a row no longer grows with its iterations (the N = 16
SGD row of Table 1 stored 303 MB of trajectories). The Pearson moments of a block are computed two-pass
within the block and merged into the running ones with the pairwise update of Chan, Golub & LeVeque
(1979)::

    n = n_a + n_b,  δ_x = x̄_b - x̄_a,  x̄ = x̄_a + δ_x n_b/n,
    M2_x = M2_x,a + M2_x,b + δ_x² n_a n_b / n,   C = C_a + C_b + δ_x δ_y n_a n_b / n,

``r = C / sqrt(M2_x M2_y)``. Counts and endpoint values equal the stored-trajectory ones exactly; the
correlations agree to rounding (the suite checks ≤ 1e-12 relative, and the rendered tables identical).
Spearman correlations need whole trajectories (ranks): :func:`needs_trajectories`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .metrics import EpisodeStats, similarity

__all__ = ["RunningStats", "curve_steps", "needs_trajectories"]


def needs_trajectories(corr: str) -> bool:
    """True when the correlation cannot be accumulated step by step (Spearman ranks)."""
    return corr != "pearson"


def curve_steps(steps: int, points: int = 120) -> np.ndarray:
    """The sampled steps of the trajectory figure: ``points`` roughly even indices in ``[0, steps-1]``."""
    return np.unique(np.linspace(0, steps - 1, min(points, steps)).round().astype(int))


@dataclass
class _Moments:
    n: int
    mx: torch.Tensor
    my: torch.Tensor
    m2x: torch.Tensor
    m2y: torch.Tensor
    c: torch.Tensor
    amax_x: torch.Tensor
    amax_y: torch.Tensor


def _abs_max(x: torch.Tensor) -> torch.Tensor:
    """``x.abs().amax(0)`` without the ``|x|`` temporary (NaN propagates, as there). Reductions over the
    leading axis of a contiguous tensor are torch's fast path (``aminmax`` and reductions over several axes
    are several times slower)."""
    return torch.maximum(x.amax(0), x.amin(0).neg_())


class _Side:
    """Two-pass moments over axis 0 of one block of one variable: mean, centred values, M2, max |x|."""

    def __init__(self, x: torch.Tensor):
        self.n = x.shape[0]
        self.m = x.mean(0)
        self.d = x - self.m
        self.m2 = (self.d * self.d).sum(0)
        self.amax = _abs_max(x)


def _block_moments(x: _Side, y: _Side) -> _Moments:
    """The block's :class:`_Moments` of ``x`` (b, E) (the objective, shared by every padding: its moments
    are (E, 1) and broadcast) and ``y`` (b, E, nP)."""
    c = (x.d[:, :, None] * y.d).sum(0)
    return _Moments(x.n, x.m[:, None], y.m, x.m2[:, None], y.m2, c, x.amax[:, None], y.amax)


def _merge(a: _Moments | None, b: _Moments) -> _Moments:
    if a is None:
        return b
    n = a.n + b.n
    dx, dy = b.mx - a.mx, b.my - a.my
    w = a.n * b.n / n
    return _Moments(n, a.mx + dx * (b.n / n), a.my + dy * (b.n / n), a.m2x + b.m2x + dx * dx * w,
                    a.m2y + b.m2y + dy * dy * w, a.c + b.c + dx * dy * w,
                    torch.maximum(a.amax_x, b.amax_x), torch.maximum(a.amax_y, b.amax_y))


def _pearson(m: _Moments) -> np.ndarray:
    """``r`` per entry, NaN where a trajectory is constant (same rule as ``episode_correlations``)."""
    sa, sb = torch.sqrt(m.m2x), torch.sqrt(m.m2y)
    r = m.c / (sa * sb)
    root = np.sqrt(m.n)
    const = (sa <= m.amax_x * root * 1e-12) | (sb <= m.amax_y * root * 1e-12)
    r = torch.where(const | ~torch.isfinite(r), torch.full_like(r, float("nan")), r.clamp(-1.0, 1.0))
    return r.double().cpu().numpy()


#: paddings per slice of a block's statistics (the padding sweep of N = 16 has 18: its temporaries of
#: (b, E, paddings) were the job's peak memory)
PAD_CHUNK = 6


class RunningStats:
    """Sink for :func:`.episodes.run_batched` keeping :class:`.metrics.EpisodeStats` per padding.

    Parameters
    ----------
    metrics : sequence of str
        The ``s_t`` definitions whose correlation with the objective is needed (``.metrics.METRICS``).
    steps : int
        ``T + 1``, the number of recorded steps (for the curve samples).
    curves : bool
        Also keep the first padding's values at :func:`curve_steps`.

    ``finish`` returns ``(stats, curve_quad)``: ``stats[j]`` the :class:`.metrics.EpisodeStats` of
    padding ``j`` and ``curve_quad`` the ``(points, E, 3)`` sampled values (or None).
    """

    def __init__(self, metrics, steps: int, curves: bool = False):
        self.metrics = tuple(dict.fromkeys(metrics))
        self.moments = {m: None for m in self.metrics}
        self.steps = steps
        self.t = 0
        self.first = self.last = None
        self.finite = None
        self.curve_idx = curve_steps(steps) if curves else None
        self.curve_rows = []

    def add(self, objective: torch.Tensor, quad: torch.Tensor) -> None:
        b = objective.shape[0]
        if self.first is None:
            self.first = quad[0].clone()                             # (E, nP, 3)
        self.last = quad[-1].clone()
        with torch.inference_mode():
            # (E, nP): every step finite; max |.| propagates NaN and inf, cheaper than isfinite().all()
            obj = _Side(objective)                                   # (b, E): one for every padding and metric
            ok = torch.isfinite(_abs_max(quad.reshape(b, -1)).view(quad.shape[1:])).all(-1) \
                & torch.isfinite(obj.amax)[:, None]
            self.finite = ok if self.finite is None else self.finite & ok
            n_pad = quad.shape[2]
            for m in self.metrics:
                chunks = self.moments[m] or [None] * len(range(0, n_pad, PAD_CHUNK))
                for i, j in enumerate(range(0, n_pad, PAD_CHUNK)):   # bounds the (b, E, paddings) temporaries
                    y = _Side(similarity(quad[:, :, j:j + PAD_CHUNK], m))
                    chunks[i] = _merge(chunks[i], _block_moments(obj, y))
                self.moments[m] = chunks
        if self.curve_idx is not None:
            sel = self.curve_idx[(self.curve_idx >= self.t) & (self.curve_idx < self.t + b)] - self.t
            if sel.size:
                self.curve_rows.append(quad[torch.as_tensor(sel, device=quad.device), :, 0].cpu().clone())
        self.t += b

    def finish(self, k0: torch.Tensor, kT: torch.Tensor, paddings: tuple):
        if self.t != self.steps:
            raise RuntimeError(f"RunningStats: {self.t} steps recorded, expected {self.steps}")
        k0n, kTn = k0.double().cpu().numpy(), kT.double().cpu().numpy()
        finite_k = np.all(np.isfinite(kTn), axis=(1, 2))
        first, last = self.first.double().cpu().numpy(), self.last.double().cpu().numpy()
        fin = self.finite.cpu().numpy()
        r = {m: np.concatenate([_pearson(c) for c in self.moments[m]], axis=1) for m in self.metrics}
        stats = []
        for j in range(first.shape[1]):
            ok = fin[:, j] & finite_k
            stats.append(EpisodeStats(finite=ok, q0=first[:, j], qT=last[:, j],
                                      r={m: np.where(ok, v[:, j], np.nan) for m, v in r.items()},
                                      k0=k0n, kT=kTn))
        curve = torch.cat(self.curve_rows, 0).double().numpy() if self.curve_idx is not None else None
        return stats, curve
