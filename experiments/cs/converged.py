"""The converged Table 5 design (protocol ``converged``): which arm a run is, the per-run numbers a verdict
uses, the convergence criterion, paired comparisons of each arm with its baseline and the CS rows of the
claims table.

Per run: :func:`experiments.training.curves.run_numbers` (the best test accuracy, the paper's metric; the best
BatchNorm-recalibrated test accuracy, which the verdicts use; the final-epochs means and slope, the convergence
criterion) and the SGD steps until the recalibrated accuracy first reaches the target of its family (its
baseline's mean final accuracy minus :data:`~experiments.training.curves.TARGET_BELOW_PP`).

Arms are compared with the baseline of their momentum family (same seed: same initial weights and data
order), by paired differences over seeds (:func:`experiments.common.claims.paired_claim`).

Example
-------
>>> arm_of({"cs_init_iters": 500, "cs_init_apply": "norms", "momentum": 0.9})
'rescale-m'
>>> arm_of({"precision": "bf16"}), arm_of({"cs_beta": 0.001})
('bf16', 'alg2')
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from experiments.common.claims import paired_claim, steps_claim
from experiments.training.curves import FLAT_PP, TARGET_BELOW_PP, WINDOW, run_numbers, steps_to

from .spec import ARMS, PAPER_TABLE5

__all__ = ["arm_of", "run_numbers", "by_arm", "paired", "baseline_of", "convergence", "cs_claims", "WINDOW",
           "FLAT_PP", "TARGET_BELOW_PP"]

_DEFAULTS = {"cs_init_iters": 0, "cs_beta": 0.0, "cs_init_apply": "full", "cs_init_objective": "plain",
             "momentum": 0.0, "precision": "fp32"}


def _key(cfg: dict) -> tuple:
    c = {**_DEFAULTS, **{k: v for k, v in cfg.items() if k in _DEFAULTS}}
    return (bool(c["cs_init_iters"]), bool(c["cs_beta"]), c["cs_init_apply"], c["cs_init_objective"],
            float(c["momentum"]), c["precision"])


_BY_KEY = {_key(v): k for k, v in ARMS.items()}


def arm_of(cfg: dict) -> str | None:
    """The arm of :data:`~.spec.ARMS` a run's config is (``None``: none of them)."""
    return _BY_KEY.get(_key(cfg))


def baseline_of(arm: str) -> str:
    """The baseline an arm is compared with: ``baseline-m`` for the momentum arms, else ``baseline``."""
    return "baseline-m" if arm.endswith("-m") else "baseline"


def by_arm(records) -> dict:
    """``{(model, arm): {seed: run_numbers}}``, with ``steps_to_target`` against the family's baseline."""
    out: dict = defaultdict(dict)
    for r in records:
        arm = arm_of(r["config"])
        if arm is not None:
            out[(r["config"]["model"], arm)][r["config"]["seed"]] = run_numbers(r)
    for (model, arm), runs in out.items():
        base = out.get((model, baseline_of(arm)), {})
        finals = [b["final_recal"] for b in base.values() if b["final_recal"] is not None]
        target = float(np.mean(finals)) - TARGET_BELOW_PP / 100 if finals else None
        for n in runs.values():
            n["target"] = target
            n["steps_to_target"] = steps_to(n, target)
    return dict(out)


def paired(arms: dict, a: tuple, b: tuple, key: str) -> tuple[list, list]:
    """The values of ``key`` of arms ``a`` and ``b`` over the seeds both have (in seed order)."""
    ra, rb = arms.get(a, {}), arms.get(b, {})
    seeds = sorted(set(ra) & set(rb))
    return [ra[s][key] for s in seeds], [rb[s][key] for s in seeds]


def convergence(arms: dict) -> list[dict]:
    """Per baseline (model, family): mean final slope, whether it is below :data:`FLAT_PP`, the seeds."""
    out = []
    for (model, arm), runs in sorted(arms.items()):
        if arm not in ("baseline", "baseline-m"):
            continue
        slopes = [n["slope"] for n in runs.values() if n["slope"] is not None]
        m = float(np.mean(slopes)) if slopes else None
        out.append({"model": model, "arm": arm, "slope": m, "slopes": slopes, "flat": m is not None and m < FLAT_PP,
                    "n": len(slopes)})
    return out


def _paper(model, method):
    return PAPER_TABLE5[(model, method)] - PAPER_TABLE5[(model, "baseline")]


