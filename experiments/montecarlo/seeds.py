"""Verdicts across seeds (``--seeds``): every row is run once per seed (independent draws: the seed enters
each configuration's seed sequence, :func:`~.spec.config_seed`) and each cell becomes the across-seed mean
with its standard error ``SE = s / sqrt(S)`` over the ``S`` seeds, the 95 % t interval of that mean, and the
per-seed bootstrap intervals (``seed_ci``) beside it.

Comparison with the paper (:func:`compare_cell_seeds`), per cell:

* ``match`` (reproduced) — the paper's value is within :data:`SE_K` standard errors of our mean;
* ``close`` (near) — outside that but within the practical tolerance of :mod:`.verdict` (correlations 0.05,
  frequencies and decrease means 2 points, decrease std max(1 point, 25 %), increase columns a factor 3);
* ``differs`` — otherwise. Where the paper prints an Increase of 0 (no increasing episode in its 1000), the
  cell is judged on our pooled rate of increasing episodes: it matches when that rate gives at least a 5 %
  chance of none in 1000 episodes (a heavy-tailed mean with a huge SE would otherwise "reach" 0 whatever
  the rate).

So one unlucky seed cannot flip a cell, and a real miss of several standard errors is not hidden inside the
tolerance: it shows as ``close`` with its distance in SE printed.

The pooled Table 3 test (:func:`pooled_table3`): the paper prints a reduction frequency of 100.0 % (and no
increase) in all six rows. If our per-row non-reduction rates ``q_r`` (pooled over seeds and episodes) were
the truth, the chance that 1000 episodes show no non-reducing episode in every row is
``Π_r (1 - q_r)^1000``; it is reported with the same product at the Clopper-Pearson 95 % bounds of each
``q_r`` (``scipy.stats.beta``).
"""

from __future__ import annotations

import math

import numpy as np

from .spec import TABLE_COLUMNS
from .verdict import ABS_TOL, COUNT_FOR, LOG_TOL, decrease_source, sweep_findings, table_verdict

__all__ = ["SE_K", "COUNTS", "compare_cell_seeds", "aggregate_row", "aggregate_doc", "pooled_table3"]

SE_K = 3.0          #: a paper value within this many standard errors of our across-seed mean is reproduced
#: counts: summed over seeds (everything else numeric is averaged)
COUNTS = ("episodes", "diverged", "finite", "corr_defined", "corr_undefined", "n_dec", "n_inc")
_KEEP = ("n", "paper_row", "optimizer", "lr", "iterations", "padding", "padding_label", "pads")
_SKIP = set(_KEEP) | {"ci", "paper", "comparison", "decrease_source", "decrease_statement", "unconstrained"}


def _t(df: int) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.975, df))


PAPER_EPISODES = 1000   #: episodes per row in the paper


def compare_cell_seeds(col: str, mean, se, paper, count=None, episodes=None) -> dict:
    """``{paper, ours, se, diff, z, status}`` of one cell against the across-seed mean (module doc).

    ``count`` / ``episodes``: for the Increase columns, our increasing episodes and all episodes (pooled over
    seeds): a paper value of 0 ("no increasing episode in 1000") is matched when our pooled rate makes that
    outcome not unlikely, ``(1 - count/episodes)^1000 >= 0.05`` (``p_zero`` in the result).
    """
    band = [mean - SE_K * se, mean + SE_K * se] if mean is not None and se is not None else None
    out = {"paper": paper, "ours": mean, "ci": band, "se": se, "diff": None, "z": None, "status": None}
    if paper is None:
        return out
    if col in COUNT_FOR and mean is None and count == 0:
        out["status"] = "match" if paper == 0 else "differs"
        return out
    if mean is None:
        out["status"] = "differs"
        return out
    out["diff"] = mean - paper
    if se is not None and se > 0:
        out["z"] = out["diff"] / se
    if col in ("inc_mean", "inc_std") and paper == 0:
        # the paper's 0 means "no increasing episode in its 1000": judged on our pooled rate, not on the
        # heavy-tailed mean (whose huge SE would "reach" 0 whatever the rate)
        if count is not None and episodes:
            out["p_zero"] = (1.0 - count / episodes) ** PAPER_EPISODES
            out["status"] = "match" if out["p_zero"] >= 0.05 else "differs"
        else:
            out["status"] = "differs"
    elif col in ("inc_mean", "inc_std") and mean == 0:
        out["status"] = "differs"
    elif (se is not None and abs(out["diff"]) <= SE_K * se) or out["diff"] == 0:
        out["status"] = "match"
    elif col in ("inc_mean", "inc_std"):
        if paper == 0 or mean == 0:
            out["status"] = "differs"
        else:
            out["status"] = "close" if abs(math.log10(abs(mean) / abs(paper))) <= LOG_TOL else "differs"
    else:
        tol = max(1.0, 0.25 * abs(paper)) if col == "dec_std" else ABS_TOL.get(col)
        out["status"] = "close" if tol is not None and abs(out["diff"]) <= tol else "differs"
    return out


def _mean(vals):
    v = [float(x) for x in vals if x is not None and math.isfinite(float(x))]
    return float(np.mean(v)) if v else None


