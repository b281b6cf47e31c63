"""Metrics of one configuration's trajectories: the paper's columns, the scale-invariant extras, CIs.

Definitions (the paper does not state them; these are the issue's defaults, alternatives by flag):

* feature-map similarity ``s_t`` (``--metric``): ``sim`` = ``<F1,F2>²`` (default), ``abs`` =
  ``|<F1,F2>|``, ``cos2`` = ``<F1,F2>² / (||F1||²·||F2||²)``;
* ``Correlation`` (``--corr``): per episode, the Pearson (default) or Spearman correlation between the
  objective trajectory and the ``s_t`` trajectory over ``t = 0..T``; mean and std (ddof = 0) over the
  episodes where it is defined (both trajectories finite and non-constant; the others are counted in
  ``corr_undefined``);
* ``Reduction frequency`` = 100 · #{episodes with ``s_T < s_0``} / #{all episodes}; a diverged episode
  counts as not reduced (``reduction_freq_finite`` uses the finite episodes as denominator);
* ``Decrease %`` = ``100·(1 - s_T/s_0)`` over the decreasing episodes, ``Increase %`` =
  ``100·(s_T/s_0 - 1)`` over the increasing ones: mean and std (ddof = 0); ``null`` when there are none
  (count 0; the paper prints 0 there);
* ``diverged``: episodes with any non-finite objective, ``<F1,F2>``, ``||F_a||²`` or final kernel value.
  They are counted and excluded from every statistic except the reduction frequency's denominator.

Scale-invariant extras: median ``|cos(F1,F2)|`` at ``t = 0`` and ``t = T``; median of
``||K1_T||·||K2_T|| / (||K1_0||·||K2_0||)``; and the split of the similarity's decrease. Since
``<F1,F2>² = cos²(F1,F2) · ||F1||²·||F2||²``, for every episode

    log10(sim_T / sim_0) = log10(cos²_T / cos²_0)  +  log10(||F1_T||²||F2_T||² / (||F1_0||²||F2_0||²))
                           (decorrelation)             (shrinking feature maps, i.e. kernels)

Averaged over the decreasing episodes (geometric means), the two parts add up exactly; the share of
the first is ``decorrelation_share``. (Computed on ``sim`` whatever ``--metric`` says.)

95% intervals: percentile bootstrap over episodes (``B`` resamples, default 1000, from a fixed seed;
the same resample counts serve every row) for means, stds and the frequency; for medians the distribution-free order-statistic
interval (ranks ``E/2 ∓ 1.96·sqrt(E)/2``).
"""

from __future__ import annotations

import math

import numpy as np

METRICS = ("sim", "abs", "cos2")
CORRS = ("pearson", "spearman")
Z95 = 1.959963984540054


def similarity(quad: np.ndarray, metric: str = "sim") -> np.ndarray:
    """``s_t`` from ``quad[..., (||F1||², <F1,F2>, ||F2||²)]``."""
    f1, p, f2 = quad[..., 0], quad[..., 1], quad[..., 2]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):   # diverged episodes: inf/nan
        if metric == "sim":
            return p * p
        if metric == "abs":
            return np.abs(p)
        if metric == "cos2":
            return p * p / (f1 * f2)
    raise ValueError(f"metric: unknown {metric!r}; expected one of {METRICS}")


def episode_correlations(a: np.ndarray, b: np.ndarray, method: str = "pearson") -> np.ndarray:
    """Correlation over axis 0 (time) of ``a`` and ``b`` (T+1, E), per episode; NaN where undefined."""
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
    # A constant trajectory (zero spread, up to rounding relative to its size) has no correlation.
    scale_a = np.max(np.abs(a), axis=0) * math.sqrt(a.shape[0]) * 1e-12
    scale_b = np.max(np.abs(b), axis=0) * math.sqrt(b.shape[0]) * 1e-12
    r[(sa <= scale_a) | (sb <= scale_b)] = np.nan
    out[ok] = np.clip(r, -1.0, 1.0)
    return out


def _mean_std(v: np.ndarray):
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, None
    return float(np.mean(v)), float(np.std(v))


def median_ci(v: np.ndarray):
    """Median and its distribution-free 95% interval from order statistics (finite values only)."""
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


