"""Statistics every report uses: mean ± standard deviation / error, differences between arms (unpaired
Welch, paired by seed), the one verdict rule, the percentile bootstrap over episodes and the
order-statistic interval of a median. Cross-checked against ``scipy.stats`` in ``tests/test_common.py``.

Example
-------
>>> d = paired_difference([0.80, 0.82, 0.81], [0.83, 0.84, 0.82])
>>> round(d.mean, 4), round(d.se, 4), d.n
(0.02, 0.0058, 3)
>>> verdict(d.mean, d.se)
'higher'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Z95", "VERDICT_SE", "mean_std", "Difference", "welch_difference", "paired_difference", "verdict",
           "median_ci", "Bootstrap"]

Z95 = 1.959963984540054            #: two-sided 95 % normal quantile
VERDICT_SE = 2.0                   #: a difference is resolved when |d| > VERDICT_SE standard errors


def _finite(xs) -> np.ndarray:
    a = np.asarray([x for x in xs if x is not None], dtype=np.float64)
    return a[np.isfinite(a)]


def mean_std(xs):
    """``(mean, sample std (ddof 1) or None for one value, n)`` of the non-missing values; ``(None, None, 0)``
    when there are none."""
    a = _finite(xs)
    if a.size == 0:
        return None, None, 0
    return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else None), int(a.size)


@dataclass(frozen=True)
class Difference:
    """``mean`` of ``b - a`` (per pair, or of the arms' means), its standard error, the number of pairs (or
    ``min(n_a, n_b)``), degrees of freedom and the two-sided p-value of the t test (None when undefined)."""
    mean: float | None
    se: float | None
    n: int
    df: float | None = None
    p: float | None = None


def _t_p(t: float, df: float) -> float:
    from scipy import stats

    return float(2.0 * stats.t.sf(abs(t), df))


def welch_difference(a, b) -> Difference:
    """``mean(b) - mean(a)`` with the unpaired (Welch) standard error ``sqrt(s_a²/n_a + s_b²/n_b)``,
    Welch-Satterthwaite degrees of freedom and p-value (``scipy.stats.ttest_ind(..., equal_var=False)``)."""
    am, asd, an = mean_std(a)
    bm, bsd, bn = mean_std(b)
    if am is None or bm is None:
        return Difference(None, None, 0)
    d = bm - am
    if asd is None or bsd is None:
        return Difference(d, None, min(an, bn))
    va, vb = asd ** 2 / an, bsd ** 2 / bn
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(d, 0.0, min(an, bn))
    m = max(va, vb)                       # the Welch-Satterthwaite df is scale free: scale so squares cannot underflow
    ra, rb = va / m, vb / m
    df = (ra + rb) ** 2 / (ra ** 2 / (an - 1) + rb ** 2 / (bn - 1))
    return Difference(d, se, min(an, bn), df, _t_p(d / se, df))


def paired_difference(a, b) -> Difference:
    """Mean of ``b[i] - a[i]`` over the pairs where both are present, its standard error ``s_d / sqrt(n)``,
    ``n - 1`` degrees of freedom and the paired t test's p-value (``scipy.stats.ttest_rel``)."""
    if len(a) != len(b):
        raise ValueError(f"b: expected as many values as a ({len(a)}), got {len(b)}")
    d = np.asarray([y - x for x, y in zip(a, b) if x is not None and y is not None], dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return Difference(None, None, 0)
    if d.size == 1:
        return Difference(float(d[0]), None, 1)
    se = float(d.std(ddof=1) / math.sqrt(d.size))
    if se == 0:
        return Difference(float(d.mean()), 0.0, int(d.size), float(d.size - 1))
    return Difference(float(d.mean()), se, int(d.size), float(d.size - 1), _t_p(d.mean() / se, d.size - 1))


def verdict(d: float | None, se: float | None, k: float = VERDICT_SE) -> str | None:
    """The one rule: ``'higher'`` if ``d > k·se``, ``'lower'`` if ``d < -k·se``, else ``'unresolved'``;
    None when ``d`` or ``se`` is missing."""
    if d is None or se is None:
        return None
    if d > k * se:
        return "higher"
    if d < -k * se:
        return "lower"
    return "unresolved"


def median_ci(v: np.ndarray):
    """Median and its distribution-free 95% interval from order statistics (finite values only)."""
    v = np.asarray(v, dtype=np.float64)
    v = np.sort(v[np.isfinite(v)])
    n = v.size
    if n == 0:
        return None, [None, None]
    half = Z95 * math.sqrt(n) / 2.0
    lo = max(0, int(math.floor(n / 2.0 - half)) - 1)
    hi = min(n - 1, int(math.ceil(n / 2.0 + half)))
    return float(np.median(v)), [float(v[lo]), float(v[hi])]


class Bootstrap:
    """Percentile bootstrap over episodes with resample counts ``W`` (B, E) from a fixed seed."""

    def __init__(self, episodes: int, resamples: int, seed_seq: np.random.SeedSequence):
        self.resamples = int(resamples)
        if self.resamples <= 0:
            self.w = None
            return
        rng = np.random.default_rng(seed_seq)
        idx = rng.integers(0, episodes, size=(self.resamples, episodes), dtype=np.int64)
        idx += np.arange(self.resamples, dtype=np.int64)[:, None] * episodes
        flat = idx.ravel()
        self.w = np.bincount(flat, minlength=self.resamples * episodes).reshape(self.resamples, episodes)
        self.w = self.w.astype(np.float64)

    def _interval(self, stats: np.ndarray):
        stats = stats[np.isfinite(stats)]
        if stats.size < max(10, self.resamples // 2):
            return [None, None]
        lo, hi = np.percentile(stats, [2.5, 97.5])
        return [float(lo), float(hi)]

    def intervals(self, mean_std: dict, proportions: dict) -> dict:
        """95% intervals of ``mean``/``std`` of the finite entries of each ``mean_std`` array and of
        ``100·mean`` of each boolean ``proportions`` array: ``{name_mean, name_std, name}``.

        All resample sums come from ONE product ``W @ V`` (``V`` holds, per statistic, the mask, the
        centred values and their squares), a single pass over the resample counts.
        """
        out = {}
        if self.w is None:
            for k in mean_std:
                out[f"{k}_mean"] = out[f"{k}_std"] = [None, None]
            for k in proportions:
                out[k] = [None, None]
            return out
        cols, layout = [], []
        for k, v in mean_std.items():
            mask = np.isfinite(v)
            centre = float(np.mean(v[mask])) if mask.any() else 0.0
            x = np.where(mask, v - centre, 0.0)
            layout.append(("ms", k, len(cols), centre, bool(mask.any())))
            cols += [mask.astype(np.float64), x, x * x]
        for k, ind in proportions.items():
            layout.append(("p", k, len(cols), 0.0, True))
            cols.append(np.asarray(ind, dtype=np.float64))
        sums = self.w @ np.stack(cols, axis=1)                # (B, n_cols)
        n_ep = self.w.shape[1]
        for kind, k, j, centre, any_finite in layout:
            if kind == "p":
                out[k] = self._interval(100.0 * sums[:, j] / n_ep)
                continue
            if not any_finite:
                out[f"{k}_mean"] = out[f"{k}_std"] = [None, None]
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                cnt = sums[:, j]
                s1 = sums[:, j + 1] / cnt
                var = np.maximum(sums[:, j + 2] / cnt - s1 * s1, 0.0)
            out[f"{k}_mean"] = self._interval(s1 + centre)
            out[f"{k}_std"] = self._interval(np.sqrt(var))
        return out

    def mean_std(self, v: np.ndarray):
        """Intervals of the mean and of the std (ddof 0) of the finite entries of ``v``."""
        r = self.intervals({"v": v}, {})
        return r["v_mean"], r["v_std"]

    def proportion(self, indicator: np.ndarray):
        """Interval of ``100 · mean(indicator)``."""
        return self.intervals({}, {"p": indicator})["p"]