def _se(vals):
    v = [float(x) for x in vals if x is not None and math.isfinite(float(x))]
    return float(np.std(v, ddof=1) / math.sqrt(len(v))) if len(v) > 1 else None


def aggregate_row(rows: list[dict], table: int | None) -> dict:
    """One row over seeds (``rows``: the same configuration's row of each seed, in seed order)."""
    r0 = rows[0]
    out = {k: r0[k] for k in _KEEP if k in r0}
    numeric = [k for k, v in r0.items() if k not in _SKIP and not isinstance(v, (bool, str, dict, list))]
    for k in numeric:
        vals = [r.get(k) for r in rows]
        out[k] = (sum(int(v) for v in vals if v is not None) if k in COUNTS else _mean(vals))
    out["seeds"] = len(rows)
    cols = list(TABLE_COLUMNS.get(table, ())) + ["corr_mean", "reduction_freq", "cos_before_median",
                                                  "cos_after_median", "knorm_ratio_median"]
    cols = list(dict.fromkeys(c for c in cols if c in r0))
    out["se"] = {c: _se([r.get(c) for r in rows]) for c in cols}
    out["seed_values"] = {c: [r.get(c) for r in rows] for c in cols}
    out["seed_ci"] = {c: [(r.get("ci") or {}).get(c) for r in rows] for c in cols}
    out["ci"] = {}
    for c in cols:
        m, s = out.get(c), out["se"][c]
        out["ci"][c] = [m - _t(len(rows) - 1) * s, m + _t(len(rows) - 1) * s] if m is not None and s is not None \
            else None
    if "unconstrained" in r0:
        keys = r0["unconstrained"]
        out["unconstrained"] = {k: _mean([(r.get("unconstrained") or {}).get(k) for r in rows]) for k in keys}
    out["decrease_source"], out["decrease_statement"] = decrease_source(out)
    if "paper" in r0:
        out["paper"] = dict(r0["paper"])
        out["comparison"] = {c: compare_cell_seeds(c, out.get(c), out["se"].get(c), out["paper"].get(c),
                                                   out.get(COUNT_FOR.get(c, "")), out.get("episodes"))
                             for c in TABLE_COLUMNS.get(table, ()) if c in out["paper"]}
    return out


def pooled_table3(rows: list[dict], smallest_n, episodes_paper: int = 1000) -> dict:
    """The pooled test of Table 3's six 100 % rows (module doc) over the chosen reading's rows."""
    from scipy import stats

    chosen = [r for r in rows if r["paper_row"] != "smallest" or r["n"] == smallest_n]
    per_row, logp, logp_lo, logp_hi = [], 0.0, 0.0, 0.0
    for r in chosen:
        total = int(r["episodes"])
        fails = int(round(total * (1 - r["reduction_freq"] / 100.0)))
        q = fails / total
        lo = 0.0 if fails == 0 else float(stats.beta.ppf(0.025, fails, total - fails + 1))
        hi = 1.0 if fails == total else float(stats.beta.ppf(0.975, fails + 1, total - fails))
        p = (1 - q) ** episodes_paper
        logp += math.log10(p) if p > 0 else -math.inf
        logp_lo += episodes_paper * math.log10(1 - hi) if hi < 1 else -math.inf
        logp_hi += episodes_paper * math.log10(1 - lo) if lo < 1 else -math.inf
        per_row.append({"n": r["n"], "optimizer": r["optimizer"], "episodes": total, "not_reduced": fails,
                        "q": q, "q_ci": [lo, hi], "p_all_reduce": p})
    return {"rows": per_row, "episodes_paper": episodes_paper, "log10_p": logp, "log10_p_ci": [logp_lo, logp_hi],
            "text": (f"If our per-row rates were the truth, the chance that all {len(per_row)} rows of "
                     f"{episodes_paper} episodes reduce in every episode (the paper's 100.0 %) is 10^{logp:.2f} "
                     f"(10^{logp_lo:.2f} to 10^{logp_hi:.2f} at the Clopper-Pearson 95 % bounds of each row's "
                     "non-reduction rate)." if per_row else "no rows")}


def aggregate_doc(key: str, docs: list[dict], seeds: list[int]) -> dict:
    """A result document over seeds (``docs``: the same document of each seed's run)."""
    d0 = docs[0]
    table = d0.get("table") if key.startswith("table") else (3 if key in ("fixed_norm", "cos2_table3") else None)
    n = len(d0["rows"])
    rows = [aggregate_row([d["rows"][i] for d in docs], table) for i in range(n)]
    out = {k: v for k, v in d0.items() if k not in ("rows", "verdict", "findings", "provenance")}
    out["rows"] = rows
    out["seeds"] = list(seeds)
    prov = dict(d0["provenance"])
    prov["seed"] = list(seeds)
    prov["run_time_s"] = round(sum(d["provenance"]["run_time_s"] for d in docs), 3)
    out["provenance"] = prov
    if key.startswith("table") or key == "cos2_table3":
        out["verdict"] = table_verdict(d0["table"], rows)
        if d0["table"] == 3:
            out["pooled_test"] = pooled_table3(rows, out["verdict"]["smallest_n"])
    elif key == "padding_sweep":
        out["findings"] = sweep_findings(rows)
    return out
