"""experiments.common.power: the paired t test's power against a simulation, the MDE and seed count as its
inverses, Holm's adjustment against its definition."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from experiments.common import power


def _simulated_power(effect, sd, n, sims=20000, seed=0):
    rng = np.random.default_rng(seed)
    d = rng.normal(effect, sd, size=(sims, n))
    t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    return float(np.mean(np.abs(t) > sps.t.ppf(0.975, n - 1)))


@pytest.mark.parametrize("effect,sd,n", [(1.0, 1.0, 10), (0.5, 0.4, 3), (2.0, 1.0, 4), (0.0, 1.0, 6)])
def test_power_matches_a_simulation(effect, sd, n):
    # 20,000 simulated experiments: binomial SE <= 0.0036; 4 SE
    assert power.paired_power(effect, sd, n) == pytest.approx(_simulated_power(effect, sd, n), abs=0.015)


def test_power_at_zero_effect_is_the_level_and_a_published_value():
    assert power.paired_power(0.0, 1.0, 7) == pytest.approx(0.05, abs=1e-12)
    # one-sample / paired t test, d_z = 1, n = 10, alpha 0.05 two-sided: power 0.8031 (Cohen 1988 tables)
    assert power.paired_power(1.0, 1.0, 10) == pytest.approx(0.8031, abs=5e-4)


@settings(max_examples=40, deadline=None)
@given(sd=st.floats(0.01, 10), n=st.integers(2, 40))
def test_mde_is_where_the_power_reaches_80_percent(sd, n):
    mde = power.min_detectable_effect(sd, n)
    assert power.paired_power(mde, sd, n) == pytest.approx(0.8, abs=1e-8)
    assert power.paired_power(0.99 * mde, sd, n) < 0.8 < power.paired_power(1.01 * mde, sd, n)
    # scale equivariance: the MDE is measured in units of the differences' SD
    assert power.min_detectable_effect(2 * sd, n) == pytest.approx(2 * mde, rel=1e-8)


@settings(max_examples=40, deadline=None)
@given(effect=st.floats(0.05, 5), sd=st.floats(0.05, 5))
def test_seeds_for_power_is_the_smallest_sufficient_n(effect, sd):
    n = power.seeds_for_power(effect, sd)
    assert n is not None and power.paired_power(effect, sd, n) >= 0.8
    if n > 2:
        assert power.paired_power(effect, sd, n - 1) < 0.8
    assert power.seeds_for_power(effect, sd, n_max=n - 1) is None if n > 2 else True


def test_t_interval_matches_scipy():
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.4])
    lo, hi = power.t_interval(d.mean(), d.std(ddof=1) / math.sqrt(5), 4)
    want = sps.ttest_1samp(d, 0.0).confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((want.low, want.high), rel=1e-12)


def _holm_by_definition(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj = [0.0] * m
    for k, i in enumerate(order):
        adj[i] = min(1.0, max((m - j) * p[order[j]] for j in range(k + 1)))
    return adj


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_matches_its_definition(p):
    got = power.holm(p)
    assert got == pytest.approx(_holm_by_definition(p), abs=1e-12)
    assert all(g >= q for g, q in zip(got, p))


def test_holm_skips_missing_and_refuses_bad_input():
    assert power.holm([0.02, None, 0.04]) == pytest.approx([0.04, None, 0.04])
    with pytest.raises(ValueError, match="pvalues"):
        power.holm([0.5, 1.5])
    with pytest.raises(ValueError, match="sd"):
        power.paired_power(1.0, 0.0, 5)
    with pytest.raises(ValueError, match="n:"):
        power.min_detectable_effect(1.0, 1)


@pytest.mark.parametrize("effect,sd,n", [(1.0, 1.0, 2), (0.3, 1.0, 3), (2.0, 0.5, 5)])
def test_the_integral_form_agrees_with_scipys_noncentral_t(effect, sd, n, monkeypatch):
    want = power.paired_power(effect, sd, n)
    monkeypatch.setattr(sps.nct, "sf", lambda *a: math.nan)      # force the fallback
    assert power.paired_power(effect, sd, n) == pytest.approx(want, abs=1e-7)
