"""Metrics of one configuration's trajectories: the paper's columns, the scale-invariant extras, CIs.

Definitions (the paper does not state them; these are our defaults, alternatives by flag):

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

95% intervals: percentile bootstrap over episodes (:class:`experiments.common.stats.Bootstrap`, ``B``
resamples, default 1000, from a fixed seed; the same resample counts serve every row) for means, stds and
the frequency; for medians the distribution-free order-statistic interval
(:func:`experiments.common.stats.median_ci`, ranks ``E/2 ∓ 1.96·sqrt(E)/2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.common.episode_stats import episode_correlations, finite_mean_std, log10_ratio, log_split
from experiments.common.stats import Bootstrap, median_ci

from .spec import METRICS

__all__ = ["similarity", "EpisodeStats", "episode_stats", "summarize", "summarize_stats",
           "definitions"]


def similarity(quad, metric: str = "sim"):
    """``s_t`` from ``quad[..., (||F1||², <F1,F2>, ||F2||²)]``: a NumPy array or a torch tensor (the running
    statistics of :mod:`.running`), the result of the same kind."""
    f1, p, f2 = quad[..., 0], quad[..., 1], quad[..., 2]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):   # diverged episodes: inf/nan
        if metric == "sim":
            return p * p
        if metric == "abs":
            return abs(p)
        if metric == "cos2":
            return p * p / (f1 * f2)
    raise ValueError(f"metric: unknown {metric!r}; expected one of {METRICS}")


@dataclass
class EpisodeStats:
    """What a row's statistics read from one padding's trajectories, per episode (E,).

    ``finite``: every step's objective and ``quad`` finite and ``kT`` finite; ``q0``/``qT`` (E, 3): the
    values at ``t = 0`` and ``t = T``; ``r``: ``{metric: correlation of the objective and s_t}`` (NaN where
    undefined or not finite); ``k0``/``kT`` (E, 2, N).
    """

    finite: np.ndarray
    q0: np.ndarray
    qT: np.ndarray
    r: dict
    k0: np.ndarray
    kT: np.ndarray


def episode_stats(objective: np.ndarray, quad: np.ndarray, k0: np.ndarray, kT: np.ndarray, metrics=("sim",),
                  corr: str = "pearson") -> EpisodeStats:
    """:class:`EpisodeStats` from stored trajectories ``objective`` (T+1, E), ``quad`` (T+1, E, 3)."""
    finite = (np.all(np.isfinite(objective), axis=0) & np.all(np.isfinite(quad), axis=(0, 2))
              & np.all(np.isfinite(kT), axis=(1, 2)))
    obj = np.where(finite[None, :], objective, np.nan)
    r = {}
    for m in dict.fromkeys(metrics):
        with np.errstate(invalid="ignore", over="ignore"):
            s = np.where(finite[None, :], similarity(quad, m), np.nan)
        r[m] = episode_correlations(obj, s, corr)
    return EpisodeStats(finite=finite, q0=quad[0], qT=quad[-1], r=r, k0=k0, kT=kT)


def summarize(objective: np.ndarray, quad: np.ndarray, k0: np.ndarray, kT: np.ndarray, *, metric: str = "sim",
              corr: str = "pearson", bootstrap: Bootstrap | None = None) -> dict:
    """All statistics of one configuration (one padding). Shapes: ``objective`` (T+1, E),
    ``quad`` (T+1, E, 3), ``k0``/``kT`` (E, 2, N). Returns a flat dict; intervals as ``[lo, hi]``.
    """
    return summarize_stats(episode_stats(objective, quad, k0, kT, (metric,), corr), metric=metric,
                           bootstrap=bootstrap)


def summarize_stats(st: EpisodeStats, *, metric: str = "sim", bootstrap: Bootstrap | None = None) -> dict:
    """:func:`summarize` from :class:`EpisodeStats` (stored or running, :mod:`.running`)."""
    finite = st.finite
    e = finite.shape[0]
    diverged = ~finite
    r = st.r[metric]
    corr_defined = np.isfinite(r)
    with np.errstate(invalid="ignore", over="ignore"):
        s0 = np.where(finite, similarity(st.q0, metric), np.nan)
        sT = np.where(finite, similarity(st.qT, metric), np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = sT / s0
    reduced = finite & (sT < s0)
    increased = finite & (sT > s0)
    dec = np.where(reduced, 100.0 * (1.0 - ratio), np.nan)
    inc = np.where(increased, 100.0 * (ratio - 1.0), np.nan)

    corr_mean, corr_std = finite_mean_std(r)
    dec_mean, dec_std = finite_mean_std(dec)
    inc_mean, inc_std = finite_mean_std(inc)
    n_finite = int(finite.sum())

    (f10, p0, f20), (f1T, pT, f2T) = st.q0.T, st.qT.T
    k0, kT = st.k0, st.kT
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cos0 = np.where(finite, np.abs(p0) / np.sqrt(f10 * f20), np.nan)
        cosT = np.where(finite, np.abs(pT) / np.sqrt(f1T * f2T), np.nan)
        kn0 = np.linalg.norm(k0[:, 0], axis=1) * np.linalg.norm(k0[:, 1], axis=1)
        knT = np.linalg.norm(kT[:, 0], axis=1) * np.linalg.norm(kT[:, 1], axis=1)
        kratio = np.where(finite, knT / kn0, np.nan)
        # Split of log10(sim_T / sim_0) over the episodes whose sim decreased.
        sim_dec = finite & (pT * pT < p0 * p0)
        l_total = log10_ratio(pT * pT, p0 * p0)
        l_cos = log10_ratio(cosT ** 2, cos0 ** 2)
        l_norm = log10_ratio(f1T * f2T, f10 * f20)
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


def definitions() -> dict:
    """The metric definitions in words, as written into every results document."""
    return {
        "s_t": {"sim": "<F1,F2>^2", "abs": "|<F1,F2>|", "cos2": "<F1,F2>^2/(||F1||^2 ||F2||^2)"},
        "correlation": "per episode, Pearson (or Spearman) correlation of the objective and s_t over t = 0..T; "
                       "mean and std (ddof 0) over episodes where defined",
        "reduction_freq": "100 * #(s_T < s_0) / #episodes (diverged episodes count as not reduced)",
        "decrease": "100 (1 - s_T/s_0) over decreasing episodes; mean, std (ddof 0)",
        "increase": "100 (s_T/s_0 - 1) over increasing episodes; mean, std (ddof 0)",
        "diverged": "any non-finite objective, <F1,F2>, ||F||^2 or final kernel value",
        "ci": "95%: percentile bootstrap over episodes (fixed seed, same resamples for every row) for means, stds, "
              "frequencies; order-statistic interval for medians",
    }
