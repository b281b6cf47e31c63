"""Figures of the MFD report: Fig. 4-5 analogues (feature maps), per-stage Pearson correlation and dead
channels (Tables I / III analogue), accuracy vs lg λ (Table II analogue)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from experiments.common.report import pyplot, save_figure, sweep_vs_paper
from experiments.training.results import load_run_arrays

from .spec import PAPER_TABLE1, PAPER_TABLE2, PAPER_TABLE3, STAGES

__all__ = ["map_figures", "stats_figures", "STAGE_LABELS"]

STAGE_LABELS = ("stage 0", "stage 1", "stage 2", "stage 3", "stage 4")


def map_figures(group, rows, out_dir) -> list[tuple[str, str]]:
    """Fig. 4-5 analogues: stage 0 / 1 feature maps of the first test image, softmax vs MFD."""
    plt = pyplot()
    made = []
    pair = [(None, "softmax only"), (0, "softmax + MFD (λ = 1)")]
    arrays = {}
    for key, _ in pair:
        r = rows.get(key)
        if not r:
            continue
        for rec in r["records"]:
            a = load_run_arrays(rec["_path"]) if rec.get("_path") else None
            if a:
                arrays[key] = (a, rec)
                break
    if len(arrays) < 1:
        return made
    fig_dir = Path(out_dir) / "figures"
    for stage, fig_no in (("stage0", 4), ("stage1", 5)):
        present = [(k, lab) for k, lab in pair if k in arrays and f"maps_{stage}" in arrays[k][0]]
        if not present:
            continue
        c0 = arrays[present[0][0]][0][f"maps_{stage}"].shape[0]
        fig, axes = plt.subplots(1, len(present), figsize=(5.2 * len(present), 1.2 + 5.2 * math.ceil(c0 / 8) / 8),
                                 squeeze=False)
        for ax, (k, lab) in zip(axes[0], present):
            a, rec = arrays[k]
            maps = a[f"maps_{stage}"].astype(np.float32)                  # (C, H, W)
            c, h, w = maps.shape
            cols = 8
            rws = int(math.ceil(c / cols))
            mosaic = np.full((rws * (h + 1) + 1, cols * (w + 1) + 1), np.nan, dtype=np.float32)
            zero = 0
            for i in range(c):
                m = maps[i]
                mx = float(np.abs(m).max())
                zero += mx == 0
                y0, x0 = 1 + (i // cols) * (h + 1), 1 + (i % cols) * (w + 1)
                mosaic[y0:y0 + h, x0:x0 + w] = m / mx if mx > 0 else 0.0
            cmap = plt.get_cmap("gray").with_extremes(bad="tab:blue")
            ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{lab}\nseed {rec['config']['seed']}: {c} channels, {zero} all-zero maps", fontsize=9)
            ax.axis("off")
        fig.suptitle(f"Fig. {fig_no} analogue ({group}): {stage} feature maps of the first test image "
                     f"(each map scaled to its own max; black = 0)", fontsize=9)
        name = save_figure(fig, fig_dir, f"{group}_mfd_fig{fig_no}_{stage}.png")
        made.append((f"Fig. {fig_no} analogue ({group}): {stage} feature maps, first test image, softmax only vs "
                     "softmax + MFD", name))
    return made


def stats_figures(group, rows, out_dir) -> list[tuple[str, str]]:
    """Per-stage Pearson / dead-channel bars (Tables I / III analogue) and accuracy vs lg λ (Table II)."""
    plt = pyplot()
    fig_dir = Path(out_dir) / "figures"
    made = []
    pair = [(None, "softmax only", "tab:gray"), (0, "softmax + MFD (λ = 1)", "tab:blue")]
    if any(rows.get(k) for k, _, _ in pair):
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        x = np.arange(5)
        for j, (k, lab, col) in enumerate(pair):
            r = rows.get(k)
            if not r:
                continue
            for ax, key in zip(axes, ("mean_abs_offdiag", "dead_share")):
                m = np.array([r["stages"][s][key][0] if r["stages"][s][key][0] is not None else np.nan
                              for s in STAGES])
                e = np.array([r["stages"][s][key][1] or 0.0 for s in STAGES])
                ax.bar(x + (j - 0.5) * 0.38, m, 0.38, yerr=e if e.any() else None, color=col, capsize=3,
                       label=f"ours: {lab}")
        axes[0].plot(x - 0.19, PAPER_TABLE1, "k^", mfc="none", label="paper Table I (softmax, ResNet50, CIFAR-100)")
        axes[0].plot(x + 0.19, PAPER_TABLE3, "kv", mfc="none", label="paper Table III (+MFD)")
        axes[0].set_ylabel("mean |off-diagonal| Pearson (test, b = 128)")
        axes[1].set_ylabel("share of channels zero on every test image")
        for ax in axes:
            ax.set_xticks(x, STAGE_LABELS)
            ax.legend(fontsize=7)
        fig.suptitle(f"Tables I / III analogue and dead channels ({group}), mean ± std over seeds", fontsize=9)
        name = save_figure(fig, fig_dir, f"{group}_mfd_stages.png")
        made.append((f"Per-stage mean |off-diagonal| Pearson correlation (Tables I / III analogue) and dead-channel "
                     f"share ({group})", name))
    lgs = sorted(k for k in rows if k is not None)
    if len(lgs) >= 2:
        pk = sorted(k for k in PAPER_TABLE2 if k is not None)
        fig, axes = sweep_vs_paper(lgs, [rows[k]["best"][0] for k in lgs], [rows[k]["best"][1] for k in lgs], pk,
                                   [PAPER_TABLE2[k] for k in pk], ours_title=f"ours ({group}, Fashion-MNIST)",
                                   paper_title="paper Table II (ResNet50, CIFAR-100)", xlabel="lg λ",
                                   ylabel="top test accuracy %", ours_label="softmax + MFD",
                                   paper_label="softmax + MFD")
        base = rows.get(None)
        if base and base["best"][0] is not None:
            bm, bs = base["best"][0] * 100, (base["best"][1] or 0.0) * 100
            axes[0].axhline(bm, color="tab:gray", ls="--", label="softmax only")
            if bs:
                axes[0].axhspan(bm - bs, bm + bs, color="tab:gray", alpha=0.15)
        axes[1].axhline(PAPER_TABLE2[None], color="tab:gray", ls="--", label="softmax only")
        for ax in axes:
            ax.legend(fontsize=7)
        name = save_figure(fig, fig_dir, f"{group}_mfd_lambda.png")
        made.append((f"Table II analogue ({group}): accuracy vs lg λ (error bars: std over seeds)", name))
    return made
