"""The claims table: one row per claim of a paper, decided from paired differences by one stated rule.

A row holds the paper's number, ours (the paired mean difference over seeds, ``b - a``), its 95 % t interval,
the paired t test's p-value and its Holm adjustment over the table's family (:func:`adjust`), the minimum
detectable effect at the number of seeds (80 % power, :mod:`experiments.common.power`) and the verdict:

* **supported** — the Holm-adjusted p < 0.05 and the difference has the paper's sign (if the interval lies
  below the paper's effect, the row says the effect is smaller than the paper's);
* **not supported** — the adjusted p < 0.05 with the opposite sign, or the interval excludes both the paper's
  effect and every effect of its sign large enough to matter (it lies within ``±margin``, or below the
  paper's effect while containing 0);
* **undecided at this power** — otherwise (the interval holds 0 and the paper's effect).

An equivalence claim (``margin`` set and no paper effect, e.g. "bf16 does not change accuracy") is
**supported** when the whole interval lies within ``±margin``, **not supported** when it lies outside, else
undecided.

Example
-------
>>> c = paired_claim("CS", "Algorithm 1 beats the baseline", [0.80, 0.81, 0.82], [0.85, 0.85, 0.87],
...                  paper_effect=4.5, paper_text="+4.50 pp", protocol="converged", scale=100)
>>> c.verdict, round(c.diff, 2), c.n
('supported', 4.67, 3)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from . import power, stats

__all__ = ["Claim", "paired_claim", "steps_claim", "decide", "adjust", "claims_table", "VERDICTS", "RULE"]

VERDICTS = ("supported", "not supported", "undecided at this power")
#: the rule, in the words the reports print above every claims table
RULE = ("Rule: ours = the paired mean difference over seeds (treatment − control, same initial weights and "
        "data order), 95 % t interval, paired t test with Holm's adjustment over the table. **supported**: "
        "Holm p < 0.05 with the claimed sign; **not supported**: Holm p < 0.05 with the opposite sign, or the "
        "interval excludes the paper's effect; **undecided at this power**: the interval holds 0 and the "
        "paper's effect. Equivalence rows (a ±margin, no paper effect): supported when the whole interval lies "
        "within the margin. MDE: the smallest effect the paired t test finds with 80 % power at this n and "
        "the observed SD of the differences; seeds for 80 % power: the pairs the paired t test needs to find the "
        "paper's effect with 80 % power at that SD (the plan adds seeds where the budget allows).")


@dataclass
class Claim:
    """One row of the claims table (differences in ``unit``, e.g. percentage points)."""
    paper: str
    claim: str
    protocol: str
    paper_text: str = "–"
    paper_effect: float | None = None
    n: int = 0
    diff: float | None = None
    ci: tuple | None = None
    p: float | None = None
    p_adj: float | None = None
    mde: float | None = None
    margin: float | None = None
    unit: str = "pp"
    verdict: str = "undecided at this power"
    note: str = ""
    sign: int = 1          #: the claimed direction when the paper gives no number (-1: "fewer steps")
    n_needed: int | None = None   #: pairs for 80 % power at the paper's effect with the observed SD
    #: (control runs, treatment runs, pairs) that reached a target, for a steps-to-target row with no pair
    #: where both did (then there is no difference to test)
    reached: tuple | None = None


def decide(c: Claim) -> str:
    """The verdict of ``c`` by the module's rule (uses ``p_adj`` when set, else ``p``)."""
    if c.diff is None and c.reached is not None:
        ctl, trt, pairs = c.reached
        # every run of one arm reached the target and no run of the other did: decided without a test
        if pairs and {ctl, trt} == {0, pairs}:
            return "supported" if (trt == pairs) == (c.sign < 0) else "not supported"
    if c.diff is None or c.ci is None:
        return "undecided at this power"
    lo, hi = c.ci
    if c.margin is not None and c.paper_effect is None:
        if -c.margin <= lo and hi <= c.margin:
            return "supported"
        if hi < -c.margin or lo > c.margin:
            return "not supported"
        return "undecided at this power"
    p = c.p_adj if c.p_adj is not None else c.p
    sign = float(c.sign) if c.paper_effect is None else (1.0 if c.paper_effect >= 0 else -1.0)
    if p is not None and p < power.ALPHA:
        return "supported" if c.diff * sign > 0 else "not supported"
    if c.paper_effect is not None:
        # the interval contains 0 but excludes the paper's effect: an effect of that size is ruled out
        if (sign > 0 and hi < c.paper_effect) or (sign < 0 and lo > c.paper_effect):
            return "not supported"
    if c.margin is not None and -c.margin <= lo and hi <= c.margin:
        return "not supported"
    return "undecided at this power"


