"""What a verdict reads off one training record's curves (shared by the converged protocols of every study).

Per run (accuracies as fractions):

* ``top`` — the best test accuracy over epochs, eval-mode BatchNorm as trained (the papers' metric);
* ``top_recal`` — the best over the BatchNorm-recalibrated tests (running statistics re-estimated on training
  batches first, :meth:`experiments.training.engine.Trainer.evaluate_recalibrated`), so stale running
  statistics cannot decide a verdict;
* ``final_recal`` / ``final_plain`` / ``final_train`` — means over the final window (the last :data:`WINDOW`
  epochs, or those after the last learning-rate milestone if it falls inside them: :func:`window_of`);
* ``slope`` — the least-squares slope of the recalibrated test accuracy over the final window, in pp per
  epoch: a baseline is *flat* (converged) when it is below :data:`FLAT_PP`;
* ``final_sd`` — the standard deviation (``ddof=1``) of the recalibrated test accuracies in the final window:
  how noisy the curve is where it should be flat (the best epoch of a noisier curve is higher by chance);
* ``curve`` / ``curve_plain`` — ``[(epoch, accuracy)]`` of the recalibrated and plain tests.

:func:`steps_to` gives the SGD steps until a curve first reaches a target (the "converges faster" claims).

Example
-------
>>> h = [{"epoch": 0, "test_acc": None, "test_acc_recal": None, "train_acc": None}] + [
...     {"epoch": e, "test_acc": 0.5, "test_acc_recal": 0.5 + 0.01 * min(e, 5), "train_acc": 0.6} for e in range(1, 31)]
>>> n = run_numbers({"config": {"seed": 0, "batch_size": 100}, "history": h,
...                  "summary": {"best_test_acc": 0.5, "train_size": 1000}})
>>> round(n["top_recal"], 2), round(n["slope"], 6), n["steps_per_epoch"], steps_to(n, 0.53)
(0.55, 0.0, 10, 30)
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["WINDOW", "FLAT_PP", "TARGET_BELOW_PP", "run_numbers", "steps_to", "slope_pp", "window_of", "paired_values",
           "paired_steps"]

WINDOW = 20            #: epochs at the end of a run that the final accuracy and the slope are taken over
FLAT_PP = 0.1          #: flat: the final slope below this many pp per epoch
TARGET_BELOW_PP = 1.0  #: steps-to-target target: the control's mean final accuracy minus this many pp


def slope_pp(points) -> float | None:
    """Least-squares slope of ``[(epoch, accuracy)]`` in pp per epoch (``None`` below 3 points)."""
    if len(points) < 3:
        return None
    e, a = zip(*points)
    return float(np.polyfit(np.asarray(e, float), np.asarray(a, float), 1)[0] * 100)


def window_of(config: dict, last_epoch: int) -> int:
    """The final window: :data:`WINDOW` epochs, or fewer when a learning-rate milestone falls inside them
    (the window then starts after the last milestone, where the schedule is constant)."""
    milestones = [int(m) for m in config.get("lr_milestones") or [] if int(m) < last_epoch]
    return min(WINDOW, last_epoch - max(milestones)) if milestones else WINDOW


def run_numbers(rec: dict, window: int | None = None) -> dict:
    """The per-run numbers of the module docstring (``window``: default :func:`window_of`)."""
    h = [r for r in rec["history"] if r["epoch"] > 0]
    last = h[-1]["epoch"] if h else 0
    window = window_of(rec["config"], last) if window is None else window
    recal = [(r["epoch"], r["test_acc_recal"]) for r in h if r.get("test_acc_recal") is not None]
    tail = [(e, a) for e, a in recal if e > last - window]
    end = [r for r in h if r["epoch"] > last - window]

    def mean(key):
        v = [r[key] for r in end if r.get(key) is not None]
        return float(np.mean(v)) if v else None

    first = rec["history"][0] if rec["history"] else {}
    return {"seed": rec["config"]["seed"], "top": rec["summary"].get("best_test_acc"),
            "top_recal": max((a for _, a in recal), default=None),
            "final_recal": float(np.mean([a for _, a in tail])) if tail else None,
            "final_sd": float(np.std([a for _, a in tail], ddof=1)) if len(tail) > 1 else None,
            "final_plain": mean("test_acc"), "final_train": mean("train_acc"), "slope": slope_pp(tail),
            "epochs": last, "window": window, "steps_per_epoch": max(1, math.ceil(rec["summary"]["train_size"] / rec["config"]["batch_size"])),
            "curve": recal, "curve_plain": [(r["epoch"], r["test_acc"]) for r in h],
            "lcs0": first.get("l_cs"), "lcs0_norm": first.get("l_cs_normalized"),
            "knorm0": first.get("conv_kernel_norm"), "lcs_end": h[-1].get("l_cs") if h else None,
            "extra_first": h[0].get("train_extra_loss") if h else None,
            "extra_last": h[-1].get("train_extra_loss") if h else None,
            "seconds": rec["summary"].get("wall_seconds"), "done": rec.get("status") == "done"}


def steps_to(numbers: dict, target: float | None) -> int | None:
    """SGD steps until the recalibrated curve first reaches ``target`` (``None``: never, or no target)."""
    if target is None:
        return None
    for e, a in numbers["curve"]:
        if a >= target:
            return e * numbers["steps_per_epoch"]
    return None


def paired_values(by: dict, a, b, value) -> tuple[list, list]:
    """``value(record, numbers)`` of arms ``a`` and ``b`` over the seeds both have, in seed order
    (``by``: ``{arm: {seed: (record, run_numbers)}}``)."""
    seeds = sorted(set(by.get(a, {})) & set(by.get(b, {})))
    return [value(*by[a][s]) for s in seeds], [value(*by[b][s]) for s in seeds]


def paired_steps(by: dict, control, treatment) -> tuple[list, list]:
    """Per paired seed (``by`` as in :func:`paired_values`), each arm's SGD steps to the control's mean final
    recalibrated accuracy minus :data:`TARGET_BELOW_PP` (``None`` where a run never reaches it); empty without
    control runs. :func:`experiments.common.claims.steps_claim` turns them into a claims row."""
    finals = [n["final_recal"] for _, n in by.get(control, {}).values() if n["final_recal"] is not None]
    if not finals:
        return [], []
    target = sum(finals) / len(finals) - TARGET_BELOW_PP / 100
    return paired_values(by, control, treatment, lambda _r, n: steps_to(n, target))
