"""Metric definitions on hand-made trajectories (expected values computed by hand, in the comments), the shared
per-episode statistics, the comparison with the paper's values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.common import episode_stats as es
from experiments.common import stats
from experiments.common.report import fmt
from experiments.montecarlo import metrics as mt
from experiments.montecarlo.verdict import compare_cell, decrease_source


def _quad(p, f1=None, f2=None):
    """Trajectories (T+1, E, 3) from lists of <F1,F2> per episode; ||F||² default 10."""
    p = np.asarray(p, dtype=float).T                          # (T+1, E)
    f1 = np.full_like(p, 10.0) if f1 is None else np.asarray(f1, dtype=float).T
    f2 = np.full_like(p, 10.0) if f2 is None else np.asarray(f2, dtype=float).T
    return np.stack((f1, p, f2), axis=-1)


def test_similarity_definitions():
    q = _quad([[3.0, -2.0]], f1=[[9.0, 4.0]], f2=[[4.0, 1.0]])
    np.testing.assert_allclose(mt.similarity(q, "sim")[:, 0], [9.0, 4.0])           # p²
    np.testing.assert_allclose(mt.similarity(q, "abs")[:, 0], [3.0, 2.0])           # |p|
    np.testing.assert_allclose(mt.similarity(q, "cos2")[:, 0], [9 / 36, 4 / 4])     # p²/(f1 f2)
    with pytest.raises(ValueError, match="metric"):
        mt.similarity(q, "l2")


def test_pearson_and_spearman_by_hand():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    # column 0: perfectly linear (r = 1); column 1: reversed (r = -1);
    # column 2: s = [1, 3, 2, 4]: deviations (-1.5,-.5,.5,1.5)·(-1.5,.5,-.5,1.5) = 4, norms² 5, 5 -> 0.8;
    # column 3: s = [1, 10, 100, 1000]: Pearson 1543.5 / sqrt(5 · 701520.75) = 0.824140716620699,
    #           Spearman 1 (monotone).
    a = np.stack([t, t, t, t], axis=1)
    b = np.stack([2 * t + 1, -t, [1, 3, 2, 4], [1, 10, 100, 1000]], axis=1).astype(float)
    np.testing.assert_allclose(es.episode_correlations(a, b, "pearson"), [1, -1, 0.8, 0.824140716620699],
                               rtol=1e-12)
    np.testing.assert_allclose(es.episode_correlations(a, b, "spearman"), [1, -1, 0.8, 1.0], rtol=1e-12)


def test_correlation_undefined_for_constant_or_nonfinite():
    a = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, np.nan]])
    b = np.array([[5.0, 1.0, 1.0], [5.0, 2.0, 2.0], [5.0, 4.0, 3.0]])
    r = es.episode_correlations(a, b)
    assert math.isnan(r[0]) and math.isnan(r[2])               # constant s; non-finite objective
    # column 1: a = (1,2,3), b = (1,2,4): dev (-1,0,1)·(-4/3,-1/3,5/3) = 3; norms² 2 and 14/3
    assert r[1] == pytest.approx(3 / math.sqrt(2 * 14 / 3), rel=1e-12)


def _hand_run():
    """Four episodes, T = 2, ||F1||² = ||F2||² = 10 unless noted.

    ep0: p 2 -> 1.5 -> 1        s = p²: 4 -> 1       decrease 75 %
    ep1: p 2 -> 2.2 -> sqrt(6)  s: 4 -> 6            increase 50 %
    ep2: p -sqrt(5) -> 1 -> sqrt(0.5)  s: 5 -> 0.5   decrease 90 %
    ep3: p 1 -> inf -> nan      diverged
    objective: ep0 (3,2,1), ep1 (1,2,3), ep2 (9,4,1), ep3 (1, inf, nan)
    """
    p = [[2.0, 1.5, 1.0], [2.0, 2.2, math.sqrt(6)], [-math.sqrt(5), 1.0, math.sqrt(0.5)], [1.0, np.inf, np.nan]]
    obj = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0], [9.0, 4.0, 1.0], [1.0, np.inf, np.nan]]).T
    k0 = np.ones((4, 2, 2))
    kT = np.ones((4, 2, 2)) * np.array([0.5, 1.0, 0.1, np.nan])[:, None, None]
    return obj, _quad(p), k0, kT


def test_summary_on_hand_made_trajectories():
    obj, quad, k0, kT = _hand_run()
    row = mt.summarize(obj, quad, k0, kT, metric="sim", corr="pearson")
    assert row["episodes"] == 4 and row["diverged"] == 1 and row["finite"] == 3
    assert row["reduction_freq"] == pytest.approx(50.0)        # 2 of 4 (the diverged one counts as not)
    assert row["reduction_freq_finite"] == pytest.approx(200 / 3)
    assert (row["n_dec"], row["n_inc"]) == (2, 1)
    assert row["dec_mean"] == pytest.approx(82.5) and row["dec_std"] == pytest.approx(7.5)   # (75, 90)
    assert row["inc_mean"] == pytest.approx(50.0) and row["inc_std"] == pytest.approx(0.0)
    # Correlations by hand (objective vs s):
    #  ep0: (3,2,1) vs (4, 2.25, 1): dev (1,0,-1)·(19,-2,-17)/12 = 3; norms² 2, 654/144
    #  ep1: (1,2,3) vs (4, 4.84, 6): dev (-1,0,1)·(-0.946667,-0.106667,1.053333) = 2; norms² 2, 2.015467
    #  ep2: (9,4,1) vs (5, 1, 0.5): dev (13,-2,-11)/3·(17,-7,-10)/6 = 345/18; norms² 294/9, 438/36
    r0 = 3 / math.sqrt(2 * 654 / 144)
    r1 = 2 / math.sqrt(2 * (0.946666666666667 ** 2 + 0.106666666666667 ** 2 + 1.053333333333333 ** 2))
    r2 = (345 / 18) / math.sqrt((294 / 9) * (438 / 36))
    assert row["corr_defined"] == 3 and row["corr_undefined"] == 0
    assert row["corr_mean"] == pytest.approx((r0 + r1 + r2) / 3, rel=1e-12)
    assert row["corr_std"] == pytest.approx(np.std([r0, r1, r2]), rel=1e-12)
    # |cos| = |p| / 10: before (0.2, 0.2, sqrt(5)/10) -> median 0.2; after (0.1, sqrt(6)/10, sqrt(.5)/10)
    assert row["cos_before_median"] == pytest.approx(0.2)
    assert row["cos_after_median"] == pytest.approx(0.1)
    # ||K1||·||K2|| ratio: 0.5² = 0.25, 1, 0.01 -> median 0.25 (diverged one excluded)
    assert row["knorm_ratio_median"] == pytest.approx(0.25)
    # Norms constant: all of the decrease is decorrelation; log10 split is exact.
    assert row["decorrelation_share"] == pytest.approx(1.0)
    assert row["log10_sim_ratio_mean"] == pytest.approx((math.log10(0.25) + math.log10(0.1)) / 2)
    assert row["log10_fnorm2_ratio_mean"] == pytest.approx(0.0)


def test_alternative_metrics_change_the_columns():
    obj, quad, k0, kT = _hand_run()
    row = mt.summarize(obj, quad, k0, kT, metric="abs")
    # |p|: ep0 2 -> 1 (dec 50 %), ep1 2 -> sqrt 6 (inc 22.47 %), ep2 sqrt5 -> sqrt .5 (dec 68.38 %)
    assert row["dec_mean"] == pytest.approx((50 + 100 * (1 - math.sqrt(0.1))) / 2)
    assert row["inc_mean"] == pytest.approx(100 * (math.sqrt(6) / 2 - 1))
    row = mt.summarize(obj, quad, k0, kT, metric="sim", corr="spearman")
    # ranks: ep0 (3,2,1)/(3,2,1) -> 1; ep1 -> 1; ep2 (3,2,1)/(3,2,1) -> 1
    assert row["corr_mean"] == pytest.approx(1.0) and row["corr_std"] == pytest.approx(0.0)


def test_shrinking_kernels_are_told_apart_from_decorrelation():
    # One episode: <F1,F2> 5 -> 0.05 with ||F1||² = ||F2||² 10 -> 0.1 (cos fixed at 0.5): pure shrinking.
    quad = _quad([[5.0, 0.05]], f1=[[10.0, 0.1]], f2=[[10.0, 0.1]])
    obj = np.array([[2.0], [1.0]])
    row = mt.summarize(obj, quad, np.ones((1, 2, 3)), 0.1 * np.ones((1, 2, 3)))
    assert row["dec_mean"] == pytest.approx(100 * (1 - 1e-4))
    assert row["cos_before_median"] == pytest.approx(0.5) and row["cos_after_median"] == pytest.approx(0.5)
    assert row["knorm_ratio_median"] == pytest.approx(0.01)
    assert row["decorrelation_share"] == pytest.approx(0.0, abs=1e-12)
    assert row["log10_fnorm2_ratio_mean"] == pytest.approx(-4.0)
    label, text = decrease_source(row)
    assert label == "shrinking kernels" and "10^-4.00" in text


def test_bootstrap_intervals():
    rng = np.random.default_rng(1)
    v = rng.normal(3.0, 1.0, size=400)
    b = stats.Bootstrap(400, 500, np.random.SeedSequence(7))
    (mlo, mhi), (slo, shi) = b.mean_std(v)
    assert mlo < v.mean() < mhi and slo < v.std() < shi
    assert (mhi - mlo) == pytest.approx(2 * 1.96 / 20, rel=0.25)       # ≈ ±1.96·σ/√n
    b2 = stats.Bootstrap(400, 500, np.random.SeedSequence(7))
    assert b2.mean_std(v) == b.mean_std(v)                             # fixed seed: same interval
    assert b.proportion(np.ones(400, dtype=bool)) == [100.0, 100.0]
    assert stats.Bootstrap(400, 0, np.random.SeedSequence(7)).mean_std(v) == ([None, None], [None, None])


def test_median_interval_order_statistics():
    v = np.arange(1.0, 101.0)                   # median 50.5; ranks 50 ∓ 1.96·10/2 -> indices 39, 60
    med, (lo, hi) = stats.median_ci(v)
    assert med == 50.5 and lo == 40.0 and hi == 61.0
    assert stats.median_ci(np.array([np.nan])) == (None, [None, None])


def test_compare_cell_statuses():
    assert compare_cell("corr_mean", 0.66, [0.64, 0.68], 0.67)["status"] == "match"
    c = compare_cell("corr_mean", 0.70, [0.69, 0.71], 0.67)
    assert c["status"] == "close" and c["diff"] == pytest.approx(0.03)
    assert compare_cell("corr_mean", 0.80, [0.79, 0.81], 0.67)["status"] == "differs"
    assert compare_cell("inc_mean", None, [None, None], 0.0, count=0)["status"] == "match"
    assert compare_cell("inc_mean", 300.0, [200, 400], 0.0, count=2)["status"] == "differs"
    assert compare_cell("inc_mean", 3e5, [1e5, 1e6], 2e4, count=9)["status"] == "differs"   # factor 15
    assert compare_cell("inc_mean", 5e4, [4e4, 6e4], 2e4, count=9)["status"] == "close"     # factor 2.5
    assert compare_cell("dec_std", 0.5, [0.0, 0.9], 1.26)["status"] == "close"               # tol 1 point
    assert compare_cell("dec_std", 0.07, [0.0, 0.1], 1.26)["status"] == "differs"            # 1.19 > 1
    assert compare_cell("reduction_freq", 94.3, [92.8, 95.6], 91.8)["status"] == "differs"


def test_fmt():
    assert [fmt(v) for v in (None, 3, 0.0, 99.86, 0.663, 1.72e7, 5.67e-8, float("nan"))] == \
        ["–", "3", "0", "99.86", "0.663", "1.72e7", "5.67e-8", "–"]


def test_log_split_and_finite_mean_std():
    mask = np.array([True, False, True])
    total, cos, norm = np.array([-2.0, 5.0, -4.0]), np.array([-0.5, 1.0, -1.5]), np.array([-1.5, 4.0, -2.5])
    assert es.log_split(mask, total, cos, norm) == (-3.0, -1.0, -2.0, pytest.approx(1 / 3))
    assert es.log_split(np.zeros(3, bool), total, cos, norm) == (None, None, None, None)
    assert es.finite_mean_std(np.array([1.0, np.inf, 3.0, np.nan])) == (2.0, 1.0)        # ddof 0
    assert es.finite_mean_std(np.array([np.nan])) == (None, None)
    np.testing.assert_allclose(es.log10_ratio(np.array([1e-3, 0.0]), np.array([1.0, 1.0])),
                               [-3.0, np.log10(np.finfo(np.float64).tiny)])
    with pytest.raises(ValueError, match="corr"):
        es.episode_correlations(np.ones((3, 1)), np.ones((3, 1)), "kendall")
