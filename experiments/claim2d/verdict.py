"""The verdict of the 2-D Monte Carlo: data-driven findings on the CS paper's central claim (Section 3.1,
Table 1: kernel orthogonality does not give feature-map orthogonality; eq. 10: L_CS reduces feature-map
similarity), each a sentence with the numbers it rests on, and the yes/no answers.

Thresholds: a kernel-orthogonality baseline "made the kernels orthogonal" in a cell when the median mean
pairwise ``|cos(K_i, K_j)|`` after is below :data:`KERNEL_ORTH`; the feature maps are "far from orthogonal"
when the median mean pairwise ``|cos(F_i, F_j)|`` after is above :data:`FM_CORRELATED`.
"""

from __future__ import annotations

from experiments.common.report import fmt

from .metrics import NEAR_ORTH
from .objectives import OBJECTIVES

__all__ = ["KERNEL_BASELINES", "INPUT_LABELS", "KERNEL_ORTH", "FM_CORRELATED", "label", "select", "value_range",
           "cfg_label", "ci_text", "verdict"]

KERNEL_BASELINES = ("kernel_ip", "soft_orth", "ocnn", "orthoreg")
INPUT_LABELS = {"uniform": "U(0,1)", "image": "images [0,1]", "image_std": "images standardised"}
#: a baseline "made the kernels orthogonal" when the median mean pairwise |cos(K_i,K_j)| after is below this
KERNEL_ORTH = 0.05
#: feature maps "far from orthogonal" when the median mean pairwise |cos(F_i,F_j)| after is above this
FM_CORRELATED = 0.2


def label(name):
    """The short label of objective ``name``."""
    return OBJECTIVES[name][0]


def select(rows, **kw):
    """The rows whose fields equal ``kw``."""
    return [r for r in rows if all(r[k] == v for k, v in kw.items())]


def value_range(vals):
    """``lo-hi`` of the non-missing values (one value when they print alike; ``–`` when none)."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    lo, hi = min(vals), max(vals)
    if fmt(lo) == fmt(hi):
        return fmt(lo)
    return f"{fmt(lo)} to {fmt(hi)}" if lo < 0 else f"{fmt(lo)}-{fmt(hi)}"


def cfg_label(r):
    """``C=.. k=.. S=..`` of a row."""
    return f"C={r['C']} k={r['k']} S={r['S']}"


def ci_text(r, key):
    """``[lo, hi]`` of a row's 95% interval of ``key``."""
    ci = r["ci"].get(key) or [None, None]
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def _orth_cells(rows):
    return [r for r in rows if r["objective"] in KERNEL_BASELINES and r["kcos_after_median"] is not None
            and r["kcos_after_median"] < KERNEL_ORTH]


