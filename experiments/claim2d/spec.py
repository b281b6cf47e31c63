"""The 2-D Monte Carlo of the CS paper's central claim: the grid, seeds, and the options of
``python -m experiments claim2d run`` / ``report``.

The claim (Belmekki et al., Section 3.1, Table 1): making kernels orthogonal does not make their feature
maps orthogonal, while minimising the Convolutional Similarity L_CS (eq. 10) reduces the feature maps'
similarity. Here in the setting CNNs use: k×k kernels, C input channels, S kernels per layer, inputs
U(0, 1) and real images, paddings full / same / valid; kernels initialised U(-1, 1) as in Section 3.1.

Seeds form a paired design: the inputs of every run with C channels come from ``(seed, C)``, the initial
kernels of every objective with ``(C, k, S)`` from ``(seed, C, k, S)``, so differences between objectives,
paddings and input kinds are not sampling noise between draws.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.common.cli import UsageError, check_choices, check_int, check_number, check_out_dir, option

from . import data as dt
from .objectives import OBJECTIVES

__all__ = ["PADDINGS", "SCHEMA_VERSION", "SEED_CODE", "OUT", "input_seed", "kernel_seed", "draw_kernels",
           "RunOptions", "ReportOptions", "options_block"]

PADDINGS = ("full", "same", "valid")
SCHEMA_VERSION = 1
SEED_CODE = 0xC2D
OUT = "reports/claim2d"
#: the names of the files a report writes and those a run writes (see ``experiments.montecarlo.spec``)
REPORT_FILES = r"(REPORT|C\d+_k\d+)\.md|cos_before_after\.png"
RUN_FILES = r"(summary|C\d+_k\d+)\.json|" + REPORT_FILES
DTYPE = "float64"       #: fixed: exactness and the Gram subtractions want float64


def input_seed(seed: int, c: int) -> np.random.SeedSequence:
    """Inputs of every run with ``C = c`` channels (shared by all k, S and objectives: a paired design)."""
    return np.random.SeedSequence([int(seed), SEED_CODE, 0, int(c)])


def kernel_seed(seed: int, c: int, k: int, s: int) -> np.random.SeedSequence:
    """Initial kernels of every objective with ``(C, k, S)``."""
    return np.random.SeedSequence([int(seed), SEED_CODE, 1, int(c), int(k), int(s)])


def draw_kernels(seed_seq: np.random.SeedSequence, episodes: int, s: int, c: int, k: int) -> np.ndarray:
    """``(E, S, C, k, k)`` ~ U(-1, 1) (the CS paper's kernel distribution), episode by episode."""
    return np.random.default_rng(seed_seq).uniform(-1.0, 1.0, size=(episodes, s, c, k, k))


def _ints(name: str, values, lo: int, hi: int) -> list[int]:
    if not values:
        raise UsageError(f"--{name.replace('_', '-')}: expected at least one value")
    return list(dict.fromkeys(check_int(name, v, lo, hi) for v in values))


@dataclass
class RunOptions:
    """Options of ``python -m experiments claim2d run``."""

    episodes: int = option(1000, "episodes per (C, k, S, objective) cell")
    seed: int = option(0, "base seed (inputs from (seed, C), kernels from (seed, C, k, S))")
    iterations: int = option(300, "Adam steps")
    lr: float = option(0.03, "Adam learning rate")
    record_every: int = option(5, "record the feature-map similarity every R steps and at T", metavar="R")
    kernel_sizes: typing.List[int] = option(help="square kernel sizes k", factory=lambda: [3, 5], metavar="K")
    channels: typing.List[int] = option(help="input channels: 1 (grey, Fashion-MNIST) and/or 3 (RGB photographs)",
                                        factory=lambda: [1, 3], metavar="C")
    kernels: typing.List[int] = option(help="numbers of kernels S >= 2", factory=lambda: [2, 8], metavar="S")
    objectives: typing.List[str] = option(help="objectives minimised, each alone", factory=lambda: list(OBJECTIVES),
                                          choices=tuple(OBJECTIVES))
    inputs: typing.List[str] = option(help="input kinds", factory=lambda: list(dt.INPUT_KINDS),
                                      choices=dt.INPUT_KINDS)
    paddings: typing.List[str] = option(help="paddings the feature maps are measured with",
                                        factory=lambda: list(PADDINGS), choices=PADDINGS)
    bootstrap: int = option(1000, "bootstrap resamples for the 95%% intervals (0: none)")
    out: str = option(OUT, "output directory: results (JSON) and, unless --no-report, the report")
    device: str = option("cpu", "cpu or cuda[:i]")
    threads: int = option(1, "torch CPU threads")
    data_root: typing.Optional[str] = option(
        None, "directory of the Fashion-MNIST IDX files (none: $FASHION_MNIST_DIR or "
              "/usr/share/datasets/fashion-mnist)", metavar="DIR")
    progress: bool = option(True, "a tqdm progress bar on stderr")
    plot: bool = option(True, "draw cos_before_after.png")
    report: bool = option(True, "render the report into --out after the results")
    command: typing.Optional[str] = option(None, cli=False)

    def validate(self) -> "RunOptions":
        """Check every option (:class:`UsageError` naming the flag); normalise lists. Returns ``self``."""
        from experiments.common.optim import resolve_device

        check_int("episodes", self.episodes, 1)
        check_int("seed", self.seed, 0)
        check_int("iterations", self.iterations, 1)
        check_number("lr", self.lr)
        check_int("record_every", self.record_every, 1)              # > iterations: record t = 0 and T only
        self.channels = _ints("channels", self.channels, 1, max(dt.CHANNELS))
        for c in self.channels:
            if c not in dt.CHANNELS:
                raise UsageError(f"--channels: expected 1 (grey, Fashion-MNIST) and/or 3 (RGB photographs), got {c}")
        self.kernel_sizes = _ints("kernel_sizes", self.kernel_sizes, 1, min(min(dt.input_hw(c)) for c in dt.CHANNELS))
        self.kernels = _ints("kernels", self.kernels, 2, 64)
        self.objectives = check_choices("objectives", self.objectives, tuple(OBJECTIVES))
        self.inputs = check_choices("inputs", self.inputs, dt.INPUT_KINDS)
        self.paddings = check_choices("paddings", self.paddings, PADDINGS)
        check_int("bootstrap", self.bootstrap, 0)
        check_int("threads", self.threads, 1)
        resolve_device(self.device)
        check_out_dir("out", self.out)
        return self                               # the memory estimate: checked by ``run`` before any work

    def check_data(self) -> None:
        """The image inputs can be read (:class:`UsageError` naming ``--data-root`` otherwise); ``run`` calls it
        before any work, ``--print-config`` does not need the data."""
        if not any(k in ("image", "image_std") for k in self.inputs):
            return
        if 1 in self.channels:
            try:
                dt.fashion_mnist_images(self.data_root)
            except (FileNotFoundError, ValueError) as exc:
                raise UsageError(f"--data-root: the grey image inputs (C = 1) need Fashion-MNIST: {exc}") from None
        if 3 in self.channels:
            try:
                dt.rgb_images()
            except ImportError as exc:
                raise UsageError(f"--channels 3: the RGB image inputs need scikit-image: {exc}") from None


@dataclass
class ReportOptions:
    """Options of ``python -m experiments claim2d report``."""

    results: str = option(OUT, "results directory written by `claim2d run` (holds summary.json)")
    out: str = option(OUT, "directory the report (REPORT.md, C*_k*.md, cos_before_after.png) is written to")
    plot: bool = option(True, "draw cos_before_after.png")

    def validate(self) -> "ReportOptions":
        if not (Path(self.results) / "summary.json").is_file():
            raise UsageError(f"--results: {self.results!r} holds no summary.json (run `python -m experiments "
                             "claim2d run` first)")
        check_out_dir("out", self.out)
        return self


def options_block(o: RunOptions) -> dict:
    """The options a results document records (everything that changes its numbers)."""
    return {"episodes": o.episodes, "iterations": o.iterations, "lr": o.lr, "optimizer": "adam",
            "adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
            "record_every": o.record_every, "kernel_sizes": o.kernel_sizes, "channels": o.channels,
            "kernels": o.kernels, "objectives": o.objectives, "inputs": o.inputs, "paddings": o.paddings,
            "bootstrap": o.bootstrap, "kernel_init": "U(-1, 1)", "input_sizes": {str(c): list(dt.input_hw(c))
                                                                                  for c in o.channels}}
