"""Plans of training runs: the training use of :class:`experiments.common.plan.Plan`.

A study (CS Table 5, MFD Table II, ...) is a list of :class:`Run` (group, experiment, :class:`TrainConfig`).
:func:`run_plan` skips the runs whose result file exists (:func:`experiments.training.results.result_path`),
resumes the ones with a checkpoint under ``<runs_dir>/<group>/<experiment>/<run>`` and trains the rest; each
record is saved as soon as it exists, its per-step log thinned (:func:`thin_steps`). ``execute`` hooks
(:func:`executor`) may measure the trained model before the save (MFD, POD).

A saved result is "the same run" only when every field that changes its numbers matches
(:func:`identity`: all fields but paths, device, threads and progress). Otherwise the plan stops before any
work with a :class:`~experiments.common.cli.UsageError` naming the differing fields; the same holds for a
run directory holding another run, a checkpoint that cannot resume its run (unreadable, other settings, past
the epochs asked for: :func:`check_resumable`), a result or config file that is not valid JSON, and more
images per class than the data holds (:func:`check_data`). A study's ``run`` refuses, without a ``--tag``,
an option that changes a run of the protocol (:func:`check_protocol_settings`): a group named after a
protocol holds that protocol's runs only.

Where the runs execute (:func:`make_runner`, the ``run`` verbs' ``--jobs`` / ``--executor`` / ``--address``):
in this process one after another (default), in a local pool of ``--jobs N`` spawned worker processes, or
as Ray tasks (``--executor ray``). Whatever the executor, the run trains (and checkpoints) in its worker and
its record comes back to this process, which writes the result files (JSON, and ``.npz`` arrays) atomically
as each arrives: the same skip / identity / resume rules, results identical to the sequential ones (the
workers set ``--threads`` torch threads, default 1, and the allocator setting). Each record's
``environment`` says which executor ran it (``sequential``, ``local``, ``ray``; ``torchrun`` for DDP runs),
the world size and the threads; none of them is part of the identity.

The shared options of every study's ``plan`` / ``run`` verbs are :class:`StudyOptions` and
:data:`RUNTIME_FIELDS` (:func:`with_runtime`; the executor options are runtime fields: ``plan`` runs nothing).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.common.cli import UsageError, check_int, check_out_dir, flag_of, option
from experiments.common.executors import LocalPool, RayExecutor, Sequential, import_ray
from experiments.common.io import read_json, remove_stale_temps, save_arrays, write_json_atomic
from experiments.common.optim import resolve_device
from experiments.common.plan import Plan, identity_diff

from .engine import (CheckpointError, TrainConfig, Trainer, load_split, read_checkpoint, resume_conflict, tune_malloc,
                     with_legacy_defaults)
from .losses import threads as scoped_threads
from .results import arrays_path, result_path

__all__ = ["NOT_IDENTITY", "identity", "Run", "make_run", "group_name", "thin_steps", "Execute", "executor",
           "save_result", "TrainPlan", "run_plan", "make_runner", "worker_setup", "runtime_options", "plan_lines",
           "check_data", "check_resumable", "check_protocol_settings", "read_result", "StudyOptions", "RUNTIME_FIELDS",
           "EXECUTORS", "with_runtime", "protocol_fields", "PROTOCOL_CHOICES"]

#: TrainConfig fields that do not change a run's numbers: a result may differ from the plan in these only.
NOT_IDENTITY = ("out_dir", "data_root", "device", "progress", "threads")
PROTOCOL_CHOICES = ("quick", "converged", "paper")
EXECUTORS = ("local", "ray")


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
    # a saved config that predates a field (memory_format, precision) ran with that field's old default
    d = config.to_dict() if hasattr(config, "to_dict") else with_legacy_defaults(config)
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


def _check_run_dir(cfg: TrainConfig, *, checkpoint: bool = False) -> None:
    """A usage error (naming ``--runs-dir``) when the run directory holds another run, or (``checkpoint``) a
    checkpoint that cannot be resumed."""
    p = Path(cfg.out_dir) / "config.json"
    if p.is_file():
        diff = identity_diff(identity(read_result(p, "--runs-dir")), identity(cfg))
        if diff:
            raise UsageError(f"--runs-dir: {cfg.out_dir} holds a run with other settings ({_diff_text(diff)}); "
                             "give these runs a --tag or another --runs-dir")
    finished = Path(cfg.out_dir) / "result.json"
    if checkpoint and finished.is_file():
        read_result(finished, "--runs-dir")
    elif checkpoint:
        check_resumable(cfg, "--runs-dir")


def read_result(path, flag: str) -> dict:
    """A saved JSON file (a result, a run's config); a usage error naming ``flag`` and the file if it is not
    valid JSON."""
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{flag}: {path} is not valid JSON ({exc}); delete it to run that run again, or "
                         "restore it") from None


def check_resumable(cfg: TrainConfig, flag: str) -> None:
    """A usage error naming ``flag`` unless ``<out_dir>/checkpoint.pt`` (if any) can resume ``cfg``: readable,
    written with the same settings (but those of
    :data:`~experiments.training.engine.RESUME_IGNORED`), at an epoch not past ``cfg.epochs``."""
    ckpt = Path(cfg.out_dir) / "checkpoint.pt"
    if not ckpt.is_file():
        return
    try:
        st = read_checkpoint(ckpt)
    except CheckpointError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    diff = resume_conflict(st, cfg)
    if diff:
        raise UsageError(f"{flag}: {ckpt} was written with other settings ({_diff_text(diff)}); resume it with its "
                         "own settings, or choose another directory")
    if int(st["epoch"]) > cfg.epochs:
        raise UsageError(f"--epochs: {ckpt} is at epoch {int(st['epoch'])}, past --epochs {cfg.epochs}; ask for at "
                         "least as many epochs, or choose another directory")


@dataclass(frozen=True)
class Execute:
    """The ``execute(run, dest) -> record`` hook of a training plan (picklable: it runs in this process, a
    pool worker or a Ray task alike).

    It trains (or resumes, or reloads a finished run from its directory) ``run`` with ``trainer_cls``, then
    ``measure(trainer) -> (numbers, arrays)`` if given: ``numbers`` go under ``"measure"`` in the record,
    ``arrays`` (e.g. feature maps) under ``"_arrays"``, which the plan's save writes to ``<dest>.npz`` (in the
    process that writes the result JSON). ``executor`` is recorded in the record's ``environment``.
    """
    trainer_cls: type = Trainer
    measure: typing.Optional[typing.Callable] = None
    executor: str = "sequential"

    def __call__(self, run: Run, dest) -> dict:
        cfg = run.config
        _check_run_dir(cfg)
        remove_stale_temps(cfg.out_dir)                   # what a killed earlier attempt left mid-write
        finished = Path(cfg.out_dir) / "result.json"
        if finished.is_file() and self.measure is None:
            return read_result(finished, "--runs-dir")
        trainer = self.trainer_cls(cfg)
        trainer.executor = self.executor
        if finished.is_file():
            rec = read_result(finished, "--runs-dir")
            if rec["status"] == "done":
                trainer.load_checkpoint()                 # the final weights (saved after the last epoch)
        else:
            rec = trainer.run(resume=True)
        rec = dict(rec)
        if self.measure is not None and rec["status"] == "done":
            tm = time.perf_counter()
            with scoped_threads(cfg.threads or None):
                numbers, arrays = self.measure(trainer)
            rec["measure"] = dict(numbers, seconds=time.perf_counter() - tm)
            if arrays:
                rec["_arrays"] = {k: np.asarray(v) for k, v in arrays.items()}
        return rec


def executor(trainer_cls: type = Trainer, measure: typing.Callable | None = None) -> Execute:
    """The ``execute(run, dest) -> record`` hook of a plan (an :class:`Execute`).

    Parameters
    ----------
    trainer_cls : type
        Trains (or resumes, or reloads a finished run from its directory) each run.
    measure : callable, optional
        ``measure(trainer) -> (numbers, arrays)`` on the trained model (in memory, or the run's final
        checkpoint) of a run that is done: ``numbers`` go under ``"measure"`` in the record, ``arrays``
        (e.g. feature maps) to ``<dest>.npz``. A module-level function, so that pool workers and Ray tasks can
        import it.

    Returns
    -------
    Execute
        ``execute(run, dest) -> record``.
    """
    return Execute(trainer_cls, measure)


def save_result(dest, rec: dict) -> None:
    """Write a record: its ``"_arrays"`` (if any) to ``<dest>.npz`` first, then the thinned JSON, each
    atomically, so that a result JSON exists only with its arrays."""
    rec = dict(rec)
    arrays = rec.pop("_arrays", None)
    if arrays:
        save_arrays(arrays_path(dest), arrays)
    write_json_atomic(dest, thin_steps(rec))


class TrainPlan(Plan):
    """:class:`~experiments.common.plan.Plan` whose conflicts name the training flags."""

    @staticmethod
    def conflict(item, rec) -> dict:
        """``{field: (saved, planned)}`` of the identity fields where a saved record differs from the plan."""
        now = identity(item.config)
        saved = identity(rec["config"])           # fills the fields a result predates with their old defaults
        return identity_diff({k: saved.get(k) for k in now}, now)

    def check(self, item, rec, dest) -> None:
        diff = self.conflict(item, rec)
        if diff:
            raise UsageError(f"--out: {dest} holds a result with other settings ({_diff_text(diff)}); a result is "
                             "the same run only when every setting that changes its numbers matches: give these "
                             "runs a --tag or another --out")


def _summary(rec: dict) -> str:
    s = rec["summary"]
    best = "none" if s["best_test_acc"] is None else f"{s['best_test_acc']:.4f}"
    return f"{rec['status']}, best test acc {best} (epoch {s['best_epoch']})"


def _plan(results_dir, execute, log) -> TrainPlan:
    return TrainPlan(dest=lambda r: result_path(results_dir, r.group, r.experiment, r.name),
                     identity=lambda r: identity(r.config), execute=execute, save=_save, summary=_summary, log=log,
                     read=lambda p: read_result(p, "--out"))


def _save(dest, rec: dict) -> None:
    arrays = rec.pop("_arrays", None)           # the returned record stays free of the arrays
    save_result(dest, {**rec, "_arrays": arrays} if arrays else rec)


def _runtime(runs, device, threads, progress, absolute: bool = False) -> list[Run]:
    out = []
    for r in runs:
        kw = {"threads": threads, "progress": progress}
        if device is not None:
            kw["device"] = device
        if absolute:                    # Ray workers may run elsewhere, in another working directory
            kw["out_dir"] = str(Path(r.config.out_dir).resolve())
            root = r.config.data_root or os.environ.get("FASHION_MNIST_DIR")
            if root:
                kw["data_root"] = str(Path(root).resolve())
        out.append(dataclasses.replace(r, config=dataclasses.replace(r.config, **kw)))
    return out


def worker_setup(threads: int) -> None:
    """What a pool worker or a Ray task does before each run: ``torch.set_num_threads(threads)`` and the
    allocator setting of the CLI (:func:`~experiments.training.engine.tune_malloc`). Numbers are unaffected."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    tune_malloc()


