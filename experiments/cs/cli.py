"""``python -m experiments cs {run,plan,report}``: see :mod:`experiments.cs.spec` for the studies."""

from __future__ import annotations

from experiments.training.cli import study_verbs

from .report import write_report
from .run import run_study, study_runs
from .spec import CSPlan, CSReport, CSRun

__all__ = ["VERBS"]

VERBS = study_verbs(CSPlan, CSRun, CSReport, study_runs=study_runs, run_study=run_study,
                    write_report=write_report)
