"""Per-episode statistics of Monte Carlo trajectories, shared by the 1-D and 2-D runners.

Arrays hold one column per episode (``(T+1, E)`` trajectories); missing or diverged entries are NaN and
are skipped, never an exception.

Example
-------
>>> import numpy as np
>>> t = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 2.5]])
>>> episode_correlations(t, np.array([[2.0, 5.0], [4.0, 5.0], [6.0, 5.0]])).tolist()
[1.0, nan]
>>> finite_mean_std(np.array([1.0, 3.0, np.nan]))
(2.0, 1.0)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["CORRS", "episode_correlations", "finite_mean_std", "log10_ratio", "log_split"]

CORRS = ("pearson", "spearman")


def episode_correlations(a: np.ndarray, b: np.ndarray, method: str = "pearson") -> np.ndarray:
    """Correlation over axis 0 (time) of ``a`` and ``b`` (T+1, E), per episode; NaN where undefined.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (T+1, E)
    method : {'pearson', 'spearman'}

    Returns
    -------
    numpy.ndarray, shape (E,)
        NaN for an episode with a non-finite entry or a constant trajectory (zero spread up to rounding
        relative to its size).
    """
    if method not in CORRS:
        raise ValueError(f"corr: unknown {method!r}; expected one of {CORRS}")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ok = np.all(np.isfinite(a), axis=0) & np.all(np.isfinite(b), axis=0)
    out = np.full(a.shape[1], np.nan)
    if not ok.any():
        return out
    a, b = a[:, ok], b[:, ok]
    if method == "spearman":
        from scipy.stats import rankdata          # lazy: scipy.stats costs ~0.6 s to import
        a = rankdata(a, axis=0)
        b = rankdata(b, axis=0)
    da = a - a.mean(axis=0)
    db = b - b.mean(axis=0)
    sa = np.sqrt(np.sum(da * da, axis=0))
    sb = np.sqrt(np.sum(db * db, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sum(da * db, axis=0) / (sa * sb)
    scale_a = np.max(np.abs(a), axis=0) * math.sqrt(a.shape[0]) * 1e-12
    scale_b = np.max(np.abs(b), axis=0) * math.sqrt(b.shape[0]) * 1e-12
    r[(sa <= scale_a) | (sb <= scale_b)] = np.nan
    out[ok] = np.clip(r, -1.0, 1.0)
    return out


def finite_mean_std(v: np.ndarray):
    """``(mean, std)`` (population std, ddof 0) of the finite entries; ``(None, None)`` when there are none."""
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, None
    return float(np.mean(v)), float(np.std(v))


def log10_ratio(after: np.ndarray, before: np.ndarray) -> np.ndarray:
    """``log10(after / before)``, both floored at the smallest normal float64 (no -inf, no division)."""
    tiny = np.finfo(np.float64).tiny
    return np.log10(np.maximum(after, tiny)) - np.log10(np.maximum(before, tiny))


def log_split(mask: np.ndarray, total: np.ndarray, cos: np.ndarray, norm: np.ndarray):
    """Means over the ``mask``-ed episodes of the log10 decrease ``total = cos + norm`` and its two parts,
    and the share carried by the cosine part: ``(total, cos, norm, share)``, all None if none is masked."""
    if not mask.any():
        return None, None, None, None
    mt, mc, mn = (float(np.mean(v[mask])) for v in (total, cos, norm))
    return mt, mc, mn, (mc / mt if mt != 0 else None)
