"""The CS paper's Monte Carlo experiments: objectives, hyper-parameters, published values, seeds, and the
options of ``python -m experiments montecarlo run`` / ``report``.

Source: Belmekki et al., "Feature Map Similarity Reduction in Convolutional Neural Networks", Sections 3.1
and 4.1, Appendix 6.1-6.2.

* Table 1 minimises the kernel similarity ``<K1, K2>²``, feature maps by FULL cross-correlation;
  hyper-parameters in Table 7.
* Tables 2 and 3 (one set of runs) minimise the Convolutional Similarity
  ``Σ_n (K1 ⋆ K2)²[n]`` (eq. 8), FULL feature maps; hyper-parameters in Table 8.
* Table 6 minimises the same objective, feature maps by VALID cross-correlation; Table 9.

The extracted tables' row labels are garbled. The rows are, in order: smallest size Adam, smallest
size SGD, 9 Adam, 9 SGD, 16 Adam, 16 SGD. The smallest size is printed "2" but Section 3.1 speaks of
"N = 3 and Adam", so it is run both as N = 2 and as N = 3 with the same hyper-parameters.

Reading of the hyper-parameter tables (rows in the order above, "lr / iterations"):

====================  =========  =========  =========  =========  ==========  ===========
table                 small Adam small SGD  9 Adam     9 SGD      16 Adam     16 SGD
====================  =========  =========  =========  =========  ==========  ===========
Table 7 (-> Table 1)  0.1 / 250  0.1 / 250  0.1 / 250  0.1 / 250  0.1 / 250   0.1 / 300
Table 8 (-> 2, 3)     0.1 / 300  0.2 / 350  0.1 / 400  0.07 / 550 0.2 / 450   0.035 / 1500
Table 9 (-> Table 6)  0.1 / 300  0.1 / 300  0.1 / 300  0.05 / 400 0.05 / 500  0.01 / 700
====================  =========  =========  =========  =========  ==========  ===========

(Table 7's and Table 9's captions both say "kernel cosine similarity minimization"; Table 9's caption
is evidently copied, it is referenced from Table 6.)
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from experiments.common.cli import UsageError, check_choices, check_int, check_number, check_out_dir, option
from experiments.common.episode_stats import CORRS

M = 64                      #: input length (Section 3.1)
SMALL_SIZES = (2, 3)        #: the two readings of the garbled smallest kernel size
SIZES = ("small", 9, 16)
OPTIMIZERS = ("adam", "sgd")
TABLES = (1, 2, 3, 6)
METRICS = ("sim", "abs", "cos2")
DTYPES = ("float64", "float32")
OUT = "reports/montecarlo"
SCHEMA_VERSION = 2
#: the names of the files a report writes (markdown, the figure) and those a run writes (the results, and the
#: report unless --no-report): an output folder's old files of these names that a new write lacks are dropped
REPORT_FILES = r"(README|REPORT|table\d+|padding_sweep|fixed_norm|cos2_table3)\.md|trajectories\.png"
RUN_FILES = r"(results|table\d+|padding_sweep|fixed_norm|cos2_table3)\.json|" + REPORT_FILES

#: Objective name -> description. "kernel": <K1,K2>²; "cs": Σ_n (K1⋆K2)²[n].
OBJECTIVES = {
    "kernel": "<K1, K2>^2 (kernel similarity, Section 3.1)",
    "cs": "sum_n (K1 * K2)^2[n] (Convolutional Similarity, eq. 8)",
}


@dataclass(frozen=True)
class Experiment:
    """One set of runs: an objective, the feature-map padding it is judged with, its hyper-parameters.

    ``hyper`` maps ``(size, optimizer)`` with ``size`` in ``("small", 9, 16)`` to ``(lr, iterations)``.
    ``seed_code`` enters every configuration's seed, so Tables 2 and 3 (one experiment) share runs and
    a configuration's draw never depends on which tables were requested.
    """

    key: str
    objective: str
    padding: str
    hyper_table: int
    hyper: dict
    seed_code: int
    tables: tuple
    fixed_norm: bool = False      #: each kernel projected back to its initial norm after every step


EXPERIMENTS = {
    "kernel_full": Experiment(
        key="kernel_full", objective="kernel", padding="full", hyper_table=7, seed_code=1, tables=(1,),
        hyper={("small", "adam"): (0.1, 250), ("small", "sgd"): (0.1, 250),
               (9, "adam"): (0.1, 250), (9, "sgd"): (0.1, 250),
               (16, "adam"): (0.1, 250), (16, "sgd"): (0.1, 300)}),
    "cs_full": Experiment(
        key="cs_full", objective="cs", padding="full", hyper_table=8, seed_code=2, tables=(2, 3),
        hyper={("small", "adam"): (0.1, 300), ("small", "sgd"): (0.2, 350),
               (9, "adam"): (0.1, 400), (9, "sgd"): (0.07, 550),
               (16, "adam"): (0.2, 450), (16, "sgd"): (0.035, 1500)}),
    # the fixed-norm control: Tables 2-3's runs (same draws: seed code 2) with the kernels held at their norms
    "cs_fixed_norm": Experiment(
        key="cs_fixed_norm", objective="cs", padding="full", hyper_table=8, seed_code=2, tables=(), fixed_norm=True,
        hyper={("small", "adam"): (0.1, 300), ("small", "sgd"): (0.2, 350),
               (9, "adam"): (0.1, 400), (9, "sgd"): (0.07, 550),
               (16, "adam"): (0.2, 450), (16, "sgd"): (0.035, 1500)}),
    "cs_valid": Experiment(
        key="cs_valid", objective="cs", padding="valid", hyper_table=9, seed_code=6, tables=(6,),
        hyper={("small", "adam"): (0.1, 300), ("small", "sgd"): (0.1, 300),
               (9, "adam"): (0.1, 300), (9, "sgd"): (0.05, 400),
               (16, "adam"): (0.05, 500), (16, "sgd"): (0.01, 700)}),
}

#: Which experiment produces which table.
TABLE_EXPERIMENT = {1: "kernel_full", 2: "cs_full", 3: "cs_full", 6: "cs_valid"}

#: The columns each paper table prints.
TABLE_COLUMNS = {
    1: ("corr_mean", "corr_std", "reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std"),
    2: ("corr_mean", "corr_std"),
    3: ("reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std"),
    6: ("corr_mean", "corr_std", "reduction_freq", "dec_mean", "dec_std", "inc_mean", "inc_std"),
}

TABLE_TITLES = {
    1: "Table 1: minimising kernel similarity <K1,K2>^2; feature maps by full cross-correlation",
    2: "Table 2: minimising Convolutional Similarity; correlation with feature-map similarity (full)",
    3: "Table 3: minimising Convolutional Similarity; reduction of feature-map similarity (full)",
    6: "Table 6: minimising Convolutional Similarity; feature maps by VALID cross-correlation",
}


def _row(*vals):
    return dict(zip(("corr_mean", "corr_std", "reduction_freq", "dec_mean", "dec_std", "inc_mean",
                     "inc_std"), vals))


_N = None
#: Published values per table and row (size, optimizer), exactly as printed (× 10^k expanded).
PAPER = {
    1: {("small", "adam"): _row(0.67, 0.28, 91.8, 92.95, 15.24, 14.12e3, 71.12e3),
        ("small", "sgd"): _row(0.35, 0.85, 67.5, 78.75, 24.71, 13.82e4, 10.60e5),
        (9, "adam"): _row(0.54, 0.33, 82.0, 86.12, 21.14, 17.52e4, 20.85e5),
        (9, "sgd"): _row(0.25, 0.87, 60.7, 67.82, 29.42, 55.76e4, 87.15e5),
        (16, "adam"): _row(0.47, 0.36, 77.6, 81.88, 23.48, 17.10e4, 20.50e5),
        (16, "sgd"): _row(0.54, 0.33, 71.6, 69.84, 28.19, 97.62e2, 74.75e3)},
    2: {("small", "adam"): _row(0.80, 0.27), ("small", "sgd"): _row(0.90, 0.21),
        (9, "adam"): _row(0.78, 0.27), (9, "sgd"): _row(0.85, 0.25),
        (16, "adam"): _row(0.71, 0.30), (16, "sgd"): _row(0.86, 0.25)},
    3: {("small", "adam"): _row(_N, _N, 100.0, 100.0, 0.0, 0.0, 0.0),
        ("small", "sgd"): _row(_N, _N, 100.0, 99.91, 1.28, 0.0, 0.0),
        (9, "adam"): _row(_N, _N, 100.0, 99.98, 0.23, 0.0, 0.0),
        (9, "sgd"): _row(_N, _N, 100.0, 99.68, 3.21, 0.0, 0.0),
        (16, "adam"): _row(_N, _N, 100.0, 99.95, 1.26, 0.0, 0.0),
        (16, "sgd"): _row(_N, _N, 100.0, 99.78, 3.04, 0.0, 0.0)},
    6: {("small", "adam"): _row(0.798, 0.272, 100.0, 99.99, 0.02, 0.0, 0.0),
        ("small", "sgd"): _row(0.90, 0.19, 99.6, 99.86, 1.34, 216.04, 154.33),
        (9, "adam"): _row(0.751, 0.296, 100.0, 99.96, 0.385, 0.0, 0.0),
        (9, "sgd"): _row(0.86, 0.23, 99.5, 99.57, 3.77, 3336.06, 5322.40),
        (16, "adam"): _row(0.77, 0.28, 99.9, 99.80, 2.49, 688.54, 0.0),
        (16, "sgd"): _row(0.851, 0.23, 98.6, 98.68, 8.20, 10.90e4, 40.35e4)},
}
for _t, _rows in PAPER.items():
    for _k, _r in _rows.items():
        PAPER[_t][_k] = {c: _r[c] for c in TABLE_COLUMNS[_t]}


@dataclass(frozen=True)
class Config:
    """One row: experiment, kernel size ``n``, the paper row it stands for, optimiser, lr, iterations."""

    experiment: str
    n: int
    size: object          # "small", 9 or 16: the paper row
    optimizer: str
    lr: float
    iterations: int
    paddings: tuple = field(default=())   # extra paddings measured (padding sweep); () = experiment's

    @property
    def objective(self) -> str:
        return EXPERIMENTS[self.experiment].objective

    @property
    def padding(self) -> str:
        return EXPERIMENTS[self.experiment].padding

    @property
    def label(self) -> str:
        return f"{self.experiment} N={self.n} {self.optimizer}"


def configs_for(experiment: str, small_sizes=SMALL_SIZES, iterations_scale: float = 1.0,
                max_iterations: int | None = None) -> list[Config]:
    """The rows of one experiment in the paper's order, the smallest size expanded into ``small_sizes``."""
    exp = EXPERIMENTS[experiment]
    out = []
    for size in SIZES:
        ns = list(small_sizes) if size == "small" else [size]
        for n in ns:
            for opt in OPTIMIZERS:
                lr, iters = exp.hyper[(size, opt)]
                iters = scaled_iterations(iters, iterations_scale, max_iterations)
                out.append(Config(experiment, int(n), size, opt, lr, iters))
    return out