def make_runner(executor: str = "local", jobs=None, address=None, threads=None, device=None):
    """The executor of a plan (:mod:`experiments.common.executors`).

    ``local`` with ``jobs`` None or 1: :class:`~experiments.common.executors.Sequential` (this process);
    ``local`` with ``jobs >= 2``: a :class:`~experiments.common.executors.LocalPool` of ``jobs`` workers;
    ``ray``: a :class:`~experiments.common.executors.RayExecutor` at ``address`` (``jobs``: runs in flight at
    most). Workers set ``threads`` torch threads (default 1) and tune the allocator (:func:`worker_setup`).
    """
    n = 1 if threads is None else int(threads)
    if executor == "ray":
        return RayExecutor(address, threads=n, gpus=str(device or "cpu").startswith("cuda"), jobs=jobs,
                           setup=functools.partial(worker_setup, n))
    if executor != "local":
        raise UsageError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    if jobs is not None and jobs > 1:
        return LocalPool(jobs, setup=functools.partial(worker_setup, n))
    return Sequential()


def run_plan(runs, *, results_dir, execute=None, device=None, threads=None, progress: bool = True,
             dry_run: bool = False, log=print, jobs=None, executor: str = "local", address=None) -> list[dict]:
    """Run a plan.

    Parameters
    ----------
    runs : list of Run
        The plan.
    results_dir : path
        Where result files are read and written (by this process only, whatever the executor).
    execute : callable, optional
        ``(run, dest) -> record``; default ``executor()`` (train, no measurement). Picklable for the pool and
        Ray executors (an :class:`Execute`).
    device, threads, progress
        Runtime settings applied to every config (they do not change the numbers). With a pool or Ray,
        ``threads`` defaults to 1 and ``progress`` is off (one log line per run start and end instead).
    dry_run : bool
        Only log what would run.
    log : callable
        One line per run.
    jobs, executor, address
        Where the runs execute (:func:`make_runner`): ``local`` (``jobs`` 1: here, one after another; more:
        a process pool) or ``ray`` (the cluster at ``address``).

    Raises
    ------
    UsageError
        Before any work: a saved result or a run directory with other settings, missing data, or Ray missing.

    Returns
    -------
    list of dict
        The records of the done runs, in plan order.
    """
    runner = make_runner(executor, jobs, address, threads, device)
    parallel = not isinstance(runner, Sequential)
    if parallel:
        threads, progress = (1 if threads is None else threads), False
    runs = _runtime(runs, device, threads, progress, absolute=runner.name == "ray")
    execute = execute or Execute()
    if isinstance(execute, Execute):
        execute = dataclasses.replace(execute, executor=runner.name)
    plan = _plan(results_dir, execute, log)
    todo = [r for r in runs if not plan.dest(r).is_file()]
    if not dry_run:                                   # every refusal comes before any work
        for r in todo:
            _check_run_dir(r.config, checkpoint=True)
        check_data(todo)
        if runner.name == "ray" and todo:
            import_ray()                              # a usage error naming --executor and the pip command
    return plan.run(runs, dry_run=dry_run, runner=runner)