def verdict(rows, o) -> dict:
    """Data-driven findings (each a sentence with numbers) and the two yes/no answers.

    ``rows``: every cell (see :mod:`.metrics`); ``o``: the options (``paddings``, ``inputs``, ``kernels``).
    """
    pad = "same" if "same" in o.paddings else o.paddings[0]
    base = [r for r in rows if r["padding"] == pad]
    findings = []
    # 1. kernel orthogonality vs feature-map orthogonality, per padding
    survives_by_padding = {}
    for p in o.paddings:
        cells = _orth_cells(select(rows, padding=p))
        survives_by_padding[p] = (all(r["cos_after_median"] > FM_CORRELATED for r in cells) if cells else None)
    orth_cells = _orth_cells(base)
    if orth_cells:
        worst = min(orth_cells, key=lambda r: r["cos_after_median"])
        findings.append(
            f"Kernel orthogonality reached, feature maps still correlated: in the {len(orth_cells)} "
            f"(objective, C, k, S, input) cells with '{pad}' padding where a kernel-orthogonality baseline made the "
            f"kernels orthogonal (median mean |cos(K_i,K_j)| after < {KERNEL_ORTH}; objectives: "
            f"{', '.join(sorted({label(r['objective']) for r in orth_cells}))}), the median mean |cos(F_i,F_j)| "
            f"after optimisation is {value_range([r['cos_after_median'] for r in orth_cells])} (before: "
            f"{value_range([r['cos_before_median'] for r in orth_cells])}); lowest: {fmt(worst['cos_after_median'])} "
            f"({label(worst['objective'])}, {cfg_label(worst)}, {INPUT_LABELS[worst['input']]}). Pairs with "
            f"|cos(F_i,F_j)| < {NEAR_ORTH} after: {value_range([r['near_orth_after'] for r in orth_cells])} % (before "
            f"{value_range([r['near_orth_before'] for r in orth_cells])} %). Other paddings: " + "; ".join(
                f"'{p}' {value_range([r['cos_after_median'] for r in _orth_cells(select(rows, padding=p))])}"
                for p in o.paddings if p != pad) + ".")
    for name in KERNEL_BASELINES:
        rs = select(base, objective=name)
        if not rs:
            continue
        per_input = "; ".join(
            f"{INPUT_LABELS[i]} {value_range([r['cos_before_median'] for r in select(rs, input=i)])} → "
            f"{value_range([r['cos_after_median'] for r in select(rs, input=i)])}" for i in o.inputs)
        extra = ""
        if name == "orthoreg":
            signed = "; ".join(f"S = {q}: {value_range([r['kcos_signed_after_median'] for r in select(rs, S=q)])}"
                               f" (regular simplex: {fmt(-1.0 / (q - 1))})" for q in o.kernels)
            extra = (" OrthoReg's one-sided penalty increases monotonically with cos(K_i,K_j), so it pushes the cosines "
                     "negative, not to zero; median signed mean cos(K_i,K_j) after: " + signed +
                     ". For S = 2 the kernels head towards K_2 = -K_1 and the feature maps become MORE correlated "
                     "(anti-correlated).")
        if name == "ocnn":
            extra = (" OCNN can only be met when S <= C (here: C = 3, S = 2); elsewhere it trades kernel orthogonality "
                     "against its unit-norm target.")
        findings.append(f"{label(name)}: median mean |cos(K)| after {value_range([r['kcos_after_median'] for r in rs])} "
                        f"(before {value_range([r['kcos_before_median'] for r in rs])}); median mean |cos(F)| before → "
                        f"after over the (C, k, S) configurations: {per_input}; kernel scale ρ "
                        f"{value_range([r['knorm_ratio_median'] for r in rs])}; s_t reduced in "
                        f"{value_range([r['reduction_freq'] for r in rs])} % of episodes; correlation(objective, s_t) mean "
                        f"{value_range([r['corr_mean'] for r in rs])}.{extra}")
    # 2. plain L_CS
    cs = select(base, objective="cs")
    if cs:
        shrink = [r for r in cs if r["decrease_source"] == "shrinking kernels"]
        findings.append(
            f"Plain L_CS: s_t falls in {value_range([r['reduction_freq'] for r in cs])} % of episodes by "
            f"{value_range([r['dec_mean'] for r in cs])} % on average (the paper's Table 3 '~100 %'; correlation(objective, "
            f"s_t) mean {value_range([r['corr_mean'] for r in cs])}, cf. its Table 2), but in "
            f"{len(shrink)} of {len(cs)} cells most of that log-decrease is shrinking kernels (decorrelation share "
            f"{value_range([r['decorrelation_share'] for r in cs])}; kernel scale ρ {value_range([r['knorm_ratio_median'] for r in cs])}). "
            "Median mean |cos(F)| before → after: " + "; ".join(
                f"{INPUT_LABELS[i]} {value_range([r['cos_before_median'] for r in select(cs, input=i)])} → "
                f"{value_range([r['cos_after_median'] for r in select(cs, input=i)])}" for i in o.inputs) + ".")
        for s in o.kernels:
            rs = select(cs, S=s)
            if rs:
                findings.append(
                    f"Plain L_CS, S = {s}: median mean |cos(F)| after/before "
                    f"{value_range([r['cos_after_median'] / r['cos_before_median'] for r in rs if r['cos_before_median']])}; "
                    f"mean |cos(F)| fell in {value_range([r['cos_reduction_freq'] for r in rs])} % of episodes.")
    # 3. normalised L_CS
    decorrelates = None
    csn = select(base, objective="cs_norm")
    if csn:
        ratios = [r["cos_after_median"] / r["cos_before_median"] for r in csn if r["cos_before_median"]]
        findings.append(
            "Scale-invariant L_CS: kernel scale ρ " + value_range([r['knorm_ratio_median'] for r in csn]) +
            " (no shrinking: Adam on a scale-invariant loss grows the norms); median mean |cos(F)| before → after: " +
            "; ".join(f"{INPUT_LABELS[i]} {value_range([r['cos_before_median'] for r in select(csn, input=i)])} → "
                      f"{value_range([r['cos_after_median'] for r in select(csn, input=i)])}" for i in o.inputs) +
            f" (after/before {value_range(ratios)}); mean |cos(F)| fell in {value_range([r['cos_reduction_freq'] for r in csn])} % "
            f"of episodes; pairs with |cos| < {NEAR_ORTH} after: {value_range([r['near_orth_after'] for r in csn])} %.")
        decorrelates = {i: max(r["cos_after_median"] / r["cos_before_median"] for r in select(csn, input=i))
                        for i in o.inputs if select(csn, input=i)}
        wins = cells = 0
        for r in csn:
            others = [q["cos_after_median"] for q in select(base, C=r["C"], k=r["k"], S=r["S"], input=r["input"])
                      if q["objective"] in KERNEL_BASELINES]
            if others:
                cells += 1
                wins += r["cos_after_median"] < min(others)
        if cells:
            findings.append(f"Scale-invariant L_CS ends with a lower median mean |cos(F)| than every kernel-orthogonality "
                            f"baseline in {wins} of {cells} (C, k, S, input) cells.")
    # 4. paddings
    if len(o.paddings) > 1:
        diffs = []
        for r in select(rows, padding=o.paddings[0]):
            for q in select(rows, C=r["C"], k=r["k"], S=r["S"], objective=r["objective"], input=r["input"]):
                if q["padding"] != r["padding"]:
                    diffs.append((abs(q["cos_after_median"] - r["cos_after_median"]), r, q))
        diffs.sort(key=lambda t: -t[0])
        big = diffs[0]
        findings.append(
            f"Paddings: the median mean |cos(F)| after differs between paddings by {fmt(sorted(d[0] for d in diffs)[len(diffs) // 2])} "
            f"in the median cell but by up to {fmt(big[0])} ({label(big[1]['objective'])}, {cfg_label(big[1])}, "
            f"{INPUT_LABELS[big[1]['input']]}: '{big[1]['padding']}' {fmt(big[1]['cos_after_median'])} vs "
            f"'{big[2]['padding']}' {fmt(big[2]['cos_after_median'])}; before: {fmt(big[1]['cos_before_median'])} vs "
            f"{fmt(big[2]['cos_before_median'])}). Largest gap per input: " + "; ".join(
                f"{INPUT_LABELS[i]} {fmt(max((d[0] for d in diffs if d[1]['input'] == i), default=None))}"
                for i in o.inputs) + ". Kernel-orthogonality verdict per padding: "
            + "; ".join(f"'{p}': {'survives' if v else ('does not survive' if v is not None else 'not testable')}"
                        for p, v in survives_by_padding.items()) + ".")
    cs_all = select(base, objective="cs")
    cs_shrink = {"cells": len(cs_all), "shrinking": sum(r["decrease_source"] == "shrinking kernels" for r in cs_all),
                 "rho": [min((r["knorm_ratio_median"] for r in cs_all), default=None),
                         max((r["knorm_ratio_median"] for r in cs_all), default=None)]}
    survives = (all(v for v in survives_by_padding.values() if v is not None)
                if any(v is not None for v in survives_by_padding.values()) else None)
    return {"padding": pad, "claim_survives": survives, "claim_survives_by_padding": survives_by_padding,
            "decorrelation_ratio_max_by_input": decorrelates, "plain_cs_shrinking": cs_shrink, "findings": findings}
