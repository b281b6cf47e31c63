"""Markdown, JSON documents, verdict and figure of the 2-D Monte Carlo (``python -m experiments claim2d``)."""

from __future__ import annotations

import io as _io
from pathlib import Path

from tabulate import tabulate

from experiments.montecarlo.report import fmt

from . import data as dt
from .metrics import NEAR_ORTH
from .objectives import OBJECTIVES, ORTHOREG_LAMBDA

KERNEL_BASELINES = ("kernel_ip", "soft_orth", "ocnn", "orthoreg")
INPUT_LABELS = {"uniform": "U(0,1)", "image": "images [0,1]", "image_std": "images standardised"}
#: a baseline "made the kernels orthogonal" when the median mean pairwise |cos(K_i,K_j)| after is below this
KERNEL_ORTH = 0.05
#: feature maps "far from orthogonal" when the median mean pairwise |cos(F_i,F_j)| after is above this
FM_CORRELATED = 0.2


def _label(name):
    return OBJECTIVES[name][0]


def definitions() -> dict:
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


# ------------------------------------------------------------------------------------------ helpers

def _sel(rows, **kw):
    return [r for r in rows if all(r[k] == v for k, v in kw.items())]


def _rng(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    lo, hi = min(vals), max(vals)
    if fmt(lo) == fmt(hi):
        return fmt(lo)
    return f"{fmt(lo)} to {fmt(hi)}" if lo < 0 else f"{fmt(lo)}-{fmt(hi)}"


def _cfg(r):
    return f"C={r['C']} k={r['k']} S={r['S']}"


def _ci(r, key):
    ci = r["ci"].get(key) or [None, None]
    return f"[{fmt(ci[0])}, {fmt(ci[1])}]"


# ------------------------------------------------------------------------------------------ verdict

def _orth_cells(rows):
    return [r for r in rows if r["objective"] in KERNEL_BASELINES and r["kcos_after_median"] is not None
            and r["kcos_after_median"] < KERNEL_ORTH]


def verdict(rows, o) -> dict:
    """Data-driven findings (each a sentence with numbers) and the two yes/no answers."""
    pad = "same" if "same" in o.paddings else o.paddings[0]
    base = [r for r in rows if r["padding"] == pad]
    findings = []
    # 1. kernel orthogonality vs feature-map orthogonality, per padding
    survives_by_padding = {}
    for p in o.paddings:
        cells = _orth_cells(_sel(rows, padding=p))
        survives_by_padding[p] = (all(r["cos_after_median"] > FM_CORRELATED for r in cells) if cells else None)
    orth_cells = _orth_cells(base)
    if orth_cells:
        worst = min(orth_cells, key=lambda r: r["cos_after_median"])
        findings.append(
            f"Kernel orthogonality reached, feature maps still correlated: in the {len(orth_cells)} "
            f"(objective, C, k, S, input) cells with '{pad}' padding where a kernel-orthogonality baseline made the "
            f"kernels orthogonal (median mean |cos(K_i,K_j)| after < {KERNEL_ORTH}; objectives: "
            f"{', '.join(sorted({_label(r['objective']) for r in orth_cells}))}), the median mean |cos(F_i,F_j)| "
            f"after optimisation is {_rng([r['cos_after_median'] for r in orth_cells])} (before: "
            f"{_rng([r['cos_before_median'] for r in orth_cells])}); lowest: {fmt(worst['cos_after_median'])} "
            f"({_label(worst['objective'])}, {_cfg(worst)}, {INPUT_LABELS[worst['input']]}). Pairs with "
            f"|cos(F_i,F_j)| < {NEAR_ORTH} after: {_rng([r['near_orth_after'] for r in orth_cells])} % (before "
            f"{_rng([r['near_orth_before'] for r in orth_cells])} %). Other paddings: " + "; ".join(
                f"'{p}' {_rng([r['cos_after_median'] for r in _orth_cells(_sel(rows, padding=p))])}"
                for p in o.paddings if p != pad) + ".")
    for name in KERNEL_BASELINES:
        rs = _sel(base, objective=name)
        if not rs:
            continue
        per_input = "; ".join(
            f"{INPUT_LABELS[i]} {_rng([r['cos_before_median'] for r in _sel(rs, input=i)])} → "
            f"{_rng([r['cos_after_median'] for r in _sel(rs, input=i)])}" for i in o.inputs)
        extra = ""
        if name == "orthoreg":
            signed = "; ".join(f"S = {q}: {_rng([r['kcos_signed_after_median'] for r in _sel(rs, S=q)])}"
                               f" (regular simplex: {fmt(-1.0 / (q - 1))})" for q in o.kernels)
            extra = (" OrthoReg's one-sided penalty increases monotonically with cos(K_i,K_j), so it pushes the cosines "
                     "negative, not to zero; median signed mean cos(K_i,K_j) after: " + signed +
                     ". For S = 2 the kernels head towards K_2 = -K_1 and the feature maps become MORE correlated "
                     "(anti-correlated).")
        if name == "ocnn":
            extra = (" OCNN can only be met when S <= C (here: C = 3, S = 2); elsewhere it trades kernel orthogonality "
                     "against its unit-norm target.")
        findings.append(f"{_label(name)}: median mean |cos(K)| after {_rng([r['kcos_after_median'] for r in rs])} "
                        f"(before {_rng([r['kcos_before_median'] for r in rs])}); median mean |cos(F)| before → "
                        f"after over the (C, k, S) configurations: {per_input}; kernel scale ρ "
                        f"{_rng([r['knorm_ratio_median'] for r in rs])}; s_t reduced in "
                        f"{_rng([r['reduction_freq'] for r in rs])} % of episodes; correlation(objective, s_t) mean "
                        f"{_rng([r['corr_mean'] for r in rs])}.{extra}")
    # 2. plain L_CS
    cs = _sel(base, objective="cs")
    if cs:
        shrink = [r for r in cs if r["decrease_source"] == "shrinking kernels"]
        findings.append(
            f"Plain L_CS: s_t falls in {_rng([r['reduction_freq'] for r in cs])} % of episodes by "
            f"{_rng([r['dec_mean'] for r in cs])} % on average (the paper's Table 3 '~100 %'; correlation(objective, "
            f"s_t) mean {_rng([r['corr_mean'] for r in cs])}, cf. its Table 2), but in "
            f"{len(shrink)} of {len(cs)} cells most of that log-decrease is shrinking kernels (decorrelation share "
            f"{_rng([r['decorrelation_share'] for r in cs])}; kernel scale ρ {_rng([r['knorm_ratio_median'] for r in cs])}). "
            "Median mean |cos(F)| before → after: " + "; ".join(
                f"{INPUT_LABELS[i]} {_rng([r['cos_before_median'] for r in _sel(cs, input=i)])} → "
                f"{_rng([r['cos_after_median'] for r in _sel(cs, input=i)])}" for i in o.inputs) + ".")
        for s in o.kernels:
            rs = _sel(cs, S=s)
            if rs:
                findings.append(
                    f"Plain L_CS, S = {s}: median mean |cos(F)| after/before "
                    f"{_rng([r['cos_after_median'] / r['cos_before_median'] for r in rs if r['cos_before_median']])}; "
                    f"mean |cos(F)| fell in {_rng([r['cos_reduction_freq'] for r in rs])} % of episodes.")
    # 3. normalised L_CS
    decorrelates = None
    csn = _sel(base, objective="cs_norm")
    if csn:
        ratios = [r["cos_after_median"] / r["cos_before_median"] for r in csn if r["cos_before_median"]]
        findings.append(
            "Scale-invariant L_CS: kernel scale ρ " + _rng([r['knorm_ratio_median'] for r in csn]) +
            " (no shrinking: Adam on a scale-invariant loss grows the norms); median mean |cos(F)| before → after: " +
            "; ".join(f"{INPUT_LABELS[i]} {_rng([r['cos_before_median'] for r in _sel(csn, input=i)])} → "
                      f"{_rng([r['cos_after_median'] for r in _sel(csn, input=i)])}" for i in o.inputs) +
            f" (after/before {_rng(ratios)}); mean |cos(F)| fell in {_rng([r['cos_reduction_freq'] for r in csn])} % "
            f"of episodes; pairs with |cos| < {NEAR_ORTH} after: {_rng([r['near_orth_after'] for r in csn])} %.")
        decorrelates = {i: max(r["cos_after_median"] / r["cos_before_median"] for r in _sel(csn, input=i))
                        for i in o.inputs if _sel(csn, input=i)}
        wins = cells = 0
        for r in csn:
            others = [q["cos_after_median"] for q in _sel(base, C=r["C"], k=r["k"], S=r["S"], input=r["input"])
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
        for r in _sel(rows, padding=o.paddings[0]):
            for q in _sel(rows, C=r["C"], k=r["k"], S=r["S"], objective=r["objective"], input=r["input"]):
                if q["padding"] != r["padding"]:
                    diffs.append((abs(q["cos_after_median"] - r["cos_after_median"]), r, q))
        diffs.sort(key=lambda t: -t[0])
        big = diffs[0]
        findings.append(
            f"Paddings: the median mean |cos(F)| after differs between paddings by {fmt(sorted(d[0] for d in diffs)[len(diffs) // 2])} "
            f"in the median cell but by up to {fmt(big[0])} ({_label(big[1]['objective'])}, {_cfg(big[1])}, "
            f"{INPUT_LABELS[big[1]['input']]}: '{big[1]['padding']}' {fmt(big[1]['cos_after_median'])} vs "
            f"'{big[2]['padding']}' {fmt(big[2]['cos_after_median'])}; before: {fmt(big[1]['cos_before_median'])} vs "
            f"{fmt(big[2]['cos_before_median'])}). Largest gap per input: " + "; ".join(
                f"{INPUT_LABELS[i]} {fmt(max((d[0] for d in diffs if d[1]['input'] == i), default=None))}"
                for i in o.inputs) + ". Kernel-orthogonality verdict per padding: "
            + "; ".join(f"'{p}': {'survives' if v else ('does not survive' if v is not None else 'not testable')}"
                        for p, v in survives_by_padding.items()) + ".")
    cs_all = _sel(base, objective="cs")
    cs_shrink = {"cells": len(cs_all), "shrinking": sum(r["decrease_source"] == "shrinking kernels" for r in cs_all),
                 "rho": [min((r["knorm_ratio_median"] for r in cs_all), default=None),
                         max((r["knorm_ratio_median"] for r in cs_all), default=None)]}
    survives = (all(v for v in survives_by_padding.values() if v is not None)
                if any(v is not None for v in survives_by_padding.values()) else None)
    return {"padding": pad, "claim_survives": survives, "claim_survives_by_padding": survives_by_padding,
            "decorrelation_ratio_max_by_input": decorrelates, "plain_cs_shrinking": cs_shrink, "findings": findings}


def padding_table(rows, o) -> str:
    """Range over (C, k, S) of the median mean |cos(F)|: before (initial kernels) and after each objective,
    per padding and input kind."""
    head = ["padding", "input", "initial kernels"] + [_label(n) for n in o.objectives]
    body = []
    for p in o.paddings:
        for i in o.inputs:
            rs = _sel(rows, padding=p, input=i)
            body.append([p, INPUT_LABELS[i], _rng([r["cos_before_median"] for r in rs])] +
                        [_rng([r["cos_after_median"] for r in _sel(rs, objective=n)]) for n in o.objectives])
    return tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True)


# ------------------------------------------------------------------------------------------ tables

HEADERS = ["C", "k", "S", "objective", "div.", "corr. mean (std)", "red. freq. % [95%]", "decrease % mean (std)",
           "increase % mean (n)", "med. |cos F| before → after [95% after]", "mcos↓ %", f"pairs |cos F|<{NEAR_ORTH} % "
           "before → after", "med. |cos K| before → after", "ρ = ‖K‖ ratio", "obj. T/0", "decrease from (share)"]


def _table_row(r):
    share = r["decorrelation_share"]
    return [r["C"], r["k"], r["S"], _label(r["objective"]), r["diverged"],
            f"{fmt(r['corr_mean'])} ({fmt(r['corr_std'])})",
            f"{fmt(r['reduction_freq'])} {_ci(r, 'reduction_freq')}",
            f"{fmt(r['dec_mean'])} ({fmt(r['dec_std'])})",
            f"{fmt(r['inc_mean'])} ({r['n_inc']})",
            f"{fmt(r['cos_before_median'])} → {fmt(r['cos_after_median'])} {_ci(r, 'cos_after_median')}",
            fmt(r["cos_reduction_freq"]),
            f"{fmt(r['near_orth_before'])} → {fmt(r['near_orth_after'])}",
            f"{fmt(r['kcos_before_median'])} → {fmt(r['kcos_after_median'])}",
            fmt(r["knorm_ratio_median"]), fmt(r["objective_ratio_median"]),
            f"{r['decrease_source']} ({fmt(share) if share is not None else '–'})"]


def cells_table(rows) -> str:
    return tabulate([_table_row(r) for r in rows], headers=HEADERS, tablefmt="pipe", disable_numparse=True)


def headline_table(rows, o, pad) -> str:
    """Median mean |cos(F)| after, objective × input (rows) by (C, k, S) (columns); first row per input: before."""
    cfgs = [(c, k, s) for c in o.channels for k in o.kernel_sizes for s in o.kernels]
    head = ["input", "objective"] + [f"C={c} k={k} S={s}" for c, k, s in cfgs]
    body = []
    for i in o.inputs:
        before = []
        for c, k, s in cfgs:
            rs = _sel(rows, C=c, k=k, S=s, input=i, padding=pad)
            before.append(fmt(rs[0]["cos_before_median"]) if rs else "–")
        body.append([INPUT_LABELS[i], "*initial kernels*"] + before)
        for name in o.objectives:
            cells = []
            for c, k, s in cfgs:
                rs = _sel(rows, C=c, k=k, S=s, input=i, padding=pad, objective=name)
                cells.append(fmt(rs[0]["cos_after_median"]) if rs else "–")
            body.append(["", _label(name)] + cells)
    return tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True)


