"""Statistics of one (objective, S, k, C, input, padding) cell: the Table 1/2/3 columns for S kernels.

Definitions for ``S >= 2`` kernels (each reduces to the 1-D runner's for ``S = 2``, the CS paper's
Tables 1-3 columns; the test-suite checks it):

* feature-map similarity ``s_t = Σ_{i<j} <F_i, F_j>²`` (the quantity L_CS is meant to control, summed over
  the ``S(S-1)/2`` pairs like eq. 10); recorded every ``record_every`` steps and at ``T``;
* ``Correlation``: per episode, Pearson correlation of the objective and ``s_t`` over the recorded steps;
  mean and std (ddof 0) over the episodes where it is defined;
* ``Reduction frequency`` = 100·#{s_T < s_0}/E (diverged episodes count as not reduced);
  ``Decrease %`` = 100(1 - s_T/s_0) over decreasing, ``Increase %`` = 100(s_T/s_0 - 1) over increasing
  episodes, mean and std (ddof 0);
* ``diverged``: any non-finite objective (any step), recorded similarity or final kernel;
* scale-invariant: per episode the mean pairwise ``|cos(F_i, F_j)|`` (``mcos``); its median over episodes
  before (t = 0) and after (t = T) with order-statistic 95% intervals; the percentage of episodes whose
  ``mcos`` fell (``cos_reduction_freq``); the percentage of all (episode, pair)s with ``|cos| < 0.1``
  before and after (``near_orth_before``/``after``);
* kernels: median over episodes of the mean pairwise ``|cos(K_i, K_j)|`` (flattened kernels) before and
  after — whether the kernel-orthogonality objectives did make the kernels orthogonal — (and of the
  signed mean cosine after, ``kcos_signed_after_median``), and the kernel
  scale ratio ``ρ = (Π_i ||K_i,T|| / ||K_i,0||)^{2/S}`` (the typical pair's ``||K_i||·||K_j||`` after/before;
  for ``S = 2`` exactly ``||K1||·||K2||`` after/before), median over episodes;
* decrease split: with ``ŝ_t = Σ_{i<j} cos²(F_i, F_j)`` (scale-free) and ``s_t = ŝ_t · (s_t/ŝ_t)`` (the second
  factor a cos²-weighted mean of ``||F_i||²·||F_j||²``),

      log10(s_T/s_0) = log10(ŝ_T/ŝ_0) + log10((s_T/ŝ_T)/(s_0/ŝ_0))
                       (decorrelation)   (shrinking feature maps, i.e. kernels)

  averaged over the decreasing episodes; ``decorrelation_share`` is the first part's share. For ``S = 2`` this
  is exactly the 1-D split (cos² and ||F1||²||F2||²).

95% intervals: percentile bootstrap over episodes for means/stds/frequencies
(:class:`experiments.common.stats.Bootstrap`), order statistics for medians
(:func:`experiments.common.stats.median_ci`).
"""

from __future__ import annotations

import numpy as np

from experiments.common.episode_stats import episode_correlations, finite_mean_std, log10_ratio, log_split
from experiments.common.stats import Bootstrap, median_ci

__all__ = ["NEAR_ORTH", "summarize", "decrease_source", "definitions"]

NEAR_ORTH = 0.1