def cs_claims(arms: dict, protocol: str) -> list:
    """The CS paper's claims decided on the converged design (unadjusted; :func:`~experiments.common.claims.adjust`
    the whole table)."""
    rows = []

    def acc(claim, a, b, paper_effect=None, paper_text="–", **kw):
        x, y = paired(arms, a, b, "top_recal")
        if x:
            rows.append(paired_claim("CS", claim, x, y, protocol=protocol, paper_effect=paper_effect,
                                     paper_text=paper_text, scale=100, **kw))

    for model, label in (("cnn1", "CNN1"), ("cnn2", "CNN2")):
        acc(f"{label}: Algorithm 1 (I = 500) raises top test accuracy", (model, "baseline"), (model, "alg1"),
            _paper(model, "alg1"), f"{_paper(model, 'alg1'):+.2f} pp (Table 5)")
    for arm, what in (("alg1", "Algorithm 1"), ("alg2", "Algorithm 2")):
        x, y = paired(arms, ("cnn1", "baseline"), ("cnn1", arm), "final_recal")
        if x:
            rows.append(paired_claim("CS", f"CNN1: {what}'s gain holds in the mean of the last {WINDOW} epochs "
                                     "(not only in the maximum of a noisier curve)", x, y, protocol=protocol,
                                     paper_effect=_paper("cnn1", arm), paper_text=f"{_paper('cnn1', arm):+.2f} pp "
                                     "(top)", scale=100))
    acc("CNN1: Algorithm 2 (β = 0.001) raises top test accuracy", ("cnn1", "baseline"), ("cnn1", "alg2"),
        _paper("cnn1", "alg2"), f"{_paper('cnn1', 'alg2'):+.2f} pp (Table 5)")
    implied = _paper("cnn1", "alg1")
    acc("CNN1: the gain is decorrelation — Algorithm 1's kernels at the initial norms (directions only) beat the "
        "baseline", ("cnn1", "baseline"), ("cnn1", "directions"), implied, f"{implied:+.2f} pp (implied)")
    acc("CNN1: the gain is decorrelation — Algorithm 1 beats the rescale control (initial kernels shrunk to its "
        "norms)", ("cnn1", "rescale"), ("cnn1", "alg1"), implied, f"{implied:+.2f} pp (implied)")
    acc("CNN1: shrinking alone (rescale control) raises accuracy (not a paper claim: the competing explanation)",
        ("cnn1", "baseline"), ("cnn1", "rescale"), None, "–")
    acc("CNN1: Algorithm 1 on the scale-invariant L_CS raises accuracy", ("cnn1", "baseline"), ("cnn1", "alg1n"),
        implied, f"{implied:+.2f} pp (implied)")
    for arm, what in (("alg1-m", "Algorithm 1"), ("alg2-m", "Algorithm 2")):
        acc(f"CNN1 with SGD momentum 0.9: {what} raises accuracy (the paper names momentum a limitation)",
            ("cnn1", "baseline-m"), ("cnn1", arm), None, "not tested")
    for arm, what in (("rescale-m", "rescale control"), ("directions-m", "directions only"),
                      ("alg1n-m", "scale-invariant Algorithm 1")):
        acc(f"CNN1 with momentum 0.9: {what} vs baseline", ("cnn1", "baseline-m"), ("cnn1", arm), None,
            "not tested")
    d = _paper("cnn1", "alg1") - (PAPER_TABLE5[("cnn2", "baseline")] - PAPER_TABLE5[("cnn1", "baseline")])
    acc("Smaller models suffice: CNN1 + Algorithm 1 ≥ CNN2 baseline", ("cnn2", "baseline"), ("cnn1", "alg1"),
        d, f"{d:+.2f} pp (79.16 vs 76.87)")
    x, y = paired(arms, ("cnn1", "baseline"), ("cnn1", "alg1"), "steps_to_target")
    c = steps_claim("CS", "CNN1: Algorithm 1 accelerates convergence (SGD steps to the baseline's final accuracy − "
                    f"{TARGET_BELOW_PP:g} pp)", x, y, protocol=protocol, paper_text="faster (Figs. 1-3)",
                    names=("the baseline", "Algorithm 1"))
    if c is not None:
        rows.append(c)
    acc("bf16 autocast leaves accuracy unchanged (ours, not the paper's): |Δ| ≤ 0.5 pp", ("cnn1", "baseline"),
        ("cnn1", "bf16"), None, "–", margin=0.5)
    return rows