def paired_claim(paper: str, claim: str, a, b, *, protocol: str, paper_effect=None, paper_text="–",
                 scale: float = 1.0, margin=None, unit="pp", note="", sign: int = 1) -> Claim:
    """A :class:`Claim` from paired values ``a`` (control) and ``b`` (treatment) per seed, ``b - a`` scaled by
    ``scale`` (e.g. 100: accuracies to percentage points); decided with the unadjusted p (see :func:`adjust`)."""
    d = stats.paired_difference(list(a), list(b))
    c = Claim(paper, claim, protocol, paper_text=paper_text, paper_effect=paper_effect, n=d.n, margin=margin,
              unit=unit, note=note, sign=sign)
    if d.mean is not None:
        c.diff = d.mean * scale
    if d.se is not None and d.df:
        se = d.se * scale
        c.p = d.p if d.p is not None else (0.0 if d.mean != 0 else 1.0)
        c.ci = power.t_interval(c.diff, se, d.df)
        sd = se * math.sqrt(d.n)
        if sd > 0 and d.n >= 2:
            c.mde = power.min_detectable_effect(sd, d.n)
            if paper_effect:
                c.n_needed = power.seeds_for_power(abs(paper_effect), sd)
    c.verdict = decide(c)
    return c


def steps_claim(paper: str, claim: str, a, b, *, protocol: str, paper_text="–", names=("control", "treatment"),
                sign: int = -1) -> Claim | None:
    """A steps-to-target row from paired steps ``a`` (control) and ``b`` (treatment) per seed, ``None`` where a
    run never reached the target: the paired difference over the pairs where both arms did (the note counts
    the pairs left out); with no such pair, the :attr:`Claim.reached` counts decide it (see :func:`decide`;
    ``names`` name the two arms in the note). ``None`` when there are no pairs at all.

    Example
    -------
    >>> steps_claim("P", "faster", [100, 120], [None, None], protocol="p", names=("softmax", "POD")).verdict
    'not supported'
    """
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"a, b: paired steps need one value per seed in each, got {len(a)} and {len(b)}")
    pairs = len(a)
    if not pairs:
        return None
    keep = [(p, q) for p, q in zip(a, b) if p is not None and q is not None]
    if keep:
        return paired_claim(paper, claim, [p for p, _ in keep], [q for _, q in keep], protocol=protocol,
                            paper_text=paper_text, unit="steps", sign=sign,
                            note=f"{pairs - len(keep)} pairs never reached it" if len(keep) < pairs else "")
    ctl, trt = sum(p is not None for p in a), sum(q is not None for q in b)
    c = Claim(paper, claim, protocol, paper_text=paper_text, n=pairs, unit="steps", sign=sign,
              reached=(ctl, trt, pairs), note=f"{names[0]} reached it in {ctl} of {pairs} runs, {names[1]} in {trt}")
    c.verdict = decide(c)
    return c


def adjust(claims: list) -> list:
    """The claims with ``p_adj`` (Holm over the rows that have a p-value and are not equivalence claims) and
    their verdicts re-decided; returns new objects."""
    tested = [i for i, c in enumerate(claims) if c.p is not None and not (c.margin is not None
                                                                          and c.paper_effect is None)]
    adj = power.holm([claims[i].p for i in tested])
    out = [dataclasses.replace(c) for c in claims]
    for i, q in zip(tested, adj):
        out[i].p_adj = q
    for c in out:
        c.verdict = decide(c)
    return out


def _num(x, unit, digits=2):
    if x is None:
        return "–"
    return f"{x:+.{digits}f} {unit}" if unit == "pp" else f"{x:+.{0 if abs(x) >= 100 else 1}f} {unit}"


def claims_table(claims: list) -> list[list]:
    """Rows for :func:`experiments.common.report.markdown_table` (see :data:`CLAIM_HEADERS`)."""
    rows = []
    for c in claims:
        ci = "–" if c.ci is None else f"[{c.ci[0]:+.2f}, {c.ci[1]:+.2f}]"
        rows.append([c.paper, c.claim, c.paper_text, _num(c.diff, c.unit), ci,
                     "–" if c.p_adj is None else f"{c.p_adj:.3g}", "–" if c.mde is None else f"{c.mde:.2f} {c.unit}",
                     c.protocol, c.n, "–" if c.n_needed is None else c.n_needed,
                     c.verdict + (f" ({c.note})" if c.note else "")])
    return rows


CLAIM_HEADERS = ["paper", "claim", "paper's number", "ours (paired mean diff.)", "95 % t interval",
                 "Holm p", "MDE (80 % power)", "protocol", "n seeds", "seeds for 80 % power at the paper's effect",
                 "verdict"]
__all__.append("CLAIM_HEADERS")
