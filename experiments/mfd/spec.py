"""The MFD paper's experiments (Zhu et al., softmax vs softmax + λ Σ_s L_MFD, eq. 7): the paper's numbers,
protocols, the runs each table needs and the options of the ``mfd`` verbs.

**Protocols** (:data:`PROTOCOLS`): ``paper`` — the paper's recipe (SGD lr 0.1, momentum 0.9, weight decay
5e-4, batch 128, 100 epochs, lr ÷10 at 30/60/90, pad-4 crop + flip) with ResNet18 width 1 on the full
Fashion-MNIST (paper: ResNet50 on CIFAR-10/100, Tiny ImageNet, FaceScrub), for a GPU; ``quick`` — the same
optimiser scaled for a 2-core CPU: ResNet18 width 1/4 (16..128 channels), 250 / 100 images per class
(2,500 train / 1,000 test), 10 epochs with lr ÷10 after epochs 6 and 9, no augmentation, one thread.

The λ sweep (Table II) and the softmax-vs-MFD comparison (Tables I, III, IV) share their runs (softmax and
λ = 1).
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass

from experiments.common.cli import UsageError, check_number, check_report_dirs, option
from experiments.training.runs import StudyOptions, with_runtime

__all__ = ["PAPER_TABLE1", "PAPER_TABLE2", "PAPER_TABLE3", "PAPER_TABLE4", "PAPER_TABLE7", "LG_LAMBDAS", "COMMON",
           "PROTOCOLS", "TABLES", "STUDIES", "EXPERIMENT", "STAGES", "lg_lambda", "lam_name", "run_name",
           "study_lgs", "study_seeds", "MFDPlan", "MFDRun", "MFDReport", "OUT", "RUNS_DIR"]

OUT = "reports/mfd"
RUNS_DIR = "runs/mfd"
EXPERIMENT = "mfd"
STAGES = ("stage0", "stage1", "stage2", "stage3", "stage4")      # ResNet18's stem and four residual stages

# ----------------------------------------------------------------------------------- the paper's numbers
# Table I: mean |off-diagonal| Pearson per stage, ResNet50 trained with softmax only, CIFAR-100.
PAPER_TABLE1 = (0.189, 0.142, 0.120, 0.053, 0.094)
# Table III: the same after softmax + MFD (λ = 1, MFD after stages 0-4).
PAPER_TABLE3 = (0.007, 0.015, 0.034, 0.031, 0.013)
# Table II: accuracy (%) vs lg λ, ResNet50, CIFAR-100 (the table's header reads "-log(λ)" but the text says
# "when lg(λ) increases from -2 to 0 ... set λ = 1"; we read the columns as lg λ). Softmax only: 76.42.
PAPER_TABLE2 = {None: 76.42, -2: 76.91, -1: 78.27, 0: 79.18, 1: 76.86, 2: 72.20}
# Table IV: accuracy (%) softmax vs softmax + MFD, ResNet50.
PAPER_TABLE4 = {"CIFAR-10": (93.25, 93.98), "CIFAR-100": (76.42, 79.18), "Tiny ImageNet": (62.10, 64.06),
                "FaceScrub": (90.56, 94.63)}
# Table VII: one epoch's training time (s), softmax vs softmax + MFD, ResNet50 on a GPU.
PAPER_TABLE7 = {"CIFAR-10": (69, 105), "CIFAR-100": (69, 105), "Tiny ImageNet": (146, 237), "FaceScrub": (23, 38)}

LG_LAMBDAS = (-2, -1, 0, 1, 2)

# The MFD paper's training recipe (Section IV): shared by every protocol.
COMMON = dict(dataset="fashion-mnist", model="resnet18", optimizer="sgd", lr=0.1, momentum=0.9,
              weight_decay=5e-4, batch_size=128, lr_gamma=0.1, augment=True, normalize=True, log_steps=False)
PROTOCOLS = {
    "paper": {
        "mfd": dict(epochs=100, lr_milestones=[30, 60, 90], width=1.0, train_per_class=None, test_per_class=None,
                    seeds=(0, 1, 2)),
        "description": "the paper's recipe (SGD 0.1, momentum 0.9, wd 5e-4, batch 128, 100 epochs, lr/10 at "
                       "30/60/90, pad-4 crop + flip), ResNet18 width 1, full Fashion-MNIST (60,000 / 10,000); "
                       "for a GPU",
    },
    "converged": {
        "mfd": dict(epochs=30, lr_milestones=[12, 20], width=0.25, train_per_class=500, test_per_class=500,
                    augment=True, bn_recal_batches=8, bn_recal_every=2, seeds=(0, 1, 2)),
        "table_seeds": {"compare": (0, 1, 2, 3, 4, 5)},
        "threads": 1,
        "description": "2-core CPU, trained until the curves flatten: the paper's optimiser and augmentation on "
                       "ResNet18 width 1/4, first 500 / 500 images per class (5,000 / 5,000), 30 epochs, lr/10 "
                       "after epochs 12 and 20 (the last 10 at the final rate: the convergence window), BatchNorm-recalibrated tests, paired seeds (6 for the main "
                       "comparison, 3 for the others), one thread",
    },
    "quick": {
        "mfd": dict(memory_format="contiguous", epochs=10, lr_milestones=[6, 9], width=0.25, train_per_class=250, test_per_class=100,
                    augment=False, seeds=(0, 1, 2)),
        "table_seeds": {"compare": (0, 1, 2, 3, 4)},
        "threads": 1,
        # the committed quick results were trained NCHW; pinned so they stay the same runs (see training README)
        "description": "2-core CPU budget: the paper's optimiser on ResNet18 width 1/4, first 250 / 100 images per "
                       "class (2,500 / 1,000), 10 epochs, lr/10 after epochs 6 and 9, no augmentation, one thread; "
                       "5 seeds for softmax and λ = 1, 3 for the other λ",
    },
}
# Which runs each table needs (the λ sweep reuses the compare runs of its seeds).
TABLES = {"compare": dict(lgs=(0,)), "lambda": dict(lgs=LG_LAMBDAS)}
STUDIES = {"compare": "MFD Tables I, III, IV analogues, dead channels, Fig. 4-5 (softmax vs softmax + MFD, λ = 1)",
           "lambda": "MFD Table II analogue: softmax and lg λ in -2 -1 0 1 2"}


def lg_lambda(lam: float) -> int | float:
    """``lg λ``, as an int when it is one (``1.0 -> 0``)."""
    v = math.log10(lam)
    return int(round(v)) if abs(v - round(v)) < 1e-9 else v


def _norm_lg(v):
    return int(v) if float(v).is_integer() else float(v)


def lam_name(lg) -> str:
    """The method part of a run name: ``mfd-lg+0``, ``mfd-lg-1.5``."""
    lg = _norm_lg(lg)
    return f"mfd-lg{lg:+d}" if isinstance(lg, int) else f"mfd-lg{lg:+g}"


def run_name(method: str, seed: int, model: str = "resnet18") -> str:
    return f"{model}-{method}-s{seed}"


def study_lgs(study: str, lgs=None) -> list:
    """The lg λ values of a study (``lgs`` if given)."""
    return [_norm_lg(v) for v in (TABLES[study]["lgs"] if lgs is None else lgs)]


def study_seeds(protocol: str, study: str, seeds=None) -> tuple:
    """The seeds of a study under a protocol (``seeds`` if given)."""
    p = PROTOCOLS[protocol]
    return tuple(p.get("table_seeds", {}).get(study, p["mfd"]["seeds"]) if seeds is None else seeds)


@dataclass
class MFDPlan(StudyOptions):
    """Options of ``python -m experiments mfd plan`` (and ``run``)."""

    study: str = option("compare", "; ".join(f"{k}: {v}" for k, v in STUDIES.items()), choices=tuple(STUDIES))
    out: str = option(OUT, "output directory: results in OUT/results/<group>/mfd/, the report in OUT")
    runs_dir: str = option(RUNS_DIR, "per-run directories (checkpoints) RUNS_DIR/<group>/mfd/<run>")
    lgs: typing.Optional[typing.List[float]] = option(None, "lg λ values (none: the study's; compare: 0, "
                                                      "lambda: -2 -1 0 1 2)")
    width: typing.Optional[float] = option(None, "ResNet18 width multiplier (none: the protocol's)")

    def validate(self):
        super().validate()
        if self.lgs is not None:
            if not self.lgs:
                raise UsageError("--lgs: expected at least one value")
            self.lgs = [check_number("lgs", v, positive=False) for v in self.lgs]
        check_number("width", self.width, none_ok=True)
        return self


MFDRun = with_runtime(MFDPlan, "MFDRun")
MFDRun.__doc__ = "Options of ``python -m experiments mfd run``: the plan's, plus runtime settings."


@dataclass
class MFDReport:
    """Options of ``python -m experiments mfd report``."""

    results: str = option(f"{OUT}/results", "results directory to read (benchmark JSON: RESULTS/bench_mfd*.json)")
    out: str = option(OUT, "directory the report (REPORT.md, figures/) is written to")
    figures: bool = option(True, "draw the figures")

    def validate(self):
        check_report_dirs(self.results, self.out)
        return self
