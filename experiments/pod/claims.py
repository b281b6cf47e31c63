"""The POD paper's claims decided on a converged group: paired by seed (softmax, Cosine loss, POD loss at
n = 256), on the BatchNorm-recalibrated top test accuracy (:mod:`experiments.training.curves`) and the
post-training classifiers (:mod:`experiments.pod.metrics`).

Example
-------
>>> pod_claims([], "converged")
[]
"""

from __future__ import annotations

from collections import defaultdict

from experiments.common.claims import paired_claim, steps_claim
from experiments.training.curves import TARGET_BELOW_PP, paired_steps, paired_values, run_numbers

from .spec import PAPER_TABLE5, PAPER_TABLE6, PAPER_TABLE7, method_of

__all__ = ["pod_claims", "by_method"]


def by_method(records) -> dict:
    """``{(method, n or None): {seed: (record, run_numbers)}}``."""
    out: dict = defaultdict(dict)
    for r in records:
        m = method_of(r["config"])
        out[(m, None if m == "softmax" else r["config"]["feature_dim"])][r["config"]["seed"]] = (r, run_numbers(r))
    return dict(out)


def pod_claims(records, protocol: str) -> list:
    """The rows (unadjusted) of the POD paper's claims that ``records`` can decide."""
    by = by_method(records)
    top = lambda _r, n: n["top_recal"]          # noqa: E731
    soft, cos, pod = ("softmax", None), ("cosine", 256), ("pod", 256)
    rows = []
    for a, b, table, paper, what in ((soft, pod, "VI", PAPER_TABLE6, "POD loss beats softmax"),
                                     (cos, pod, "V", PAPER_TABLE5, "POD loss beats the Cosine loss alone")):
        x, y = paired_values(by, a, b, top)
        if x:
            eff = paper["CIFAR-10"][1] - paper["CIFAR-10"][0]
            rows.append(paired_claim("POD", f"{what} (Table {table}, n = 256)", x, y, protocol=protocol,
                                     paper_effect=eff, scale=100, paper_text=f"{eff:+.2f} pp (CIFAR-10)"))
    runs = by.get(pod, {})
    cos_acc = [(r.get("measure") or {}).get("cosine_acc") for r, _ in runs.values()]
    gda_acc = [(r.get("measure") or {}).get("gda_acc") for r, _ in runs.values()]
    if runs and None not in cos_acc + gda_acc:
        eff = PAPER_TABLE7["CIFAR-10"][1] - PAPER_TABLE7["CIFAR-10"][0]
        rows.append(paired_claim("POD", "A Gaussian discriminant on POD features does no better than the cosine rule "
                                 "(Table VII)", cos_acc, gda_acc, protocol=protocol, paper_effect=eff, scale=100,
                                 paper_text=f"{eff:+.2f} pp (CIFAR-10)"))
    x, y = paired_steps(by, soft, pod)
    c = steps_claim("POD", f"POD converges faster: SGD steps to softmax's final accuracy − {TARGET_BELOW_PP:g} pp",
                    x, y, protocol=protocol, paper_text="faster", names=("softmax", "POD"))
    if c is not None:
        rows.append(c)
    return rows