def kernel_table(rows, o, pad) -> str:
    """Median mean |cos(K)| after and ρ per objective × (C, k, S) (input-independent)."""
    cfgs = [(c, k, s) for c in o.channels for k in o.kernel_sizes for s in o.kernels]
    head = ["objective"] + [f"C={c} k={k} S={s}" for c, k, s in cfgs]
    body = []
    i0 = o.inputs[0]
    first = []
    for c, k, s in cfgs:
        rs = _sel(rows, C=c, k=k, S=s, input=i0, padding=pad)
        first.append(fmt(rs[0]["kcos_before_median"]) if rs else "–")
    body.append(["*initial kernels*"] + first)
    for name in o.objectives:
        cells = []
        for c, k, s in cfgs:
            rs = _sel(rows, C=c, k=k, S=s, input=i0, padding=pad, objective=name)
            cells.append(f"{fmt(rs[0]['kcos_after_median'])} / ρ {fmt(rs[0]['knorm_ratio_median'])}" if rs else "–")
        body.append([_label(name)] + cells)
    return tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True)


# ------------------------------------------------------------------------------------------ figure

def plot_png(rows, o, pad) -> bytes | None:
    """Per input kind: median mean |cos(F)| before → after per objective and (C, k, S); below: ρ."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfgs = [(c, k, s) for c in o.channels for k in o.kernel_sizes for s in o.kernels]
    if not rows or not cfgs:
        return None
    n_in = len(o.inputs)
    fig, axes = plt.subplots(2, n_in, figsize=(5.6 * n_in, 8.4), squeeze=False,
                             gridspec_kw={"height_ratios": [2.0, 1.1]})
    fig.subplots_adjust(left=0.07, right=0.99, top=0.92, bottom=0.08, hspace=0.32, wspace=0.2)
    cmap = plt.get_cmap("tab10")
    width = 0.8 / max(1, len(cfgs))
    for col, inp in enumerate(o.inputs):
        ax, axr = axes[0][col], axes[1][col]
        for j, name in enumerate(o.objectives):
            for q, (c, k, s) in enumerate(cfgs):
                rs = _sel(rows, C=c, k=k, S=s, objective=name, input=inp, padding=pad)
                if not rs:
                    continue
                r = rs[0]
                x = j - 0.4 + (q + 0.5) * width
                ax.plot([x, x], [r["cos_before_median"], r["cos_after_median"]], color=cmap(q % 10), lw=1.2)
                ax.plot(x, r["cos_before_median"], "o", ms=3.5, mfc="white", mec=cmap(q % 10))
                ax.plot(x, r["cos_after_median"], "o", ms=4.5, color=cmap(q % 10),
                        label=f"C={c} k={k} S={s}" if j == 0 else None)
                if r["knorm_ratio_median"]:
                    axr.plot(x, r["knorm_ratio_median"], "s", ms=4, color=cmap(q % 10))
        for a in (ax, axr):
            a.set_xticks(range(len(o.objectives)))
            a.set_xticklabels([_label(n) for n in o.objectives], rotation=25, fontsize=8)
            a.grid(alpha=0.3)
        ax.set_ylim(0, 1)
        ax.set_title(f"{INPUT_LABELS[inp]}, padding '{pad}'")
        axr.set_yscale("log")
        axr.axhline(1.0, color="k", lw=0.8)
        if col == 0:
            ax.set_ylabel("median mean |cos(F_i, F_j)|\n(open: before, filled: after)")
            axr.set_ylabel("kernel scale ρ\n(‖K_i‖‖K_j‖ after/before)")
    axes[0][0].legend(fontsize=7, ncol=2, loc="upper left")
    fig.suptitle(f"Feature-map |cos| before → after {o.iterations} Adam steps (lr {o.lr}), {o.episodes} episodes "
                 "per point", fontsize=11)
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ documents

def _protocol(o) -> list[str]:
    hw = {c: dt.input_hw(c) for c in o.channels}
    return [
        "## Protocol", "",
        f"- Kernels: S ∈ {{{', '.join(map(str, o.kernels))}}} kernels of shape (C, k, k), k ∈ "
        f"{{{', '.join(map(str, o.kernel_sizes))}}}, C ∈ {{{', '.join(map(str, o.channels))}}} input channels "
        "(Conv2d weight (S, C, k, k)); initialised U(-1, 1) (the CS paper's Section 3.1 distribution).",
        "- Inputs X of shape (C, H, W): " + "; ".join(f"C = {c}: {h}×{w}" for c, (h, w) in hw.items()) +
        ". Kinds: **U(0,1)** i.i.d.; **images [0,1]**: for C = 1 a random whole Fashion-MNIST training image "
        "(Debian dataset-fashion-mnist), for C = 3 a random 32×32 patch of scikit-image's astronaut / coffee / "
        "chelsea (image and corner uniform), uint8/255; **images standardised**: the same images with the "
        "source's per-channel mean subtracted and divided by its std (CNN input normalisation).",
        f"- Feature maps F_s = Σ_c K_s[c] ⋆ X[c] (Conv2d, stride 1, no bias) with padding {', '.join(o.paddings)} "
        "('same' = PyTorch's, (k-1)/2 each side for odd k). Never formed: <F_a,F_b> = vec(K_a)ᵀ G vec(K_b) "
        "with G the per-episode Gram matrix of the input patches for that padding (experiments/claim2d/gram.py; "
        "tested against theory.reference.feature_inner_product).",
        "- Objectives (each minimised on its own; λ of OrthoReg = "
        f"{ORTHOREG_LAMBDA:g}, one-sided as published; OCNN at stride 1, i.e. all lags):",
    ] + [f"  - **{_label(n)}** (`{n}`): {OBJECTIVES[n][1]}" for n in o.objectives] + [
        f"- Optimiser: Adam, lr {o.lr}, {o.iterations} iterations, torch.optim.Adam defaults (betas (0.9, 0.999), "
        "eps 1e-8), the fused kernel batched over episodes (= independent per-episode Adams). The same lr and "
        "iteration count for every objective (chosen after a pilot at lr 0.003-0.1: the kernel-orthogonality "
        "objectives and normalised L_CS converge at 0.03 within 300 steps; plain L_CS has no nonzero minimiser "
        "and keeps shrinking the kernels at any lr).",
        f"- {o.episodes} episodes per (C, k, S, objective), run as ONE batch (torch float64); each run is measured "
        f"on every (input kind, padding). s_t and the cosines are recorded every {o.record_every} steps and at "
        "t = T (the correlation column uses those steps; the objective is tracked every step for divergence).",
        "- Paired design: all objectives of a (C, k, S) start from the same kernels; all runs with C channels see "
        "the same inputs. Seeds: inputs from (seed, C), kernels from (seed, C, k, S).",
        "",
    ]


def report_markdown(o, rows, prov, verd, has_png) -> str:
    pad = verd["padding"]
    lines = ["# The CS paper's central claim in 2-D: several channels, several kernels, real images", "",
             "Generated by `" + (prov.get("command") or "python -m experiments claim2d") + "` "
             f"(seed {prov['seed']}, {o.episodes} episodes per cell, {prov['device']} {prov['dtype']}, "
             f"{prov['threads']} thread(s), git {str(prov['git_commit'])[:12]}"
             f"{' + local changes' if prov.get('git_dirty') else ''}, wall time {prov['wall_time_s']:.1f} s; "
             f"optimisation {prov['timing_s']['optimise_s']:.1f} s, Gram matrices {prov['timing_s']['gram_s']:.1f} s, "
             f"statistics {prov['timing_s']['summary_s']:.1f} s). Do not edit by hand: rerun the command.", "",
             "## Verdict", ""]
    lines += _verdict_text(verd, o)
    lines += ["", f"### Findings (data-driven; '{pad}' padding unless stated)", ""]
    lines += [f"- {f}" for f in verd["findings"]]
    lines += ["", f"## Feature maps: median mean |cos(F_i,F_j)| after optimisation ('{pad}' padding)", "",
              "First row per input: the initial kernels (the same for every objective: paired design). "
              "Per-cell 95% intervals, the other paddings and all columns are in the tables below and in "
              "`C*_k*.md` / `C*_k*.json`.", "", headline_table(rows, o, pad), "",
              "## Kernels: median mean |cos(K_i,K_j)| after, and kernel scale ρ (input-independent)", "",
              kernel_table(rows, o, pad), ""]
    if len(o.paddings) > 1:
        lines += ["## Every padding: range over the (C, k, S) configurations of the median mean |cos(F_i,F_j)|", "",
                  padding_table(rows, o), ""]
    if has_png:
        lines += ["![median |cos| before and after](cos_before_after.png)", ""]
    lines += _protocol(o)
    lines += ["## Metric definitions", ""]
    lines += [f"- **{k}**: {v}" for k, v in definitions().items()]
    lines += [f"- Verdict thresholds: a baseline 'made the kernels orthogonal' when the median mean |cos(K_i,K_j)| "
              f"after < {KERNEL_ORTH}; feature maps 'far from orthogonal' when the median mean |cos(F_i,F_j)| "
              f"after > {FM_CORRELATED}.", ""]
    for inp in o.inputs:
        rs = _sel(rows, input=inp, padding=pad)
        lines += [f"## Table 1/2/3 metrics: {INPUT_LABELS[inp]}, '{pad}' padding", "", cells_table(rs), ""]
    lines += ["## Files", "",
              "- `C{C}_k{k}.json`: every cell of one (C, k) group (all S, objectives, inputs, paddings), with "
              "options, definitions and provenance; `C{C}_k{k}.md`: the same as tables.",
              "- `summary.json`: options, definitions, verdict, provenance.",
              "- `cos_before_after.png`: the figure above.", ""]
    return "\n".join(lines) + "\n"


def _verdict_text(verd, o) -> list[str]:
    out = []
    s = verd["claim_survives"]
    if s is None:
        out.append("- **Kernel orthogonality ⇏ feature-map orthogonality**: not testable with the objectives run "
                   "(no kernel-orthogonality baseline reached orthogonal kernels).")
    else:
        out.append("- **Kernel orthogonality ⇏ feature-map orthogonality: " + ("survives" if s else "does NOT survive")
                   + "** in 2-D with several channels and kernels, on noise and on real images, with every padding "
                     f"run ({', '.join(o.paddings)}): wherever a baseline made the kernels orthogonal, the feature "
                     "maps' median mean |cos| stayed " + ("above" if s else "not always above")
                   + f" {FM_CORRELATED} — about where it started (numbers below).")
    d = verd["decorrelation_ratio_max_by_input"]
    cs = verd.get("plain_cs_shrinking") or {}
    parts = []
    if cs.get("cells"):
        parts.append(f"Plain L_CS: in {cs['shrinking']} of {cs['cells']} cells most of the decrease of s_t is "
                     f"shrinking kernels (median kernel scale ρ {fmt(cs['rho'][0])}-{fmt(cs['rho'][1])}); "
                     "whether the angle between feature maps falls as well depends on S (numbers below).")
    if d:
        parts.append("The scale-invariant L_CS lowers the median mean |cos(F)| without shrinking the kernels; "
                     "worst (largest) after/before ratio per input: "
                     + "; ".join(f"{INPUT_LABELS[i]} {fmt(v)}" for i, v in d.items()) + ".")
    if parts:
        out.append("- **Does L_CS decorrelate feature maps (scale-invariantly)?** " + " ".join(parts))
    return out


def group_markdown(o, rows, c, k) -> str:
    lines = [f"# claim2d: C = {c}, k = {k}", "",
             "All cells of this (C, k) group; columns as in REPORT.md (definitions there).", ""]
    for inp in o.inputs:
        for pad in o.paddings:
            rs = _sel(rows, input=inp, padding=pad)
            if rs:
                lines += [f"## {INPUT_LABELS[inp]}, '{pad}' padding", "", cells_table(rs), ""]
    return "\n".join(lines) + "\n"


def render(o, rows, prov) -> tuple[dict, dict]:
    from experiments.common.io import dumps_json as dumps

    from .run import SCHEMA_VERSION, options_block  # run imports this module lazily
    out = Path(o.out)
    files, docs = {}, {}
    verd = verdict(rows, o)
    for c in o.channels:
        for k in o.kernel_sizes:
            rs = _sel(rows, C=c, k=k)
            doc = {"schema_version": SCHEMA_VERSION, "group": {"C": c, "k": k}, "options": options_block(o),
                   "definitions": definitions(), "rows": rs, "provenance": prov}
            docs[f"C{c}_k{k}"] = doc
            files[out / f"C{c}_k{k}.json"] = dumps(doc)
            files[out / f"C{c}_k{k}.md"] = group_markdown(o, rs, c, k)
    summary = {"schema_version": SCHEMA_VERSION, "options": options_block(o), "definitions": definitions(),
               "verdict": verd, "provenance": prov,
               "groups": [f"C{c}_k{k}.json" for c in o.channels for k in o.kernel_sizes]}
    docs["summary"] = summary
    files[out / "summary.json"] = dumps(summary)
    png = plot_png(rows, o, verd["padding"]) if o.plot else None
    if png is not None:
        files[out / "cos_before_after.png"] = png
    files[out / "REPORT.md"] = report_markdown(o, rows, prov, verd, png is not None)
    return files, docs