def summarize(objective, sim, cos2, mcos, pair_cos0, pair_cosT, knorm0, knormT, kcos0, kcosT, finite_kT,
              steps, *, bootstrap: Bootstrap | None = None) -> dict:
    """One cell. Shapes: ``objective`` (T+1, E); ``sim``/``cos2``/``mcos`` (R, E) at ``steps`` (R,);
    ``pair_cos0/T`` (E, P); ``knorm0/T`` (E, S); ``kcos0/T`` (E, P); ``finite_kT`` (E,)."""
    e = objective.shape[1]
    s = knorm0.shape[1]
    with np.errstate(all="ignore"):
        finite = (np.all(np.isfinite(objective), axis=0) & np.all(np.isfinite(sim), axis=0)
                  & np.all(np.isfinite(cos2), axis=0) & np.asarray(finite_kT, bool))
        obj_rec = np.where(finite[None], objective[np.asarray(steps)], np.nan)
        s_t = np.where(finite[None], sim, np.nan)
        r = episode_correlations(obj_rec, s_t, "pearson")
        s0, sT = s_t[0], s_t[-1]
        ratio = sT / s0
        reduced = finite & (sT < s0)
        increased = finite & (sT > s0)
        dec = np.where(reduced, 100.0 * (1.0 - ratio), np.nan)
        inc = np.where(increased, 100.0 * (ratio - 1.0), np.nan)
        m0 = np.where(finite, mcos[0], np.nan)
        mT = np.where(finite, mcos[-1], np.nan)
        cos_reduced = finite & (mT < m0)
        pc0 = np.abs(pair_cos0[finite])
        pcT = np.abs(pair_cosT[finite])
        kc0 = np.where(finite, np.abs(kcos0).mean(1), np.nan)
        kcT = np.where(finite, np.abs(kcosT).mean(1), np.nan)
        kcT_signed = np.where(finite, kcosT.mean(1), np.nan)
        rho = np.where(finite, np.exp((2.0 / s) * np.sum(np.log(knormT / knorm0), axis=1)), np.nan)
        obj_ratio = np.where(finite, objective[-1] / objective[0], np.nan)
        l_total = log10_ratio(sim[-1], sim[0])
        l_cos = log10_ratio(cos2[-1], cos2[0])
        l_norm = log10_ratio(sim[-1] / cos2[-1], sim[0] / cos2[0])
    corr_mean, corr_std = finite_mean_std(r)
    dec_mean, dec_std = finite_mean_std(dec)
    inc_mean, inc_std = finite_mean_std(inc)
    mt, mc, mn, share = log_split(reduced, l_total, l_cos, l_norm)
    cb, cb_ci = median_ci(m0)
    ca, ca_ci = median_ci(mT)
    kb, kb_ci = median_ci(kc0)
    ka, ka_ci = median_ci(kcT)
    rh, rh_ci = median_ci(rho)
    n_fin = int(finite.sum())
    row = {
        "episodes": e, "diverged": int((~finite).sum()), "finite": n_fin,
        "corr_mean": corr_mean, "corr_std": corr_std, "corr_defined": int(np.isfinite(r).sum()),
        "reduction_freq": 100.0 * float(reduced.sum()) / e, "n_dec": int(reduced.sum()),
        "n_inc": int(increased.sum()),
        "dec_mean": dec_mean, "dec_std": dec_std, "inc_mean": inc_mean, "inc_std": inc_std,
        "dec_median": median_ci(dec)[0], "inc_median": median_ci(inc)[0],
        "cos_before_median": cb, "cos_after_median": ca,
        "cos_reduction_freq": 100.0 * float(cos_reduced.sum()) / e,
        "near_orth_before": (100.0 * float(np.mean(pc0 < NEAR_ORTH))) if pc0.size else None,
        "near_orth_after": (100.0 * float(np.mean(pcT < NEAR_ORTH))) if pcT.size else None,
        "pair_cos_after_median": float(np.median(pcT)) if pcT.size else None,
        "kcos_before_median": kb, "kcos_after_median": ka, "kcos_signed_after_median": median_ci(kcT_signed)[0],
        "knorm_ratio_median": rh, "objective_ratio_median": median_ci(obj_ratio)[0],
        "log10_sim_ratio_mean": mt, "log10_cos2_ratio_mean": mc, "log10_fnorm2_ratio_mean": mn,
        "decorrelation_share": share,
        "ci": {"cos_before_median": cb_ci, "cos_after_median": ca_ci, "kcos_before_median": kb_ci,
               "kcos_after_median": ka_ci, "knorm_ratio_median": rh_ci},
    }
    if bootstrap is not None and bootstrap.w is not None:
        row["ci"].update(bootstrap.intervals({"corr": r, "dec": dec, "inc": inc},
                                             {"reduction_freq": reduced, "cos_reduction_freq": cos_reduced}))
    return row


def decrease_source(share) -> str:
    """'decorrelation' (share >= 2/3), 'shrinking kernels' (<= 1/3), 'both', or 'none' (no decrease)."""
    if share is None:
        return "none"
    if share >= 2 / 3:
        return "decorrelation"
    if share <= 1 / 3:
        return "shrinking kernels"
    return "both"


def definitions() -> dict:
    """The metric definitions in words, as written into every results document."""
    return {
        "s_t": "sum_{i<j} <F_i,F_j>^2 over the S(S-1)/2 kernel pairs (S = 2: <F1,F2>^2), recorded every "
               "record_every steps and at T",
        "correlation": "per episode, Pearson correlation of the objective and s_t over the recorded steps; mean and "
                       "std (ddof 0) over episodes where defined",
        "reduction_freq": "100 * #(s_T < s_0) / #episodes (diverged episodes count as not reduced)",
        "decrease": "100 (1 - s_T/s_0) over decreasing episodes; mean, std (ddof 0)",
        "increase": "100 (s_T/s_0 - 1) over increasing episodes; mean, std (ddof 0)",
        "diverged": "any non-finite objective (any step), recorded s_t or final kernel",
        "mcos": "per episode, mean over pairs i<j of |cos(F_i,F_j)|; cos_before/after_median = its median over "
                "episodes at t = 0 / t = T",
        "cos_reduction_freq": "100 * #(mcos_T < mcos_0) / #episodes",
        "near_orth": f"% of all (episode, pair) with |cos(F_i,F_j)| < {NEAR_ORTH}, before / after",
        "kcos": "per episode, mean over pairs of |cos(K_i,K_j)| (flattened kernels); median over episodes "
                "(kcos_signed_after_median: the same without the absolute value, after)",
        "knorm_ratio": "rho = (prod_i ||K_i,T|| / ||K_i,0||)^(2/S), the typical pair's ||K_i||.||K_j|| after/before; "
                       "median over episodes",
        "objective_ratio": "median over episodes of objective_T / objective_0",
        "decrease_split": "log10(s_T/s_0) = log10(shat_T/shat_0) + log10((s/shat)_T/(s/shat)_0), shat = "
                          "sum_{i<j} cos^2(F_i,F_j); averaged over decreasing episodes; decorrelation_share = first "
                          "part / total; 'decorrelation' if >= 2/3, 'shrinking kernels' if <= 1/3, else 'both'",
        "ci": "95%: percentile bootstrap over episodes (fixed seed, same resamples for every cell) for means, stds, "
              "frequencies; order-statistic interval for medians",
    }
