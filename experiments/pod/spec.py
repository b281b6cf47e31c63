"""The POD paper's experiments (Zhu & Zu): softmax vs Cosine loss (eq. 13) vs POD loss (eq. 16) with a fixed
PEDCC classification layer, and the classifiers on the learned latent features: the paper's numbers,
protocols, the runs each table needs and the options of the ``pod`` verbs.

**Protocols** (:data:`PROTOCOLS`): the POD paper's recipe (SGD 0.1, momentum 0.9, wd 5e-4, batch 128, 100
epochs, lr/10 at 30/60/90, pad-4 crop + flip; ResNet50 there, ResNet18 here) in ``paper``, for a GPU; scaled
for a 2-core CPU in ``quick`` (ResNet18 width 1/4, 250 / 100 images per class, 10 epochs, lr/10 after
epochs 6 and 9, no augmentation, one thread). ``n = 256`` for 10 classes (the paper's Table II choice for
CIFAR-10). The tables share runs: the POD runs at ``n = 256`` serve Tables V, VI, VII and I.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass

from experiments.common.cli import UsageError, check_int, check_milestones, check_number, check_report_dirs, option
from experiments.training.runs import StudyOptions, with_runtime

__all__ = ["PAPER_TABLE1", "PAPER_TABLE5", "PAPER_TABLE6", "PAPER_TABLE7", "METHODS", "DIMS", "COMMON", "PROTOCOLS",
           "TABLES", "STUDIES", "EXPERIMENT", "GDA_SHRINK", "method_of", "run_name", "study_variants", "study_seeds",
           "expected_names", "PODPlan", "PODRun",
           "PODReport", "OUT", "RUNS_DIR"]

OUT = "reports/pod"
RUNS_DIR = "runs/pod"
EXPERIMENT = "pod"
GDA_SHRINK = 0.1             #: covariance shrinkage of the Gaussian discriminant (Table VII analogue)

# ----------------------------------------------------------------------------------- the paper's numbers
# Table I: accuracy (%) vs feature dimension n, POD loss, ResNet50, CIFAR-10.
PAPER_TABLE1 = {9: 92.71, 32: 93.51, 64: 93.77, 128: 93.98, 256: 94.31, 512: 94.25, 1024: 93.82}
# Table V: Cosine loss vs POD loss (%).
PAPER_TABLE5 = {"CIFAR-10": (93.83, 94.31), "CIFAR-100": (76.23, 77.70), "Tiny ImageNet": (62.01, 62.16),
                "FaceScrub": (92.11, 93.01)}
# Table VI: Softmax vs POD loss (%) (ImageNet subsets omitted).
PAPER_TABLE6 = {"CIFAR-10": (93.71, 94.31), "CIFAR-100": (75.56, 77.70), "Tiny ImageNet": (60.29, 62.16),
                "FaceScrub": (89.10, 93.01)}
# Table VII: POD-trained features, cosine-distance vs Gaussian discriminant classification (%).
PAPER_TABLE7 = {"CIFAR-10": (94.31, 94.23), "CIFAR-100": (77.70, 73.37), "Tiny ImageNet": (62.16, 50.09)}

METHODS = {"softmax": dict(head="softmax", loss="ce"), "cosine": dict(head="pedcc", loss="cosine"),
           "pod": dict(head="pedcc", loss="pod")}
DIMS = (9, 32, 128, 512)          # Table I analogue: added to the n = 256 runs

# The POD paper's training recipe (Section IV), shared by every protocol.
COMMON = dict(dataset="fashion-mnist", model="resnet18", optimizer="sgd", lr=0.1, momentum=0.9,
              weight_decay=5e-4, batch_size=128, lr_gamma=0.1, augment=True, normalize=True, log_steps=False)
PROTOCOLS = {
    "paper": {
        "pod": dict(epochs=100, lr_milestones=[30, 60, 90], width=1.0, train_per_class=None, test_per_class=None,
                    seeds=(0, 1, 2)),
        "description": "the paper's recipe (SGD 0.1, momentum 0.9, wd 5e-4, batch 128, 100 epochs, lr/10 at "
                       "30/60/90, pad-4 crop + flip), ResNet18 width 1, full Fashion-MNIST; for a GPU",
    },
    "converged": {
        "pod": dict(epochs=30, lr_milestones=[12, 20], width=0.25, train_per_class=500, test_per_class=500,
                    augment=True, bn_recal_batches=8, bn_recal_every=2, seeds=(0, 1, 2)),
        "table_seeds": {"table6": (0, 1, 2, 3, 4, 5), "table5": (0, 1, 2, 3, 4, 5)},
        "threads": 1,
        "description": "2-core CPU, trained until the curves flatten: the paper's optimiser and augmentation on "
                       "ResNet18 width 1/4, first 500 / 500 images per class (5,000 / 5,000), 30 epochs, lr/10 "
                       "after epochs 12 and 20 (the last 10 at the final rate: the convergence window), BatchNorm-recalibrated tests, paired seeds (6 for the main "
                       "comparison, 3 for the others), one thread",
    },
    "quick": {
        "pod": dict(memory_format="contiguous", epochs=10, lr_milestones=[6, 9], width=0.25, train_per_class=250, test_per_class=100,
                    augment=False, seeds=(0, 1, 2)),
        "table_seeds": {"table6": (0, 1, 2, 3, 4), "table5": (0, 1, 2, 3, 4)},
        "threads": 1,
        # the committed quick results were trained NCHW; pinned so they stay the same runs (see training README)
        "description": "2-core CPU budget: the paper's optimiser on ResNet18 width 1/4, first 250 / 100 images per "
                       "class (2,500 / 1,000), 10 epochs, lr/10 after epochs 6 and 9, no augmentation, one thread; "
                       "5 seeds for Tables V-VII, 3 for the other dimensions of Table I",
    },
}
# Which runs each table needs (shared runs are trained once).
TABLES = {"table6": dict(methods=("softmax", "pod"), dims=(256,)),
          "table5": dict(methods=("cosine", "pod"), dims=(256,)),
          "dims": dict(methods=("pod",), dims=(*DIMS, 256))}
STUDIES = {"table6": "POD Table VI (softmax vs POD) and Table VII (cosine vs Gaussian discriminant) analogues",
           "table5": "POD Table V analogue: Cosine loss only vs POD loss",
           "dims": "POD Table I analogue: POD loss at several latent feature dimensions n"}


def method_of(cfg: dict) -> str:
    """``softmax``, ``cosine`` or ``pod`` from a run's config."""
    return "softmax" if cfg.get("head", "softmax") == "softmax" else cfg["loss"]


