"""``python -m experiments mfd {run,plan,report}``: see :mod:`experiments.mfd.spec` for the studies."""

from __future__ import annotations

from experiments.training.cli import study_verbs

from .report import write_report
from .run import run_study, study_runs
from .spec import MFDPlan, MFDReport, MFDRun

__all__ = ["VERBS"]

VERBS = study_verbs(MFDPlan, MFDRun, MFDReport, study_runs=study_runs, run_study=run_study,
                    write_report=write_report)
