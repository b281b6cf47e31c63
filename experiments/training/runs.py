"""Plans of training runs: the training use of :class:`experiments.common.plan.Plan`.

A study (CS Table 5, MFD Table II, ...) is a list of :class:`Run` (group, experiment, :class:`TrainConfig`).
:func:`run_plan` skips the runs whose result file exists (:func:`experiments.training.results.result_path`),
resumes the ones with a checkpoint under ``<runs_dir>/<group>/<experiment>/<run>`` and trains the rest; each
record is saved as soon as it exists, its per-step log thinned (:func:`thin_steps`). ``execute`` hooks
(:func:`executor`) may measure the trained model before the save (MFD, POD).

A saved result is "the same run" only when every field that changes its numbers matches
(:func:`identity`: all fields but paths, device, threads and progress). Otherwise the plan stops before any
work with a :class:`~experiments.common.cli.UsageError` naming the differing fields; the same holds for a
run directory holding another run.

The shared options of every study's ``plan`` / ``run`` verbs are :class:`StudyOptions` and
:data:`RUNTIME_FIELDS` (:func:`with_runtime`).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import typing
from dataclasses import dataclass
from pathlib import Path

from experiments.common.cli import UsageError, check_int, check_out_dir, option
from experiments.common.io import read_json, save_arrays, write_json_atomic
from experiments.common.plan import Plan, identity_diff

from .engine import TrainConfig, Trainer, load_split
from .losses import threads as scoped_threads
from .results import arrays_path, result_path

__all__ = ["NOT_IDENTITY", "identity", "Run", "make_run", "group_name", "thin_steps", "executor", "TrainPlan",
           "run_plan", "plan_lines", "check_data", "StudyOptions", "RUNTIME_FIELDS", "with_runtime",
           "protocol_fields", "PROTOCOL_CHOICES"]

#: TrainConfig fields that do not change a run's numbers: a result may differ from the plan in these only.
NOT_IDENTITY = ("out_dir", "data_root", "device", "progress", "threads")
PROTOCOL_CHOICES = ("quick", "paper")


def identity(config) -> dict:
    """The fields of a config that change the run's numbers.

    Parameters
    ----------
    config : TrainConfig or dict
        A config, or the ``"config"`` of a saved result.

    Returns
    -------
    dict
        Every field but :data:`NOT_IDENTITY` (paths, device, threads, progress).

    Examples
    --------
    >>> sorted(set(TrainConfig().to_dict()) - set(identity(TrainConfig())))
    ['data_root', 'device', 'out_dir', 'progress', 'threads']
    """
    d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    return {k: v for k, v in d.items() if k not in NOT_IDENTITY}


@dataclass(frozen=True)
class Run:
    """One run of a plan: its result goes to ``<results>/<group>/<experiment>/<config.name>.json``."""
    group: str
    experiment: str
    config: TrainConfig

    @property
    def name(self) -> str:
        return self.config.name


def group_name(protocol: str, tag: str | None) -> str:
    """``<protocol>`` or ``<protocol>-<tag>``."""
    return f"{protocol}-{tag}" if tag else protocol


def make_run(config_cls, *, group: str, experiment: str, name: str, runs_dir, **fields) -> Run:
    """A :class:`Run` of ``config_cls(name=name, **fields)`` living in ``<runs_dir>/<group>/<experiment>/<name>``.

    Examples
    --------
    >>> r = make_run(TrainConfig, group="quick", experiment="table5", name="a", runs_dir="runs/cs", epochs=2)
    >>> r.name, r.config.out_dir, r.config.epochs
    ('a', 'runs/cs/quick/table5/a', 2)
    """
    out_dir = str(Path(runs_dir) / group / experiment / name)
    return Run(group, experiment, config_cls(name=name, out_dir=out_dir, **fields))


def protocol_fields(protocols: dict, protocol: str, study: str, overrides: dict, seeds=None, table=None):
    """``(fields, seeds)`` of one study of a protocol: its fields updated by the non-None ``overrides``, and
    ``seeds`` (default: the protocol's ``table_seeds[table]``, else the study's ``seeds``)."""
    if protocol not in protocols:
        raise UsageError(f"--protocol: expected one of {', '.join(protocols)}, got {protocol!r}")
    p = dict(protocols[protocol][study])
    default = protocols[protocol].get("table_seeds", {}).get(table, p.pop("seeds"))
    p.update({k: v for k, v in overrides.items() if v is not None})
    return p, tuple(default if seeds is None else seeds)


def thin_steps(rec: dict, max_points: int = 2000) -> dict:
    """Copy of a record with its per-step log thinned to at most ``max_points`` (keeps result files small).

    Examples
    --------
    >>> r = thin_steps({"steps": {"task_loss": [0.0] * 5000}})
    >>> len(r["steps"]["task_loss"]), r["steps"]["step"][:2]
    (1666, [3, 6])
    """
    steps = rec.get("steps")
    if not steps or not steps.get("task_loss"):
        return rec
    n = len(steps["task_loss"])
    k = max(1, math.ceil(n / max_points))
    if k == 1:
        return {**rec, "steps": {**steps, "step": list(range(1, n + 1))}}
    idx = list(range(k - 1, n, k))
    return {**rec, "steps": {"step": [i + 1 for i in idx], **{key: [v[i] for i in idx] for key, v in steps.items()}}}


def _diff_text(diff: dict) -> str:
    return "; ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())


def _check_run_dir(cfg: TrainConfig) -> None:
    p = Path(cfg.out_dir) / "config.json"
    if p.is_file():
        diff = identity_diff(identity(read_json(p)), identity(cfg))
        if diff:
            raise UsageError(f"--runs-dir: {cfg.out_dir} holds a run with other settings ({_diff_text(diff)}); "
                             "give these runs a --tag or another --runs-dir")


def executor(trainer_cls: type = Trainer, measure: typing.Callable | None = None) -> typing.Callable:
    """The ``execute(run, dest) -> record`` hook of a plan.

    Parameters
    ----------
    trainer_cls : type
        Trains (or resumes, or reloads a finished run from its directory) each run.
    measure : callable, optional
        ``measure(trainer) -> (numbers, arrays)`` on the trained model (in memory, or the run's final
        checkpoint) of a run that is done: ``numbers`` go under ``"measure"`` in the record, ``arrays``
        (e.g. feature maps) to ``<dest>.npz``.

    Returns
    -------
    callable
        ``execute(run, dest) -> record``.
    """
    def execute(run: Run, dest) -> dict:
        cfg = run.config
        _check_run_dir(cfg)
        finished = Path(cfg.out_dir) / "result.json"
        if finished.is_file() and measure is None:
            return read_json(finished)
        trainer = trainer_cls(cfg)
        if finished.is_file():
            rec = read_json(finished)
            if rec["status"] == "done":
                trainer.load_checkpoint()                 # the final weights (saved after the last epoch)
        else:
            rec = trainer.run(resume=True)
        rec = dict(rec)
        if measure is not None and rec["status"] == "done":
            tm = time.perf_counter()
            with scoped_threads(cfg.threads or None):
                numbers, arrays = measure(trainer)
            rec["measure"] = dict(numbers, seconds=time.perf_counter() - tm)
            if arrays:
                save_arrays(arrays_path(dest), arrays)
        return rec

    return execute


class TrainPlan(Plan):
    """:class:`~experiments.common.plan.Plan` whose conflicts name the training flags."""

    @staticmethod
    def conflict(item, rec) -> dict:
        """``{field: (saved, planned)}`` of the identity fields where a saved record differs from the plan."""
        now = identity(item.config)
        return identity_diff({k: rec["config"].get(k) for k in now}, now)

    def check(self, item, rec, dest) -> None:
        diff = self.conflict(item, rec)
        if diff:
            raise UsageError(f"{dest}: a result with other settings exists ({_diff_text(diff)}); a result is the "
                             "same run only when every setting that changes its numbers matches: give these "
                             "runs a --tag or another --out")


def _summary(rec: dict) -> str:
    s = rec["summary"]
    best = "none" if s["best_test_acc"] is None else f"{s['best_test_acc']:.4f}"
    return f"{rec['status']}, best test acc {best} (epoch {s['best_epoch']})"


def _plan(results_dir, execute, log) -> TrainPlan:
    return TrainPlan(dest=lambda r: result_path(results_dir, r.group, r.experiment, r.name),
                     identity=lambda r: identity(r.config), execute=execute,
                     save=lambda dest, rec: write_json_atomic(dest, thin_steps(rec)), summary=_summary, log=log)


def _runtime(runs, device, threads, progress) -> list[Run]:
    out = []
    for r in runs:
        kw = {"threads": threads, "progress": progress}
        if device is not None:
            kw["device"] = device
        out.append(dataclasses.replace(r, config=dataclasses.replace(r.config, **kw)))
    return out


def run_plan(runs, *, results_dir, execute=None, device=None, threads=None, progress: bool = True,
             dry_run: bool = False, log=print) -> list[dict]:
    """Run a plan.

    Parameters
    ----------
    runs : list of Run
        The plan.
    results_dir : path
        Where result files are read and written.
    execute : callable, optional
        ``(run, dest) -> record``; default ``executor()`` (train, no measurement).
    device, threads, progress
        Runtime settings applied to every config (they do not change the numbers).
    dry_run : bool
        Only log what would run.

    Raises
    ------
    UsageError
        Before any work: a saved result or a run directory with other settings, or missing data.
    log : callable
        One line per run.

    Returns
    -------
    list of dict
        The records of the done runs, in plan order.
    """
    runs = _runtime(runs, device, threads, progress)
    plan = _plan(results_dir, execute or executor(), log)
    todo = [r for r in runs if not plan.dest(r).is_file()]
    if not dry_run:                                   # every refusal comes before any work
        for r in todo:
            _check_run_dir(r.config)
        check_data(todo)
    return plan.run(runs, dry_run=dry_run)


def plan_lines(runs, results_dir) -> tuple[list[str], int]:
    """What a plan would do, without doing it.

    Parameters
    ----------
    runs : list of Run
    results_dir : path

    Returns
    -------
    (list of str, int)
        One line per run (``done``, ``todo`` or ``differs (field: saved there, planned now)``) and the number
        of runs that differ.
    """
    lines, conflicts = [], 0
    plan = _plan(results_dir, None, None)
    for k, r in enumerate(runs, 1):
        dest = plan.dest(r)
        state = "todo"
        if dest.is_file():
            diff = plan.conflict(r, read_json(dest))
            conflicts += bool(diff)
            state = f"differs ({_diff_text(diff)})" if diff else "done"
        lines.append(f"[{k}/{len(runs)}] {r.group}/{r.experiment}/{r.name}: {state} ({dest})")
    return lines, conflicts


def check_data(runs) -> None:
    """Load every data set the runs need (cached), turning a missing one into a usage error."""
    for key in sorted({(r.config.dataset, r.config.data_root) for r in runs}, key=str):
        try:
            load_split(key[0], "train", key[1])
            load_split(key[0], "test", key[1])
        except FileNotFoundError as exc:
            raise UsageError(f"--data-root: {exc}") from None


# ---- options shared by the studies' plan / run verbs ---------------------------------------------------------

_TAG = re.compile(r"[A-Za-z0-9_.+]+(-[A-Za-z0-9_.+]+)*")


@dataclass
class StudyOptions:
    """What a study plans: the protocol, seeds, overrides of the protocol's settings, where things go."""

    study: str = option("", "which table or figure")
    protocol: str = option("quick", "quick: a 2-core CPU budget; paper: the paper's settings (for a GPU)",
                           choices=PROTOCOL_CHOICES)
    seeds: typing.Optional[typing.List[int]] = option(None, "seeds (none: the protocol's)")
    epochs: typing.Optional[int] = option(None, "training epochs (none: the protocol's)")
    train_per_class: typing.Optional[int] = option(None, "training images per class (none: the protocol's)")
    test_per_class: typing.Optional[int] = option(None, "test images per class (none: the protocol's)")
    tag: typing.Optional[str] = option(None, "results go to group <protocol>-<tag>: use it for settings other "
                                       "than the protocol's")
    out: str = option("", "output directory: results in OUT/results/<group>/..., the report in OUT")
    runs_dir: str = option("", "per-run directories (checkpoints) RUNS_DIR/<group>/<experiment>/<run>")
    data_root: typing.Optional[str] = option(None, "Fashion-MNIST directory (none: $FASHION_MNIST_DIR or "
                                             "/usr/share/datasets/fashion-mnist)")

    def validate(self):
        """``self`` if the shared options are consistent, else :class:`UsageError`."""
        if self.protocol not in PROTOCOL_CHOICES:
            raise UsageError(f"--protocol: expected one of {', '.join(PROTOCOL_CHOICES)}, got {self.protocol!r}")
        if self.seeds is not None:
            if not self.seeds:
                raise UsageError("--seeds: expected at least one seed")
            self.seeds = [check_int("seeds", s, 0) for s in self.seeds]
            if len(set(self.seeds)) != len(self.seeds):
                raise UsageError(f"--seeds: repeated seeds in {self.seeds}")
        check_int("epochs", self.epochs, 1, none_ok=True)
        check_int("train_per_class", self.train_per_class, 1, none_ok=True)
        check_int("test_per_class", self.test_per_class, 1, none_ok=True)
        if self.tag is not None and not _TAG.fullmatch(self.tag):
            raise UsageError(f"--tag: expected letters, digits and _ . + - (not at the ends), got {self.tag!r}")
        check_out_dir("out", self.out)
        check_out_dir("runs_dir", self.runs_dir)
        if getattr(self, "threads", None) is not None:
            check_int("threads", self.threads, 1)
        return self

    @property
    def group(self) -> str:
        return group_name(self.protocol, self.tag)

    @property
    def results_dir(self) -> Path:
        return Path(self.out) / "results"


#: the fields a ``run`` verb adds to a study's options (they do not change the numbers)
RUNTIME_FIELDS = [
    ("device", str, option("cpu", "cpu, cuda or cuda:N")),
    ("threads", typing.Optional[int], option(None, "torch CPU threads (none: the protocol's; quick: 1)")),
    ("progress", bool, option(True, "progress bars and per-epoch lines")),
    ("dry_run", bool, option(False, "list the runs and which are done; run nothing")),
    ("report", bool, option(True, "render the report into --out after the runs")),
]


def with_runtime(cls, name: str) -> type:
    """``cls`` (a study's options) plus :data:`RUNTIME_FIELDS`: the config of its ``run`` verb."""
    return dataclasses.make_dataclass(name, RUNTIME_FIELDS, bases=(cls,))