def run_name(variant: str, seed: int) -> str:
    """``resnet18-<variant>-s<seed>``; variants ``softmax``, ``cosine-n256``, ``pod-n9``, ..."""
    return f"resnet18-{variant}-s{seed}"


def study_variants(study: str, dims=None) -> list[tuple[str, str, int | None]]:
    """``(method, variant, n)`` of a study: softmax once, the PEDCC methods at each ``n`` in ``dims``
    (default: the study's)."""
    dims = TABLES[study]["dims"] if dims is None else dims
    return [(m, "softmax", None) if m == "softmax" else (m, f"{m}-n{int(n)}", int(n))
            for m in TABLES[study]["methods"] for n in ((None,) if m == "softmax" else dims)]


def study_seeds(protocol: str, study: str, seeds=None) -> tuple:
    """The seeds of a study under a protocol (``seeds`` if given)."""
    p = PROTOCOLS[protocol]
    return tuple(p.get("table_seeds", {}).get(study, p["pod"]["seeds"]) if seeds is None else seeds)


def expected_names(protocol: str, study: str, seeds=None) -> list[str]:
    """Names of the runs a study needs, in plan order."""
    return [run_name(v, s) for _, v, _ in study_variants(study) for s in study_seeds(protocol, study, seeds)]


@dataclass
class PODPlan(StudyOptions):
    """Options of ``python -m experiments pod plan`` (and ``run``)."""

    study: str = option("table6", "; ".join(f"{k}: {v}" for k, v in STUDIES.items()), choices=tuple(STUDIES))
    out: str = option(OUT, "output directory: results in OUT/results/<group>/pod/, the report in OUT")
    runs_dir: str = option(RUNS_DIR, "per-run directories (checkpoints) RUNS_DIR/<group>/pod/<run>")
    dims: typing.Optional[typing.List[int]] = option(None, "latent feature dimensions n (none: the study's; "
                                                     "table6, table5: 256; dims: 9 32 128 512 256)")
    pod_lambda: typing.Optional[float] = option(None, "λ of POD eq. 16 (none: 1)")
    width: typing.Optional[float] = option(None, "ResNet18 width multiplier (none: the protocol's)")
    lr_milestones: typing.Optional[typing.List[int]] = option(
        None, "epochs after which lr *= 0.1 (none: the protocol's; other values need a --tag, e.g. with --epochs "
        "60 --lr-milestones 24 40 --tag long: twice the converged schedule)")

    def validate(self):
        super().validate()
        if self.dims is not None:
            if not self.dims:
                raise UsageError("--dims: expected at least one value")
            self.dims = [check_int("dims", n, 1) for n in self.dims]
        check_number("pod_lambda", self.pod_lambda, positive=False, none_ok=True)
        if self.pod_lambda is not None and self.pod_lambda < 0:
            raise UsageError(f"--pod-lambda: expected >= 0, got {self.pod_lambda}")
        check_number("width", self.width, none_ok=True)
        self.lr_milestones = check_milestones("lr_milestones", self.lr_milestones)
        return self


PODRun = with_runtime(PODPlan, "PODRun")
PODRun.__doc__ = "Options of ``python -m experiments pod run``: the plan's, plus runtime settings."


@dataclass
class PODReport:
    """Options of ``python -m experiments pod report``."""

    results: str = option(f"{OUT}/results", "results directory to read")
    out: str = option(OUT, "directory the report (REPORT.md, figures/) is written to")
    figures: bool = option(True, "draw the figures")

    def validate(self):
        check_report_dirs(self.results, self.out)
        return self