def summarize(objective: np.ndarray, quad: np.ndarray, k0: np.ndarray, kT: np.ndarray, *, metric: str = "sim",
              corr: str = "pearson", bootstrap: Bootstrap | None = None) -> dict:
    """All statistics of one configuration (one padding). Shapes: ``objective`` (T+1, E),
    ``quad`` (T+1, E, 3), ``k0``/``kT`` (E, 2, N). Returns a flat dict; intervals as ``[lo, hi]``.
    """
    e = objective.shape[1]
    s = similarity(quad, metric)
    finite = (np.all(np.isfinite(objective), axis=0) & np.all(np.isfinite(quad), axis=(0, 2))
              & np.all(np.isfinite(kT), axis=(1, 2)))
    diverged = ~finite
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.where(finite[None, :], s, np.nan)
    r = episode_correlations(np.where(finite[None, :], objective, np.nan), s, corr)
    corr_defined = np.isfinite(r)
    s0, sT = s[0], s[-1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = sT / s0
    reduced = finite & (sT < s0)
    increased = finite & (sT > s0)
    dec = np.where(reduced, 100.0 * (1.0 - ratio), np.nan)
    inc = np.where(increased, 100.0 * (ratio - 1.0), np.nan)

    corr_mean, corr_std = _mean_std(r)
    dec_mean, dec_std = _mean_std(dec)
    inc_mean, inc_std = _mean_std(inc)
    n_finite = int(finite.sum())

    f1, p, f2 = quad[..., 0], quad[..., 1], quad[..., 2]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cos0 = np.where(finite, np.abs(p[0]) / np.sqrt(f1[0] * f2[0]), np.nan)
        cosT = np.where(finite, np.abs(p[-1]) / np.sqrt(f1[-1] * f2[-1]), np.nan)
        kn0 = np.linalg.norm(k0[:, 0], axis=1) * np.linalg.norm(k0[:, 1], axis=1)
        knT = np.linalg.norm(kT[:, 0], axis=1) * np.linalg.norm(kT[:, 1], axis=1)
        kratio = np.where(finite, knT / kn0, np.nan)
        # Split of log10(sim_T / sim_0) over the episodes whose sim decreased.
        sim = p * p
        sim_dec = finite & (sim[-1] < sim[0])
        l_total = log10_ratio(sim[-1], sim[0])
        l_cos = log10_ratio(cosT ** 2, cos0 ** 2)
        l_norm = log10_ratio(f1[-1] * f2[-1], f1[0] * f2[0])
    cos_before, cos_before_ci = median_ci(cos0)
    cos_after, cos_after_ci = median_ci(cosT)
    kr_med, kr_ci = median_ci(kratio)
    mt, mc, mn, share = log_split(sim_dec, l_total, l_cos, l_norm)

    row = {
        "episodes": e, "diverged": int(diverged.sum()), "finite": n_finite,
        "corr_mean": corr_mean, "corr_std": corr_std, "corr_defined": int(corr_defined.sum()),
        "corr_undefined": int(n_finite - corr_defined.sum()),
        "reduction_freq": 100.0 * float(reduced.sum()) / e,
        "reduction_freq_finite": (100.0 * float(reduced.sum()) / n_finite) if n_finite else None,
        "n_dec": int(reduced.sum()), "n_inc": int(increased.sum()),
        "dec_mean": dec_mean, "dec_std": dec_std, "inc_mean": inc_mean, "inc_std": inc_std,
        "dec_median": median_ci(dec)[0], "inc_median": median_ci(inc)[0],
        "cos_before_median": cos_before, "cos_after_median": cos_after,
        "knorm_ratio_median": kr_med,
        "inc_cos_before_median": median_ci(np.where(increased, cos0, np.nan))[0],
        "log10_sim_ratio_mean": mt, "log10_cos2_ratio_mean": mc, "log10_fnorm2_ratio_mean": mn,
        "decorrelation_share": share,
        "ci": {"cos_before_median": cos_before_ci, "cos_after_median": cos_after_ci,
               "knorm_ratio_median": kr_ci},
    }
    if bootstrap is not None and bootstrap.w is not None:
        row["ci"].update(bootstrap.intervals({"corr": r, "dec": dec, "inc": inc}, {"reduction_freq": reduced}))
    return row