def runtime_options(opts, protocols: dict) -> dict:
    """The runtime keyword arguments of :func:`run_plan` from a study's ``run`` options (``threads`` none:
    the protocol's)."""
    threads = opts.threads if opts.threads is not None else protocols[opts.protocol].get("threads")
    return dict(device=opts.device, threads=threads, progress=opts.progress, dry_run=opts.dry_run,
                jobs=opts.jobs, executor=opts.executor, address=opts.address)


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
            diff = plan.conflict(r, plan.read(dest))
            conflicts += bool(diff)
            state = f"differs ({_diff_text(diff)})" if diff else "done"
        lines.append(f"[{k}/{len(runs)}] {r.group}/{r.experiment}/{r.name}: {state} ({dest})")
    return lines, conflicts


def check_data(runs) -> None:
    """Load every data set the runs (or configs) need (cached), turning a missing one into a usage error
    naming ``--data-root``, and more images per class than a split holds into one naming the flag."""
    import torch

    cfgs = [getattr(r, "config", r) for r in runs]
    for key in sorted({(c.dataset, c.data_root) for c in cfgs}, key=str):
        try:
            splits = {s: load_split(key[0], s, key[1]) for s in ("train", "test")}
        except (FileNotFoundError, ValueError) as exc:
            raise UsageError(f"--data-root: {exc}") from None
        least = {s: int(torch.bincount(d.labels, minlength=d.num_classes).min()) for s, d in splits.items()}
        for c in cfgs:
            if (c.dataset, c.data_root) != key:
                continue
            for s, name in (("train", "train_per_class"), ("test", "test_per_class")):
                n = getattr(c, name)
                if n is not None and n > least[s]:
                    raise UsageError(f"{flag_of(name)}: expected at most {least[s]} (the {key[0]} {s} split has "
                                     f"{least[s]} images in its smallest class), got {n}")


