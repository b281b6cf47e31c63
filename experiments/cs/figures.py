"""Figures of the CS report: Figures 1-3 analogues (L_CS, classification loss, train accuracy per step),
test accuracy per epoch, and the Figure 5 analogue (ResNet18 accuracy vs Algorithm 1's I)."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common.report import pyplot, save_figure
from experiments.common.stats import mean_std

from .spec import METHOD_LABELS, METHODS, MODEL_LABELS
from .metrics import table5_rows

__all__ = ["table5_figures", "fig5_figures"]

METHOD_COLORS = {"baseline": "tab:gray", "alg1": "tab:blue", "alg2": "tab:orange"}
# baseline wide and underneath, Algorithm 2 dashed: the two nearly coincide early on
METHOD_STYLES = {"baseline": dict(lw=3.0, ls="-", zorder=1), "alg1": dict(lw=1.2, ls="-", zorder=2),
                 "alg2": dict(lw=1.2, ls="--", zorder=3)}


def _steps_per_epoch(rec) -> int:
    s, c = rec["summary"], rec["config"]
    return max(1, math.ceil(s["train_size"] / c["batch_size"]))


def _mean_curve(curves):
    n = min(len(c) for c in curves)
    a = np.asarray([c[:n] for c in curves], dtype=np.float64)
    return a.mean(0), a.min(0), a.max(0)


def _step_axis(rec):
    steps = rec.get("steps") or {}
    x = steps.get("step") or list(range(1, len(steps.get("task_loss", [])) + 1))
    return np.asarray(x, dtype=np.float64)


def table5_figures(group, records, out_dir) -> list[tuple[str, str]]:
    """Figures 1-3 analogues and test accuracy per epoch of one group, in ``out_dir/figures``;
    returns ``[(caption, file name)]``."""
    plt = pyplot()
    rows = table5_rows(records)
    models = [m for m in ("cnn1", "cnn2") if any(k[0] == m for k in rows)]
    methods = [m for m in METHODS if any(k[1] == m for k in rows)]
    made = []
    fig_dir = Path(out_dir) / "figures"

    # Figure 1: L_CS during training, one panel per method (line per model), plus Algorithm 1's Adam phase.
    panels = [(m, "train") for m in methods] + ([("alg1", "init")] if "alg1" in methods else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
    for ax, (method, phase) in zip(axes[0], panels):
        for model, ls in zip(models, ("-", "--")):
            r = rows.get((model, method))
            if not r:
                continue
            recs, color = r["records"], ("k" if model == "cnn1" else "tab:red")
            if phase == "init":
                if all(rec.get("cs_init") for rec in recs):
                    m, lo, hi = _mean_curve([rec["cs_init"]["l_cs"] for rec in recs])
                    x = np.arange(m.size)
                else:
                    continue
            elif all(rec.get("steps") and rec["steps"].get("l_cs") for rec in recs):
                m, lo, hi = _mean_curve([rec["steps"]["l_cs"] for rec in recs])
                x = _step_axis(recs[0])[: m.size]
            else:
                m, lo, hi = _mean_curve([[h["l_cs"] for h in rec["history"]] for rec in recs])
                x = np.arange(m.size) * _steps_per_epoch(recs[0])
            ax.plot(x, m, ls, color=color, label=MODEL_LABELS[model])
            ax.fill_between(x, lo, hi, color=color, alpha=0.15)
        ax.set_yscale("log")
        if phase == "init":
            ax.set_title("Algorithm 1: the I Adam steps before training", fontsize=9)
            ax.set_xlabel("Adam iteration on L_CS")
        else:
            ax.set_title(f"{METHOD_LABELS[method]}: during training", fontsize=9)
            ax.set_xlabel("training step")
        ax.set_ylabel("L_CS (sum over conv layers)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Figure 1 analogue: L_CS curves, Fashion-MNIST, protocol {group} (mean, band = min-max over seeds)",
                 fontsize=9)
    name = save_figure(fig, fig_dir, f"{group}_fig1_lcs.png")
    made.append((f"Figure 1 analogue ({group}): L_CS during training per method, and during Algorithm 1's "
                 "iterations before training", name))

    # Figure 2: classification loss (log), Figure 3: train accuracy; per model panel, line per method.
    for key, fname, ylabel, log, caption in (
            ("task_loss", "fig2_loss", "classification loss (train batches)", True,
             "Figure 2 analogue ({g}): classification loss per step, log scale"),
            ("batch_acc", "fig3_train_acc", "train accuracy", False,
             "Figure 3 analogue ({g}): train accuracy (thin: per batch; markers: per epoch)")):
        fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 3.8), squeeze=False)
        for ax, model in zip(axes[0], models):
            for method in methods:
                r = rows.get((model, method))
                if not r:
                    continue
                recs, color = r["records"], METHOD_COLORS[method]
                spe = _steps_per_epoch(recs[0])
                if all(rec.get("steps") and rec["steps"].get(key) for rec in recs):
                    m, lo, hi = _mean_curve([rec["steps"][key] for rec in recs])
                    x = _step_axis(recs[0])[: m.size] / spe
                    ax.plot(x, m, color=color, alpha=0.6 if key == "batch_acc" else 1.0,
                            label=METHOD_LABELS[method] if key == "task_loss" else None, **METHOD_STYLES[method])
                    ax.fill_between(x, lo, hi, color=color, alpha=0.12)
                if key == "batch_acc":
                    em, _, _ = _mean_curve([[h["train_acc"] for h in rec["history"][1:]] for rec in recs])
                    ax.plot(np.arange(1, em.size + 1), em, marker="o", color=color, ms=4, label=METHOD_LABELS[method],
                            **METHOD_STYLES[method])
            if log:
                ax.set_yscale("log")
            ax.set_title(MODEL_LABELS[model])
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=7)
        fig.suptitle(caption.format(g=group) + " — mean over seeds, Fashion-MNIST", fontsize=9)
        name = save_figure(fig, fig_dir, f"{group}_{fname}.png")
        made.append((caption.format(g=group), name))

    # Test accuracy per epoch (not a paper figure; the numbers behind Table 5).
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        for method in methods:
            r = rows.get((model, method))
            if not r:
                continue
            m, lo, hi = _mean_curve([[h["test_acc"] for h in rec["history"][1:]] for rec in r["records"]])
            x = np.arange(1, m.size + 1)
            ax.plot(x, m, marker="o", color=METHOD_COLORS[method], ms=4, label=METHOD_LABELS[method],
                    **METHOD_STYLES[method])
            ax.fill_between(x, lo, hi, color=METHOD_COLORS[method], alpha=0.12)
        ax.set_title(MODEL_LABELS[model])
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize=7)
    fig.suptitle(f"Test accuracy per epoch ({group}), mean and min-max over seeds, Fashion-MNIST", fontsize=9)
    name = save_figure(fig, fig_dir, f"{group}_test_acc.png")
    made.append((f"Test accuracy per epoch ({group}), the numbers behind the Table 5 analogue", name))
    return made


def fig5_figures(group, records, out_dir) -> list[tuple[str, str]]:
    """The Figure 5 analogue of one group (accuracy vs I) in ``out_dir/figures``; ``[(caption, name)]``."""
    plt = pyplot()
    by = defaultdict(list)
    for r in records:
        by[int(r["config"]["cs_init_iters"])].append(r)
    iters = sorted(by)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, style, label in (("best_test_acc", "o-", "top test accuracy"), ("last_test_acc", "s--", "last-epoch")):
        stats = [mean_std([r["summary"][key] for r in by[i]]) for i in iters]
        m = np.array([s[0] for s in stats]) * 100
        e = np.array([s[1] or 0.0 for s in stats]) * 100
        ax.errorbar(iters, m, yerr=e if e.any() else None, fmt=style, capsize=3, ms=4, label=label)
    ax.set_xlabel("I (Algorithm 1 iterations before training)")
    ax.set_ylabel("test accuracy %")
    ax.set_title(f"Figure 5 analogue ({group}): ResNet18 on Fashion-MNIST", fontsize=9)
    ax.legend(fontsize=8)
    name = save_figure(fig, Path(out_dir) / "figures", f"{group}_fig5_resnet18_iters.png")
    return [(f"Figure 5 analogue ({group}): ResNet18 test accuracy vs I (error bars: std over seeds where > 1)", name)]