def scaled_iterations(iters: int, scale: float = 1.0, max_iterations: int | None = None) -> int:
    """``max(1, round(iters·scale))``, capped at ``max_iterations`` (test-time shortening only)."""
    out = max(1, int(round(iters * scale)))
    if max_iterations is not None:
        out = min(out, int(max_iterations))
    return out


def config_seed(seed: int, experiment: str, n: int, optimizer: str, purpose: int = 0) -> np.random.SeedSequence:
    """Deterministic seed of one configuration from ``(seed, experiment/table, n, optimizer)``.

    ``purpose`` 0 draws the episodes, 1 the bootstrap resamples. Independent of which tables are run.
    """
    return np.random.SeedSequence([int(seed), EXPERIMENTS[experiment].seed_code, int(n),
                                   OPTIMIZERS.index(optimizer), int(purpose)])


# ------------------------------------------------------------------------------------------------ options

@dataclass
class RunOptions:
    """Options of ``python -m experiments montecarlo run``."""

    tables: typing.List[int] = option(help="which tables (Tables 2 and 3 are one set of runs)",
                                      factory=lambda: list(TABLES), metavar="K")
    episodes: int = option(1000, "episodes per configuration (row)")
    seed: int = option(0, "base seed; each row is seeded from (seed, experiment, N, optimiser)")
    seeds: typing.Optional[typing.List[int]] = option(None, "run every row once per seed and report each cell as "
                                                      "the across-seed mean ± its standard error (e.g. --seeds 0 1 "
                                                      "2 3 4 5 6 7 8 9); none: --seed alone")
    device: str = option("cpu", "cpu or cuda[:i]")
    dtype: str = option("float64", "dtype of the runs (draws are always made in float64)", choices=DTYPES)
    out: str = option(OUT, "output directory: results (JSON) and, unless --no-report, the report")
    small_n: typing.List[int] = option(help="readings of the garbled smallest kernel size, each its own rows",
                                       factory=lambda: list(SMALL_SIZES), metavar="N")
    metric: str = option("sim", "s_t: sim = <F1,F2>^2, abs = |<F1,F2>|, cos2 = cosine^2", choices=METRICS)
    corr: str = option("pearson", "per-episode correlation of the objective and s_t", choices=CORRS)
    padding_sweep: bool = option(False, "also the Table 6 protocol measured for every P in [0, N-1] and 'same'")
    fixed_norm: bool = option(False, "also the fixed-norm control: Tables 2-3's L_CS runs (same draws) with each "
                              "kernel projected back to its initial norm after every step")
    cos2_section: bool = option(False, "also Table 3 judged with s_t = cos^2(F1, F2) (scale removed), from the same runs")
    bootstrap: int = option(1000, "bootstrap resamples for the 95%% intervals (0: none)")
    iterations_scale: float = option(1.0, "scale every row's iteration count (tests only)")
    max_iterations: typing.Optional[int] = option(None, "cap every row's iteration count (tests only)")
    threads: int = option(1, "torch CPU threads (1 is fastest here: the ops are small)")
    jobs: int = option(1, "with --seeds: worker processes, one seed each at a time (--threads torch threads "
                          "each); the results do not depend on it")
    progress: bool = option(True, "a tqdm progress bar on stderr")
    plot: bool = option(True, "draw trajectories.png")
    report: bool = option(True, "render the report into --out after the results")
    command: typing.Optional[str] = option(None, cli=False)

    def validate(self) -> "RunOptions":
        """Check every option (:class:`UsageError` naming the flag); normalise lists. Returns ``self``."""
        from experiments.common.optim import resolve_device

        if not self.tables:
            raise UsageError(f"--tables: expected at least one of {', '.join(map(str, TABLES))}")
        for t in self.tables:
            if not isinstance(t, int) or isinstance(t, bool) or t not in TABLES:
                raise UsageError(f"--tables: unknown table {t!r}; expected some of {', '.join(map(str, TABLES))}")
        self.tables = sorted(set(self.tables))
        check_int("episodes", self.episodes, 1)
        check_int("seed", self.seed, 0)
        if self.seeds is not None:
            if not self.seeds:
                raise UsageError("--seeds: expected at least one seed")
            self.seeds = [check_int("seeds", v, 0) for v in self.seeds]
            if len(set(self.seeds)) != len(self.seeds):
                raise UsageError(f"--seeds: repeated seeds in {self.seeds}")
        check_choices("dtype", [self.dtype], DTYPES)
        resolve_device(self.device)
        if not self.small_n:
            raise UsageError("--small-n: expected at least one kernel size")
        self.small_n = list(dict.fromkeys(check_int("small_n", n, 1, M) for n in self.small_n))
        check_choices("metric", [self.metric], METRICS)
        check_choices("corr", [self.corr], CORRS)
        check_int("bootstrap", self.bootstrap, 0)
        check_number("iterations_scale", self.iterations_scale)
        check_int("max_iterations", self.max_iterations, 1, none_ok=True)
        check_int("threads", self.threads, 1)
        check_int("jobs", self.jobs, 1)
        check_out_dir("out", self.out)
        return self                               # the memory estimate: checked by ``run`` before any work


@dataclass
class ReportOptions:
    """Options of ``python -m experiments montecarlo report``."""

    results: str = option(OUT, "results directory written by `montecarlo run` (holds results.json)")
    out: str = option(OUT, "directory the report (markdown, README.md, trajectories.png) is written to")
    plot: bool = option(True, "draw trajectories.png")

    def validate(self) -> "ReportOptions":
        if not (Path(self.results) / "results.json").is_file():
            raise UsageError(f"--results: {self.results!r} holds no results.json (run `python -m experiments "
                             "montecarlo run` first)")
        check_out_dir("out", self.out)
        return self