#: the fields of a study's options that only say where, how or which runs go (never a run's numbers)
_NOT_SETTINGS = ("study", "protocol", "seeds", "tag", "out", "runs_dir", "data_root", "models", "methods")


def check_protocol_settings(opts, study_runs) -> None:
    """A usage error naming the first option that changes a run of the protocol (same run name, other numbers)
    when no ``--tag`` is given: a group named after a protocol holds that protocol's runs only.

    Selecting runs (``--seeds``, ``--models``, ``--methods``) or adding runs of their own names (``--lgs``,
    ``--dims``, ``--iters``) needs no tag; the protocol's own values need none either.
    """
    if opts.tag is not None:
        return
    runtime = {name for name, _, _ in RUNTIME_FIELDS}
    overrides = [f.name for f in dataclasses.fields(opts)                # "none: the protocol's" options
                 if f.default is None and f.name not in _NOT_SETTINGS and f.name not in runtime]
    given = [f for f in overrides if getattr(opts, f) is not None]
    if not given:
        return

    def runs(keep):
        o = dataclasses.replace(opts, **{f: None for f in overrides if f not in keep})
        return {r.name: identity(r.config) for r in study_runs(o)}

    base = runs(())
    for f in given:
        changed = [n for n, ident in runs((f,)).items() if n in base and base[n] != ident]
        if changed:
            raise UsageError(f"{flag_of(f)}: {getattr(opts, f)!r} is not the {opts.protocol} protocol's setting (it "
                             f"changes {changed[0]}{' and others' if len(changed) > 1 else ''}); settings other than "
                             f"a protocol's need a --tag (their results then go to group {opts.protocol}-<tag>)")


