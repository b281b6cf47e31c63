"""``python -m experiments montecarlo {run,report}``: the CS paper's Monte Carlo Tables 1, 2, 3 and 6.

``run`` draws and optimises the episodes and writes the results (JSON) into ``--out``, then renders the
report there (``--no-report`` skips it); ``report`` renders the report of any results directory into any
output directory, computing nothing.
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
    "run": Verb("run the Monte Carlo episodes, write the results JSON and the report into --out", RunOptions, _run,
                description="Monte Carlo reproduction of the CS paper's Tables 1, 2, 3 and 6: each row's episodes "
                            "optimised as one batch, compared with the paper's values; writes results "
                            "(tableK.json, padding_sweep.json, results.json) and the report (markdown, figure)."),
    "report": Verb("render the report of a results directory (markdown and figure), computing nothing",
                   ReportOptions, _report),
}
