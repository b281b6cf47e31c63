"""``python -m experiments claim2d {run,report}``: the CS paper's central claim in 2-D.

``run`` optimises the grid of (C, k, S, objective) runs, writes the results (JSON) into ``--out`` and
then renders the report there (``--no-report`` skips it); ``report`` renders the report of any results
directory into any output directory, computing nothing.
"""

from __future__ import annotations

from experiments.common.cli import Verb

from .spec import ReportOptions, RunOptions

__all__ = ["VERBS"]


def _run(cfg: RunOptions, ctx: dict) -> int:
    from .run import main

    return main(cfg, ctx)


def _report(cfg: ReportOptions, ctx: dict) -> int:
    from .report import write_report

    write_report(cfg.results, cfg.out, plot=cfg.plot, log=ctx.get("log"))
    return 0


VERBS = {
    "run": Verb("run the 2-D Monte Carlo, write the results JSON and the report into --out", RunOptions, _run,
                description="Monte Carlo of 'kernel orthogonality does not imply feature-map orthogonality' and of "
                            "L_CS (plain and scale-invariant) in 2-D: k×k kernels, C input channels, S kernels, "
                            "inputs U(0,1) and real images, paddings full/same/valid; writes results (C*_k*.json, "
                            "summary.json) and the report (markdown, figure)."),
    "report": Verb("render the report of a results directory (markdown and figure), computing nothing",
                   ReportOptions, _report),
}
