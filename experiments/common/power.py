"""Planning and reading paired comparisons: the 95 % interval of a paired mean difference, the exact power of
the two-sided paired t test, the minimum detectable effect at a number of seeds, the seeds needed for a given
effect, and Holm's step-down adjustment for a family of comparisons.

The paired t test on ``n`` differences with standard deviation ``σ`` rejects ``δ = 0`` at level ``α`` when
``|t| > t_{1-α/2, n-1}``; under a true mean ``δ``, ``t`` follows the noncentral t distribution with ``n - 1``
degrees of freedom and noncentrality ``δ √n / σ``, so the power is

    P(δ) = 1 - F_nct(t_c; n-1, δ√n/σ) + F_nct(-t_c; n-1, δ√n/σ),

computed with ``scipy.stats.nct`` (no normal approximation; where it is not finite, far in the tail at one or
two degrees of freedom, by integrating over the chi-square law of the sample variance). The minimum detectable effect (MDE) is the ``δ``
with ``P(δ) = 0.8``.

Example
-------
>>> round(paired_power(1.0, 1.0, 10), 3)       # standardised effect 1 with 10 pairs
0.803
>>> round(min_detectable_effect(1.0, 10), 3)
0.996
>>> seeds_for_power(1.0, 1.0)
10
>>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
[0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["t_interval", "paired_power", "min_detectable_effect", "seeds_for_power", "holm", "POWER", "ALPHA"]

POWER = 0.8        #: the power the seeds are planned for
ALPHA = 0.05       #: two-sided level of every test and interval (95 %)


def _check_sd(sd) -> float:
    sd = float(sd)
    if not math.isfinite(sd) or sd <= 0:
        raise ValueError(f"sd: expected a finite standard deviation > 0, got {sd}")
    return sd


def _check_n(n) -> int:
    if int(n) != n or n < 2:
        raise ValueError(f"n: expected an integer number of pairs >= 2, got {n}")
    return int(n)


def t_interval(mean: float, se: float, df: float, level: float = 1 - ALPHA) -> tuple[float, float]:
    """``mean ± t_{(1+level)/2, df} · se``: the t interval of a mean difference (``scipy.stats.t``)."""
    from scipy import stats

    if not 0 < level < 1:
        raise ValueError(f"level: expected a probability in (0, 1), got {level}")
    h = float(stats.t.ppf(0.5 + level / 2, df)) * float(se)
    return float(mean) - h, float(mean) + h


def paired_power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t test at level ``alpha`` with ``n`` pairs whose differences have mean
    ``effect`` and standard deviation ``sd`` (exact, noncentral t)."""
    from scipy import integrate, stats

    sd, n = _check_sd(sd), _check_n(n)
    df = n - 1
    tc = float(stats.t.ppf(1 - alpha / 2, df))
    nc = float(effect) * math.sqrt(n) / sd
    p = float(stats.nct.sf(tc, df, nc) + stats.nct.cdf(-tc, df, nc))
    if math.isfinite(p):
        return p
    # scipy's nct is NaN far in the tail at df = 1..2: integrate over the chi-square of the sample variance
    f = lambda v: (stats.norm.cdf(nc - tc * math.sqrt(v / df)) + stats.norm.cdf(-nc - tc * math.sqrt(v / df))) \
        * stats.chi2.pdf(v, df)
    return float(min(1.0, integrate.quad(f, 0.0, math.inf, limit=200)[0]))


def min_detectable_effect(sd: float, n: int, power: float = POWER, alpha: float = ALPHA) -> float:
    """The smallest positive mean difference the paired t test detects with probability ``power``."""
    from scipy import optimize

    sd, n = _check_sd(sd), _check_n(n)
    if not alpha < power < 1:
        raise ValueError(f"power: expected a probability in ({alpha}, 1), got {power}")
    hi = sd
    while paired_power(hi, sd, n, alpha) < power:
        hi *= 2
    return float(optimize.brentq(lambda d: paired_power(d, sd, n, alpha) - power, 0.0, hi, xtol=1e-12 * sd))


def seeds_for_power(effect: float, sd: float, power: float = POWER, alpha: float = ALPHA, n_max: int = 10 ** 6):
    """The smallest number of pairs (>= 2) with ``paired_power >= power``; ``None`` if above ``n_max``.

    Starts from the normal approximation ``((z_{1-α/2} + z_power) σ / δ)²`` and steps to the exact answer
    (the power is increasing in ``n``)."""
    from scipy import stats

    sd = _check_sd(sd)
    if effect == 0:
        return None
    z = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    n = min(max(2, math.ceil((z * sd / abs(effect)) ** 2)), int(n_max))
    while n > 2 and paired_power(effect, sd, n - 1, alpha) >= power:
        n -= 1
    while paired_power(effect, sd, n, alpha) < power:
        n += 1
        if n > n_max:
            return None
    return n


def holm(pvalues) -> list:
    """Holm's step-down adjusted p-values (family-wise error rate); ``None`` entries stay ``None`` and are not
    counted in the family."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    p = np.asarray([pvalues[i] for i in idx], dtype=np.float64)
    if np.any((p < 0) | (p > 1) | ~np.isfinite(p)):
        raise ValueError(f"pvalues: expected probabilities in [0, 1], got {list(pvalues)}")
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    out = [None] * len(pvalues)
    for j, i in enumerate(idx):
        out[i] = float(adj[j])
    return out
