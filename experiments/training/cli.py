"""``python -m experiments training run [flags]``: one training run; every :class:`TrainConfig` field is a flag.

Examples::

    python -m experiments training run --model cnn1 --train-per-class 100 --epochs 2 --out-dir runs/training/try
    python -m experiments training run --out-dir runs/training/try --resume          # continue it
    # an extra loss term registered by a module (see experiments.training.losses.register_extra_loss)
    python -m experiments training run --import mypkg.losses --model resnet18 --capture stage4 --extra-losses mine
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import typing
from pathlib import Path

from experiments.common.cli import UsageError, Verb, check_out_dir, option
from experiments.common.commit import deferred_writes
from experiments.common.optim import resolve_device

from .engine import TrainConfig, train, tune_malloc
from .runs import check_data, check_protocol_settings, check_resumable, plan_lines

__all__ = ["RunConfig", "VERBS", "short_usage", "study_verbs"]


@dataclasses.dataclass
class RunConfig(TrainConfig):
    """:class:`TrainConfig` plus what the command does with it."""

    resume: bool = option(False, "continue from OUT_DIR/checkpoint.pt if there is one")
    imports: typing.List[str] = option(factory=list, cli=False)      # from --import

    def validate(self) -> "RunConfig":
        for mod in self.imports:
            try:
                importlib.import_module(mod)
            except ImportError as exc:
                raise UsageError(f"--import: cannot import {mod!r} ({exc})") from None
        super().validate()
        # under torchrun only rank 0 writes in the run directory: the other ranks do not probe it
        check_out_dir("out_dir", self.out_dir, probe=os.environ.get("RANK", "0") == "0")
        return self

    def train_config(self) -> TrainConfig:
        return TrainConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(TrainConfig)})


def short_usage(line: str):
    """An ``add_arguments`` hook giving a verb with many flags a one-line usage (``--help`` lists them)."""
    def add(parser):
        parser.usage = f"{parser.prog} {line} (--help lists every flag)"
    return add


def _add(parser):
    short_usage("[flags]")(parser)
    parser.add_argument("--import", dest="import_modules", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (e.g. one that registers an extra loss); repeatable")


def _run(cfg: RunConfig, ctx) -> int:
    out = Path(cfg.out_dir)
    if not cfg.resume and ((out / "checkpoint.pt").is_file() or (out / "result.json").is_file()):
        raise UsageError(f"--out-dir: {out} already holds a run; pass --resume to continue it or choose another "
                         "--out-dir")
    resolve_device(cfg.device)                        # CUDA asked for where there is none: a usage error
    if cfg.resume:
        check_resumable(cfg.train_config(), "--resume")
    check_data([cfg.train_config()])                  # the data set, and enough images per class
    tune_malloc()
    rec = train(cfg.train_config(), resume=cfg.resume)
    s = rec["summary"]
    if int(os.environ.get("RANK", "0")) == 0:                 # torchrun: one line, from rank 0
        print(f"{rec['status']}: best test acc {s['best_test_acc']} (epoch {s['best_epoch']}), last "
              f"{s['last_test_acc']}; files in {cfg.out_dir}")
    return 0 if rec["status"] == "done" else 1


VERBS = {
    "run": Verb("one training run from TrainConfig flags", RunConfig, _run,
                description="Train one network; every TrainConfig field is a flag. Files go to --out-dir only.",
                add_arguments=_add, fixed=lambda ns: {"imports": list(ns.import_modules)}),
}


def study_verbs(plan_cls, run_cls, report_cls, *, study_runs, run_study, write_report) -> dict:
    """The ``run`` / ``plan`` / ``report`` verbs of a training study package (cs, mfd, pod).

    Parameters
    ----------
    plan_cls, run_cls, report_cls : type
        The option dataclasses of ``plan``, ``run`` and ``report`` (the first field of ``plan_cls`` is
        ``study``, with choices).
    study_runs : callable
        ``study_runs(opts) -> [Run]``.
    run_study : callable
        ``run_study(opts, log)``: runs the study, results in ``opts.out/results``.
    write_report : callable
        ``write_report(results_dir, out_dir, figures=True) -> path``.

    Returns
    -------
    dict
        ``{"run": Verb, "plan": Verb, "report": Verb}``; ``run`` renders the report into ``--out`` unless
        ``--no-report`` or ``--dry-run``.
    """
    studies = "{" + ",".join(dataclasses.fields(plan_cls)[0].metadata["choices"]) + "} [flags]"

    def run(cfg, ctx) -> int:
        if cfg.executor != "ray":                      # a Ray cluster's GPUs are on its workers
            resolve_device(cfg.device)
        check_protocol_settings(cfg, study_runs)
        tune_malloc()
        run_study(cfg, log=ctx["log"])
        if cfg.report and not cfg.dry_run:
            with deferred_writes(cfg.out):             # the report's files land together, after all are rendered
                path = write_report(cfg.results_dir, cfg.out)
            print(f"report: {path}")
        return 0

    def plan(cfg, ctx) -> int:
        lines, conflicts = plan_lines(study_runs(cfg), cfg.results_dir)
        print("\n".join(lines))
        return 2 if conflicts else 0

    def report(cfg, ctx) -> int:
        with deferred_writes(cfg.out):
            path = write_report(cfg.results, cfg.out, figures=cfg.figures)
        print(f"report: {path}")
        return 0

    return {
        "run": Verb("run the study's missing runs (skip done ones, resume interrupted ones), then its report",
                    run_cls, run, add_arguments=short_usage(f"--study {studies}")),
        "plan": Verb("list the study's runs and which are done (exit 2 if a saved result has other settings)",
                     plan_cls, plan, add_arguments=short_usage(f"--study {studies}")),
        "report": Verb("render REPORT.md and figures/ from a results directory into --out", report_cls, report),
    }
