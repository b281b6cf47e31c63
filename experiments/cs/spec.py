"""The CS paper's CNN experiments (Belmekki et al., Section 4.2 Table 5 / Figures 1-3, Section 4.3 Figure 5):
protocols, the paper's numbers, method labels and the options of the ``cs`` verbs.

Section 4.2: CNN1 and CNN2 (Table 4) trained with SGD lr 0.01 (no momentum is mentioned: 0), batch 512,
cross-entropy, 100 epochs; three methods:

* ``baseline``: no CS term;
* ``alg1``: Algorithm 1, ``I = 500`` Adam steps (lr 1e-3) on L_CS (eq. 10 summed over the conv layers)
  before training;
* ``alg2``: Algorithm 2, loss ``L_task + β·L_CS`` at every step, ``β = 0.001``.

The paper used CIFAR-10 (no augmentation or normalisation is stated; we use per-channel normalisation and
no augmentation). Here the data is **Fashion-MNIST**, 1x28x28, so the CNNs have 117,706 / 456,586
parameters (the Linear stays 576 / 1152 wide).

Section 4.3 (Figure 5): ResNet18, ``I ∈ {0, 10, 20, 40, ..., 200}``, then 50 epochs of SGD lr 0.01, batch 64.

Protocols (:data:`PROTOCOLS`): ``paper`` — the paper's settings on the full data (60k / 10k), for a GPU;
``quick`` — a 2-core CPU budget: per-class subsets, a few epochs, ``I = 500`` kept (Algorithm 1 touches no
data and costs seconds), Figure 5 on a narrow ResNet18 (width 1/4); one thread (on a shared 2-core machine a
2-thread OpenMP region waits for a descheduled thread at every small L_CS op).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from experiments.common.cli import (UsageError, check_choices, check_int, check_milestones, check_number,
                                   check_report_dirs, option)
from experiments.training.runs import StudyOptions, with_runtime

__all__ = ["PAPER_TABLE5", "METHODS", "METHOD_LABELS", "ARMS", "ARM_LABELS", "CONVERGED_ARMS", "MODEL_LABELS", "FIG5_ITERS", "TABLE5_COMMON", "FIG5_COMMON",
           "PROTOCOLS", "STUDIES", "CSPlan", "CSRun", "CSReport", "OUT", "RUNS_DIR"]

OUT = "reports/cs"
RUNS_DIR = "runs/cs"

# CS paper Table 5: top test accuracy (%) on CIFAR-10, 100 epochs, one number each (no seeds reported).
PAPER_TABLE5 = {
    ("cnn1", "baseline"): 74.66, ("cnn1", "alg1"): 79.16, ("cnn1", "alg2"): 77.16,
    ("cnn2", "baseline"): 76.87, ("cnn2", "alg1"): 82.33, ("cnn2", "alg2"): 80.00,
}
METHODS = {
    "baseline": {},
    "alg1": {"cs_init_iters": 500},
    "alg2": {"cs_beta": 0.001},
}
METHOD_LABELS = {"baseline": "baseline", "alg1": "Algorithm 1 (I = 500)", "alg2": "Algorithm 2 (β = 0.001)"}
_CONTROLS = {
    "rescale": {"cs_init_iters": 500, "cs_init_apply": "norms"},
    "directions": {"cs_init_iters": 500, "cs_init_apply": "directions"},
    "alg1n": {"cs_init_iters": 500, "cs_init_objective": "normalized"},
}
_PLAIN = {**METHODS, **_CONTROLS}
#: the arms of the converged protocol: the methods, the controls, each also with SGD momentum 0.9, and the
#: baseline under bf16 autocast (the precision check)
ARMS = {**_PLAIN, **{f"{k}-m": {**v, "momentum": 0.9} for k, v in _PLAIN.items()}, "bf16": {"precision": "bf16"}}
_ARM_WORDS = {
    "baseline": "baseline", "alg1": "Algorithm 1 (I = 500)", "alg2": "Algorithm 2 (β = 0.001)",
    "rescale": "rescale control (initial kernels at Algorithm 1's per-layer norms)",
    "directions": "directions only (Algorithm 1's kernels at the initial per-layer norms)",
    "alg1n": "Algorithm 1 on the scale-invariant L_CS",
}
ARM_LABELS = {**_ARM_WORDS, **{f"{k}-m": f"{v}, momentum 0.9" for k, v in _ARM_WORDS.items()},
              "bf16": "baseline, bf16 autocast"}
#: (model, arm) pairs of the converged Table 5 design: every arm on CNN1; CNN2's baseline and Algorithm 1
CONVERGED_ARMS = tuple([("cnn1", a) for a in ARMS] + [("cnn2", "baseline"), ("cnn2", "alg1")])
MODEL_LABELS = {"cnn1": "CNN1", "cnn2": "CNN2", "resnet18": "ResNet18"}
FIG5_ITERS = (0, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200)

# Settings shared by every protocol of a study (Section 4.2 / 4.3).
TABLE5_COMMON = dict(dataset="fashion-mnist", optimizer="sgd", lr=0.01, momentum=0.0, batch_size=512,
                     weight_decay=0.0, augment=False, normalize=True, cs_init_lr=1e-3)
FIG5_COMMON = dict(dataset="fashion-mnist", model="resnet18", optimizer="sgd", lr=0.01, momentum=0.0,
                   batch_size=64, weight_decay=0.0, augment=False, normalize=True, cs_init_lr=1e-3)

PROTOCOLS = {
    "paper": {
        "table5": dict(epochs=100, train_per_class=None, test_per_class=None, seeds=(0, 1, 2)),
        "fig5": dict(epochs=50, train_per_class=None, test_per_class=None, width=1.0, seeds=(0,)),
        "description": "the paper's settings, full Fashion-MNIST (60,000 train / 10,000 test); for a GPU",
    },
    "converged": {
        # the committed runs were trained in Table 4's block order; pinned so a re-run is the same run, bit for bit
        "table5": dict(width=0.5, epochs=60, train_per_class=500, test_per_class=500, bn_recal_batches=4,
                       bn_recal_every=2, seeds=(0, 1, 2), arms=CONVERGED_ARMS, pool_first=False),
        "fig5": dict(width=0.25, epochs=30, train_per_class=500, test_per_class=500, bn_recal_batches=8,
                     bn_recal_every=2, seeds=(0, 1, 2), iters=(0, 10, 50, 200), rescale_iters=(50, 200)),
        "threads": 1,
        "description": "2-core CPU, trained until the baseline's test accuracy has flattened: first 500 / 500 "
                       "images per class, half-width CNNs (CNN1 32, CNN2 64 channels), SGD as in the paper, "
                       "BatchNorm-recalibrated tests, paired seeds (same initial weights and data order in every "
                       "arm of a seed), the controls of Algorithm 1",
    },
    "quick": {
        "table5": dict(memory_format="contiguous", pool_first=False, epochs=5, train_per_class=200,
                       test_per_class=100, seeds=(0, 1, 2)),
        "fig5": dict(memory_format="contiguous", epochs=4, train_per_class=300, test_per_class=100, width=0.25, seeds=(0, 1)),
        "threads": 1,
        # the committed quick results were trained NCHW in Table 4's block order; pinned so they stay the same runs
        "description": "2-core CPU budget: per-class subsets (first n per class in file order), few epochs",
    },
}
STUDIES = {"table5": "Table 5 + Figures 1-3 analogue: CNN1, CNN2 x baseline / Algorithm 1 / Algorithm 2",
           "fig5": "Figure 5 analogue: ResNet18 top test accuracy vs Algorithm 1's I"}
_TABLE5_ONLY = ("models", "methods", "init_iters", "beta")
_FIG5_ONLY = ("iters", "width", "lr_milestones")


@dataclass
class CSPlan(StudyOptions):
    """Options of ``python -m experiments cs plan`` (and ``run``)."""

    study: str = option("table5", "; ".join(f"{k}: {v}" for k, v in STUDIES.items()), choices=tuple(STUDIES))
    out: str = option(OUT, "output directory: results in OUT/results/<group>/<study>/, the report in OUT")
    runs_dir: str = option(RUNS_DIR, "per-run directories (checkpoints) RUNS_DIR/<group>/<study>/<run>")
    models: typing.List[str] = option(help="table5: networks", factory=lambda: ["cnn1", "cnn2"],
                                      choices=("cnn1", "cnn2"))
    methods: typing.Optional[typing.List[str]] = option(None, "table5: methods (none: the protocol's; the quick and "
                                                        "paper protocols know " + ", ".join(METHODS) + ")",
                                                        choices=tuple(ARMS))
    init_iters: typing.Optional[int] = option(None, "table5: Algorithm 1's I (none: 500)")
    beta: typing.Optional[float] = option(None, "table5: Algorithm 2's beta (none: 0.001)")
    iters: typing.Optional[typing.List[int]] = option(None, "fig5: the values of I (none: the protocol's; quick "
                                                      "and paper: " + ", ".join(map(str, FIG5_ITERS)) + ")")
    width: typing.Optional[float] = option(None, "fig5: ResNet18 width multiplier (none: the protocol's)")
    lr_milestones: typing.Optional[typing.List[int]] = option(
        None, "fig5: epochs after which lr *= 0.1 (none: the protocol's, which keep the paper's constant lr; "
        "other values need a --tag, e.g. --tag step)")

    def validate(self):
        super().validate()
        only = _TABLE5_ONLY if self.study == "fig5" else _FIG5_ONLY
        defaults = CSPlan()
        for name in only:
            if getattr(self, name) != getattr(defaults, name):
                raise UsageError(f"--{name.replace('_', '-')}: only with --study "
                                 f"{'table5' if self.study == 'fig5' else 'fig5'}")
        self.models = check_choices("models", self.models, ("cnn1", "cnn2"))
        if self.methods is not None:
            known = ARMS if "arms" in PROTOCOLS.get(self.protocol, {}).get("table5", {}) else METHODS
            self.methods = check_choices("methods", self.methods, tuple(known))
        check_int("init_iters", self.init_iters, 0, none_ok=True)
        if check_number("beta", self.beta, positive=False, none_ok=True) is not None and self.beta < 0:
            raise UsageError(f"--beta: expected a finite number >= 0, got {self.beta!r}")
        if self.iters is not None:
            if not self.iters:
                raise UsageError("--iters: expected at least one value")
            self.iters = [check_int("iters", i, 0) for i in self.iters]
        check_number("width", self.width, none_ok=True)
        self.lr_milestones = check_milestones("lr_milestones", self.lr_milestones)
        return self


CSRun = with_runtime(CSPlan, "CSRun")
CSRun.__doc__ = "Options of ``python -m experiments cs run``: the plan's, plus runtime settings."


@dataclass
class CSReport:
    """Options of ``python -m experiments cs report``."""

    results: str = option(f"{OUT}/results", "results directory to read")
    out: str = option(OUT, "directory the report (REPORT.md, figures/) is written to")
    figures: bool = option(True, "draw the figures")

    def validate(self):
        check_report_dirs(self.results, self.out)
        return self