# ---- options shared by the studies' plan / run verbs ---------------------------------------------------------

_TAG = re.compile(r"[A-Za-z0-9_.+]+(-[A-Za-z0-9_.+]+)*")


@dataclass
class StudyOptions:
    """What a study plans: the protocol, seeds, overrides of the protocol's settings, where things go."""

    study: str = option("", "which table or figure")
    protocol: str = option("quick", "quick: a 2-core CPU budget (early training); converged: trained to a "
                           "flat baseline curve on a 2-core CPU, with controls; paper: the paper's settings (for a GPU)",
                           choices=PROTOCOL_CHOICES)
    seeds: typing.Optional[typing.List[int]] = option(None, "seeds (none: the protocol's)")
    epochs: typing.Optional[int] = option(None, "training epochs (none: the protocol's)")
    train_per_class: typing.Optional[int] = option(None, "training images per class (none: the protocol's)")
    test_per_class: typing.Optional[int] = option(None, "test images per class (none: the protocol's)")
    bn_recal_batches: typing.Optional[int] = option(None, "BatchNorm-recalibrated test on this many training batches "
                                                    "(none: the protocol's; quick and paper: off)")
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
        check_int("bn_recal_batches", self.bn_recal_batches, 0, none_ok=True)
        if self.tag is not None and not _TAG.fullmatch(self.tag):
            raise UsageError(f"--tag: expected letters, digits and _ . + - (not at the ends), got {self.tag!r}")
        check_out_dir("out", self.out)
        check_out_dir("runs_dir", self.runs_dir)
        if getattr(self, "threads", None) is not None:
            check_int("threads", self.threads, 1)
        if getattr(self, "jobs", None) is not None:
            check_int("jobs", self.jobs, 1)
        executor = getattr(self, "executor", "local")
        if executor not in EXECUTORS:
            raise UsageError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
        if getattr(self, "address", None) is not None and executor != "ray":
            raise UsageError("--address: only with --executor ray")
        if executor == "ray" and str(getattr(self, "device", "cpu")).startswith("cuda:"):
            raise UsageError("--device: with --executor ray give --device cuda (Ray gives each task its own GPU)")
        if getattr(self, "device", None) is not None:       # the name; present: checked by ``run`` before work
            resolve_device(self.device, present=False)
        return self                 # a missing Ray is refused by run_plan, before any work (not by --print-config)

    @property
    def group(self) -> str:
        return group_name(self.protocol, self.tag)

    @property
    def results_dir(self) -> Path:
        return Path(self.out) / "results"


#: the fields a ``run`` verb adds to a study's options (they do not change the numbers)
RUNTIME_FIELDS = [
    ("device", str, option("cpu", "cpu, cuda or cuda:N")),
    ("threads", typing.Optional[int], option(None, "torch CPU threads per run (none: the protocol's, quick: 1; "
                                                "with --jobs > 1 or --executor ray: 1)")),
    ("jobs", typing.Optional[int], option(None, "runs at once: local: worker processes (none or 1: in this "
                                          "process, one after another); ray: runs in flight at most (none: as "
                                          "many as the cluster's CPUs / threads, or GPUs with --device cuda)")),
    ("executor", str, option("local", "where runs execute: local (this machine) or ray (a Ray cluster, "
                                      "pip install -e '.[cluster]'); the results are written by this process",
                             choices=EXECUTORS)),
    ("address", typing.Optional[str], option(None, "ray: the cluster to join (auto: the one `ray start` set up "
                                             "here; none: $RAY_ADDRESS, else a local Ray started for the plan)")),
    ("progress", bool, option(True, "progress bars and per-epoch lines")),
    ("dry_run", bool, option(False, "list the runs and which are done; run nothing")),
    ("report", bool, option(True, "render the report into --out after the runs")),
]


def with_runtime(cls, name: str) -> type:
    """``cls`` (a study's options) plus :data:`RUNTIME_FIELDS`: the config of its ``run`` verb."""
    return dataclasses.make_dataclass(name, RUNTIME_FIELDS, bases=(cls,))
