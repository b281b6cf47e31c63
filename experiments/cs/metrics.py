"""What the CS report computes from the result records: Table 5 aggregates over seeds and the verdict of
each CS method against its baseline (paired by seed: mean difference of top test accuracies, its 95 % t
interval and the paired t test).

Example
-------
>>> recs = [{"config": {"model": "cnn1", "seed": s, "cs_init_iters": i, "cs_beta": 0.0},
...          "summary": {"best_test_acc": a, "last_test_acc": a, "last_train_acc": a, "wall_seconds": 1.0},
...          "history": [{"l_cs": 1.0, "l_cs_normalized": 1.0, "conv_kernel_norm": 1.0}]}
...         for s, i, a in ((0, 0, 0.70), (1, 0, 0.71), (0, 500, 0.80), (1, 500, 0.83))]
>>> print(verdict(table5_rows(recs), "cnn1")[0])  # doctest: +NORMALIZE_WHITESPACE
CNN1, Algorithm 1 (I = 500) vs baseline, top test accuracy: +11.00 pp, 95 % t interval [-1.71, +23.71],
paired over 2 seeds (p = 0.058) — not resolvable (p ≥ 0.05) (paper: +4.50 pp on CIFAR-10).
"""

from __future__ import annotations

from collections import defaultdict

from experiments.common import stats
from experiments.common.report import difference_sentence

from .spec import METHOD_LABELS, METHODS, MODEL_LABELS, PAPER_TABLE5

__all__ = ["method_of", "table5_rows", "verdict"]


def method_of(cfg: dict) -> str:
    """``alg1`` / ``alg2`` / ``baseline`` from a run's config."""
    if cfg.get("cs_init_iters"):
        return "alg1"
    if cfg.get("cs_beta"):
        return "alg2"
    return "baseline"


def _init(r, key):
    return (r.get("cs_init") or {}).get("before", {}).get(key)


def table5_rows(records) -> dict:
    """``{(model, method): aggregates over seeds}`` (each ``(mean, std, n)`` of :func:`stats.mean_std`)."""
    ms = stats.mean_std
    by = defaultdict(list)
    for r in records:
        by[(r["config"]["model"], method_of(r["config"]))].append(r)
    rows = {}
    for key, recs in sorted(by.items(), key=lambda kv: (kv[0][0], list(METHODS).index(kv[0][1]))):
        best = [r["summary"]["best_test_acc"] for r in recs]
        best_recal = [r["summary"].get("best_test_acc_recal") for r in recs]
        first = [r["history"][0] for r in recs]           # epoch 0: after Algorithm 1, before training
        rows[key] = {
            "records": recs, "seeds": sorted(r["config"]["seed"] for r in recs),
            "best": ms(best), "best_each": best, "best_recal": ms(best_recal), "best_recal_each": best_recal,
            "last": ms([r["summary"]["last_test_acc"] for r in recs]),
            "train_acc": ms([r["summary"]["last_train_acc"] for r in recs]),
            "lcs0": ms([h["l_cs"] for h in first]),
            "lcs0_norm": ms([h["l_cs_normalized"] for h in first]),
            "knorm0": ms([h["conv_kernel_norm"] for h in first]),
            "lcs_init": ms([_init(r, "l_cs") for r in recs]),
            "lcs_init_norm": ms([_init(r, "l_cs_normalized") for r in recs]),
            "knorm_init": ms([_init(r, "conv_kernel_norm") for r in recs]),
            "lcs_end": ms([r["history"][-1]["l_cs"] for r in recs]),
            "seconds": ms([r["summary"]["wall_seconds"] for r in recs]),
            "init_seconds": ms([(r.get("cs_init") or {}).get("seconds") for r in recs]),
        }
    return rows


def verdict(rows, model, key: str = "best_each") -> list[str]:
    """Plain statements: each CS method vs the baseline of ``model``, paired by seed (mean difference, 95 % t
    interval, paired t test; :func:`experiments.common.report.difference_sentence`)."""
    base = rows.get((model, "baseline"))
    if base is None or base["best"][0] is None:
        return [f"{MODEL_LABELS[model]}: no baseline result."]
    lines = []
    for method in ("alg1", "alg2"):
        r = rows.get((model, method))
        if r is None or r["best"][0] is None:
            continue
        paper = PAPER_TABLE5[(model, method)] - PAPER_TABLE5[(model, "baseline")]
        sb = [x["config"]["seed"] for x in base["records"]]
        sr = [x["config"]["seed"] for x in r["records"]]
        lines.append(f"{MODEL_LABELS[model]}, {METHOD_LABELS[method]} vs baseline, " + difference_sentence(
            base[key], r[key], what="top test accuracy", paper=paper, seeds=(sb, sr))
            .replace(f" (paper: {paper:+.2f} pp)", f" (paper: {paper:+.2f} pp on CIFAR-10)"))
    return lines
