"""Report lines every converged study shares: whether each control has flattened, the learning curves of
its arms (BatchNorm-recalibrated tests) and the claims table of the group."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.common.claims import CLAIM_HEADERS, RULE, adjust, claims_table
from experiments.common.report import markdown_table, pyplot, save_figure

from .curves import FLAT_PP, WINDOW

__all__ = ["convergence_lines", "curves_figure", "claims_lines", "mean_curve", "compute_lines"]


def mean_curve(runs, key: str = "curve"):
    """``(epochs, accuracies %)`` of ``[(epoch, accuracy)]`` curves ``key`` of several runs' numbers, on the epochs
    they all have: ``epochs (P,)`` and ``(runs, P)``; ``(None, None)`` when none has the curve."""
    curves = [dict(n[key]) for n in runs if n[key]]
    if not curves:
        return None, None
    epochs = sorted(set.intersection(*(set(c) for c in curves)))
    return np.asarray(epochs), np.asarray([[c[e] for e in epochs] for c in curves]) * 100


def compute_lines(records) -> list[str]:
    """``**Compute** — N runs ...``: the training wall time the group's finished runs took, from each result's
    ``summary.wall_seconds`` (the time of its training loop, summed over resumed calls); no lines when
    none records it."""
    secs = [float(r["summary"]["wall_seconds"]) for r in records
            if (r.get("summary") or {}).get("wall_seconds") is not None]
    if not secs:
        return []
    threads = sorted({(r.get("config") or {}).get("threads") for r in records} - {None})
    th = f"; {'/'.join(map(str, threads))} thread{'s' if threads != [1] else ''} per run" if threads else ""
    return [f"**Compute** — {len(secs)} finished runs took {sum(secs) / 3600:.2f} h of training wall time in all "
            f"(sum over runs; {np.mean(secs) / 60:.1f} min per run on average, {min(secs) / 60:.1f}-"
            f"{max(secs) / 60:.1f}{th}; with two runs at a time on 2 cores the wall clock is about half the sum; "
            "wall time, so it includes any time a run was paused or shared its core).",
            ""]


def convergence_lines(controls: dict) -> list[str]:
    """``controls``: ``{label: [run_numbers, ...]}`` of the arms the others are compared with."""
    rows = []
    for label, runs in controls.items():
        s = [n["slope"] for n in runs if n["slope"] is not None]
        m = float(np.mean(s)) if s else None
        rows.append([label, len(s), "–" if m is None else f"{m:+.3f}", "–" if m is None else
                     ("yes" if m < FLAT_PP else "no")])
    windows = sorted({n["window"] for runs in controls.values() for n in runs})
    w = "/".join(map(str, windows)) if windows else str(WINDOW)
    return [f"**Convergence** — criterion: the least-squares slope of the control's recalibrated test accuracy over "
            f"the final {w} epochs (the last {WINDOW}, or those after the last learning-rate milestone) is below "
            f"{FLAT_PP} pp per epoch (mean over seeds).", "",
            markdown_table(rows, headers=["control", "seeds", "final slope (pp / epoch)", "flat"]), ""]


def curves_figure(arms: dict, out_dir, name: str, title: str) -> list[tuple[str, str]]:
    """One panel: mean recalibrated test accuracy per epoch of each arm (``{label: [run_numbers]}``), band
    min-max; plain eval-mode means dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for i, (label, runs) in enumerate(arms.items()):
        color = f"C{i}"
        for key, ls in (("curve", "-"), ("curve_plain", ":")):
            ep, a = mean_curve(runs, key)
            if ep is None:
                continue
            ax.plot(ep, a.mean(0), ls=ls, color=color, lw=1.6 if ls == "-" else 1.0,
                    label=f"{label} (n={a.shape[0]})" if ls == "-" else None)
            if ls == "-" and a.shape[0] > 1:
                ax.fill_between(ep, a.min(0), a.max(0), color=color, alpha=0.12, lw=0)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy %")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize=8, loc="lower right")
    return [(f"{title}: recalibrated test accuracy (solid, band min-max over seeds) and plain eval-mode test "
             "accuracy (dotted), mean over seeds.", save_figure(fig, Path(out_dir) / "figures", name))]


def claims_lines(claims: list) -> list[str]:
    """The claims table of one group (Holm over its rows), or nothing when there are none."""
    if not claims:
        return []
    return ["**Claims** (this group; Holm over its rows; `python -m experiments claims report` adjusts over all "
            "three papers):", "", RULE, "", markdown_table(claims_table(adjust(claims)), headers=CLAIM_HEADERS,
                                                          numparse=False), ""]
