"""The report of a 2-D Monte Carlo run: a pure function of its results directory.

:func:`write_report` reads ``summary.json`` and the group documents it lists (``C{C}_k{k}.json``, written
by :mod:`.run`) and writes ``REPORT.md``, ``C{C}_k{k}.md`` and ``cos_before_after.png``; nothing is
computed from episodes, and the verdict is the one stored in ``summary.json``. :func:`render` is the
same without the disk: ``run`` calls it on its results before writing.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from tabulate import tabulate

from experiments.common.cli import UsageError
from experiments.common.commit import write_folder_atomic
from experiments.common.io import read_json
from experiments.common.report import figure_png, fmt, pyplot

from . import data as dt
from .metrics import NEAR_ORTH
from .objectives import OBJECTIVES, ORTHOREG_LAMBDA
from .verdict import (FM_CORRELATED, INPUT_LABELS, KERNEL_ORTH, ci_text, label, select, value_range)

__all__ = ["load_results", "render", "write_report", "report_markdown", "group_markdown", "plot_png"]

COMMAND = "python -m experiments claim2d run"


# ------------------------------------------------------------------------------------------ tables

def padding_table(rows, o) -> str:
    """Range over (C, k, S) of the median mean |cos(F)|: before (initial kernels) and after each objective,
    per padding and input kind."""
    head = ["padding", "input", "initial kernels"] + [label(n) for n in o.objectives]
    body = []
    for p in o.paddings:
        for i in o.inputs:
            rs = select(rows, padding=p, input=i)
            body.append([p, INPUT_LABELS[i], value_range([r["cos_before_median"] for r in rs])] +
                        [value_range([r["cos_after_median"] for r in select(rs, objective=n)]) for n in o.objectives])
    return tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True)


HEADERS = ["C", "k", "S", "objective", "div.", "corr. mean (std)", "red. freq. % [95%]", "decrease % mean (std)",
           "increase % mean (n)", "med. |cos F| before → after [95% after]", "mcos↓ %", f"pairs |cos F|<{NEAR_ORTH} % "
           "before → after", "med. |cos K| before → after", "ρ = ‖K‖ ratio", "obj. T/0", "decrease from (share)"]


def _table_row(r):
    share = r["decorrelation_share"]
    return [r["C"], r["k"], r["S"], label(r["objective"]), r["diverged"],
            f"{fmt(r['corr_mean'])} ({fmt(r['corr_std'])})",
            f"{fmt(r['reduction_freq'])} {ci_text(r, 'reduction_freq')}",
            f"{fmt(r['dec_mean'])} ({fmt(r['dec_std'])})",
            f"{fmt(r['inc_mean'])} ({r['n_inc']})",
            f"{fmt(r['cos_before_median'])} → {fmt(r['cos_after_median'])} {ci_text(r, 'cos_after_median')}",
            fmt(r["cos_reduction_freq"]),
            f"{fmt(r['near_orth_before'])} → {fmt(r['near_orth_after'])}",
            f"{fmt(r['kcos_before_median'])} → {fmt(r['kcos_after_median'])}",
            fmt(r["knorm_ratio_median"]), fmt(r["objective_ratio_median"]),
            f"{r['decrease_source']} ({fmt(share) if share is not None else '–'})"]


def cells_table(rows) -> str:
    """The Table 1/2/3 columns and the scale-invariant ones, one line per cell."""
    return tabulate([_table_row(r) for r in rows], headers=HEADERS, tablefmt="pipe", disable_numparse=True)


def headline_table(rows, o, pad) -> str:
    """Median mean |cos(F)| after, objective × input (rows) by (C, k, S) (columns); first row per input: before."""
    cfgs = [(c, k, s) for c in o.channels for k in o.kernel_sizes for s in o.kernels]
    head = ["input", "objective"] + [f"C={c} k={k} S={s}" for c, k, s in cfgs]
    body = []
    for i in o.inputs:
        before = []
        for c, k, s in cfgs:
            rs = select(rows, C=c, k=k, S=s, input=i, padding=pad)
            before.append(fmt(rs[0]["cos_before_median"]) if rs else "–")
        body.append([INPUT_LABELS[i], "*initial kernels*"] + before)
        for name in o.objectives:
            cells = []
            for c, k, s in cfgs:
                rs = select(rows, C=c, k=k, S=s, input=i, padding=pad, objective=name)
                cells.append(fmt(rs[0]["cos_after_median"]) if rs else "–")
            body.append(["", label(name)] + cells)
    return tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True)


def kernel_table(rows, o, pad) -> str:
    """Median mean |cos(K)| after and ρ per objective × (C, k, S) (input-independent)."""
    cfgs = [(c, k, s) for c in o.channels for k in o.kernel_sizes for s in o.kernels]
    head = ["objective"] + [f"C={c} k={k} S={s}" for c, k, s in cfgs]
    body = []
    i0 = o.inputs[0]
    first = []
    for c, k, s in cfgs:
        rs = select(rows, C=c, k=k, S=s, input=i0, padding=pad)
        first.append(fmt(rs[0]["kcos_before_median"]) if rs else "–")
    body.append(["*initial kernels*"] + first)
    for name in o.objectives:
        cells = []
        for c, k, s in cfgs:
            rs = select(rows, C=c, k=k, S=s, input=i0, padding=pad, objective=name)
            cells.append(f"{fmt(rs[0]['kcos_after_median'])} / ρ {fmt(rs[0]['knorm_ratio_median'])}" if rs else "–")
        body.append([label(name)] + cells)
    return tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True)


# ------------------------------------------------------------------------------------------ figure

def plot_png(rows, o, pad) -> bytes | None:
    """Per input kind: median mean |cos(F)| before → after per objective and (C, k, S); below: ρ."""
    cfgs = [(c, k, s) for c in o.channels for k in o.kernel_sizes for s in o.kernels]
    if not rows or not cfgs:
        return None
    plt = pyplot()
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
                rs = select(rows, C=c, k=k, S=s, objective=name, input=inp, padding=pad)
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
            a.set_xticklabels([label(n) for n in o.objectives], rotation=25, fontsize=8)
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
    return figure_png(fig, dpi=90)


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
        "with G the per-episode Gram matrix of the input patches for that padding (theory.batched.feature_gram_stack, "
        "held to theory.reference.feature_gram by the registry).",
        "- Objectives (each minimised on its own; λ of OrthoReg = "
        f"{ORTHOREG_LAMBDA:g}, one-sided as published; OCNN at stride 1, i.e. all lags):",
    ] + [f"  - **{label(n)}** (`{n}`): {OBJECTIVES[n][1]}" for n in o.objectives] + [
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


def report_markdown(o, rows, prov, verd, definitions, has_png) -> str:
    """``REPORT.md``: verdict, findings, headline tables, protocol, definitions, every cell."""
    pad = verd["padding"]
    lines = ["# The CS paper's central claim in 2-D: several channels, several kernels, real images", "",
             "Generated by `" + (prov.get("command") or COMMAND) + "` "
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
    lines += [f"- **{k}**: {v}" for k, v in definitions.items()]
    lines += [f"- Verdict thresholds: a baseline 'made the kernels orthogonal' when the median mean |cos(K_i,K_j)| "
              f"after < {KERNEL_ORTH}; feature maps 'far from orthogonal' when the median mean |cos(F_i,F_j)| "
              f"after > {FM_CORRELATED}.", ""]
    for inp in o.inputs:
        rs = select(rows, input=inp, padding=pad)
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
    """``C{c}_k{k}.md``: every cell of one (C, k) group as tables."""
    lines = [f"# claim2d: C = {c}, k = {k}", "",
             "All cells of this (C, k) group; columns as in REPORT.md (definitions there).", ""]
    for inp in o.inputs:
        for pad in o.paddings:
            rs = select(rows, input=inp, padding=pad)
            if rs:
                lines += [f"## {INPUT_LABELS[inp]}, '{pad}' padding", "", cells_table(rs), ""]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ pipeline

def load_results(results_dir) -> dict:
    """``{"summary": summary.json, "groups": {name: group document}}`` of a results directory."""
    d = Path(results_dir)
    try:
        summary = read_json(d / "summary.json")
        return {"summary": summary,
                "groups": {Path(g).stem: read_json(d / g) for g in summary["groups"]}}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--results: {d} does not hold complete results of `claim2d run` ({type(exc).__name__}: "
                         f"{exc}); run it again, or restore the files") from None


def render(results: dict, out_dir, *, plot: bool = True) -> dict:
    """Every report file as ``{path: text | bytes}`` from ``load_results``-shaped ``results`` (pure)."""
    out = Path(out_dir)
    summary = results["summary"]
    o = SimpleNamespace(**summary["options"])
    verd, prov = summary["verdict"], summary["provenance"]
    files, rows = {}, []
    for name, doc in results["groups"].items():
        rows += doc["rows"]
        files[out / f"{name}.md"] = group_markdown(o, doc["rows"], doc["group"]["C"], doc["group"]["k"])
    png = plot_png(rows, o, verd["padding"]) if plot else None
    if png is not None:
        files[out / "cos_before_after.png"] = png
    files[out / "REPORT.md"] = report_markdown(o, rows, prov, verd, summary["definitions"], png is not None)
    return files


def write_report(results_dir, out_dir, *, plot: bool = True, log=None) -> list[Path]:
    """Render the report of ``results_dir`` into ``out_dir`` (the folder changes in one step,
    :func:`~experiments.common.commit.write_folder_atomic`); returns the paths written."""
    from .spec import REPORT_FILES

    paths = write_folder_atomic(out_dir, render(load_results(results_dir), out_dir, plot=plot), owned=REPORT_FILES)
    if log is not None:
        log(f"wrote the report ({len(paths)} files) to {out_dir}")
    return paths
