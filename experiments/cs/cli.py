"""``python -m experiments cs {run,plan,report}``: see :mod:`experiments.cs.spec` for the studies."""

from __future__ import annotations

from experiments.training.cli import study_verbs

from experiments.common.cli import Verb

from .kernels import CSKernels, write_kernels
from .report import write_report
from .run import run_study, study_runs
from .spec import CSPlan, CSReport, CSRun

__all__ = ["VERBS"]

VERBS = study_verbs(CSPlan, CSRun, CSReport, study_runs=study_runs, run_study=run_study,
                    write_report=write_report)


def _kernels(cfg: CSKernels, ctx) -> int:
    print(f"kernels: {write_kernels(cfg, log=ctx['log'])}")
    return 0


VERBS["kernels"] = Verb("the 2-D claim on trained kernels: kernel measures vs measured feature-map cosines of the "
                        "converged runs (writes <results>/<group>/kernels.json)", CSKernels, _kernels)
