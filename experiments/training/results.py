"""The layout of training results and what the reports read from it (no torch import).

A results directory holds one JSON per finished run, ``<results>/<group>/<experiment>/<run>.json`` (config,
per-epoch history, summary, optional per-step log and post-training ``measure``), and, where a run saved
arrays (feature maps), ``<run>.npz`` beside it. ``group`` is a protocol name (``quick``, ``paper``) or
``<protocol>-<tag>``; ``experiment`` is ``table5``, ``fig5``, ``mfd`` or ``pod``.

Example
-------
>>> result_path("out/results", "quick", "table5", "cnn1-alg1-s0").as_posix()
'out/results/quick/table5/cnn1-alg1-s0.json'
>>> describe_settings([{"config": {"lr": 0.1, "seed": 0}}, {"config": {"lr": 0.1, "seed": 1}}], ["lr", "seed"])
'lr=0.1, seed=varies'
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.common.cli import UsageError
from experiments.common.io import load_arrays, read_json
from experiments.common.report import DASH, pm, protocol_of, tag_of
from experiments.common.stats import mean_std

__all__ = ["result_path", "arrays_path", "load_run_arrays", "collect", "describe_settings", "epoch_seconds",
           "missing_names", "expected_seeds", "group_heading", "accuracy_row", "accuracy_aggregates",
           "OVERRIDE_FLAGS", "study_command"]


def result_path(results_dir, group: str, experiment: str, name: str) -> Path:
    """``<results_dir>/<group>/<experiment>/<name>.json``."""
    return Path(results_dir) / group / experiment / f"{name}.json"


def arrays_path(result_json) -> Path:
    """The ``.npz`` beside a result file."""
    return Path(result_json).with_suffix(".npz")


def load_run_arrays(result_json) -> dict | None:
    """The arrays saved beside a result file, or None."""
    return load_arrays(arrays_path(result_json))


def collect(results_dir) -> dict:
    """Every result file of ``results_dir``.

    Parameters
    ----------
    results_dir : path
        A results directory (may be missing: then ``{}``).

    Returns
    -------
    dict
        ``{group: {experiment: [records]}}``, groups ordered ``quick`` first, then by name; each record has
        ``"_path"`` (its file) added.
    """
    out: dict = defaultdict(lambda: defaultdict(list))
    root = Path(results_dir)
    if not root.is_dir():
        return {}
    for p in sorted(root.glob("*/*/*.json")):
        try:
            rec = read_json(p)
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"--results: {p} is not valid JSON ({exc}); delete it (its run runs again) or restore "
                             "it") from None
        rec["_path"] = str(p)
        out[p.parent.parent.name][p.parent.name].append(rec)
    return {g: dict(e) for g, e in sorted(out.items(), key=lambda kv: (kv[0] != "quick", kv[0]))}


def describe_settings(records, keys) -> str:
    """``k=v, ...`` of the configs' ``keys``: ``varies`` where the records differ, ``all`` for a per-class
    size of None (the whole split)."""
    c0 = records[0]["config"]
    parts = []
    for k in keys:
        vals = {json.dumps(r["config"].get(k)) for r in records}
        v = "varies" if len(vals) > 1 else c0.get(k)
        if k in ("train_per_class", "test_per_class") and v is None:
            v = "all"
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def epoch_seconds(rec) -> float | None:
    """Mean wall time of a run's training epochs (epoch 0, before training, excluded)."""
    xs = [h["epoch_seconds"] for h in rec["history"][1:] if h.get("epoch_seconds") is not None]
    return float(np.mean(xs)) if xs else None


def missing_names(records, expected_names) -> list[str]:
    """The names in ``expected_names`` that no record has, in order."""
    have = {r["config"]["name"] for r in records}
    return [n for n in expected_names if n not in have]


def expected_seeds(group: str, records, protocols: dict):
    """Seeds a table of ``group`` should have: None (the protocol's) for a plain protocol group, else the
    seeds present (``[0]`` when none)."""
    if tag_of(group) is not None or protocol_of(group) not in protocols:
        return sorted({r["config"]["seed"] for r in records}) or [0]
    return None


#: settings a study command can override: config field -> (flag, TrainConfig's default); the "Produce them
#: with" commands of a tagged group repeat those on which its runs differ from the protocol
OVERRIDE_FLAGS = {"epochs": ("--epochs", 1), "train_per_class": ("--train-per-class", None),
                  "test_per_class": ("--test-per-class", None), "bn_recal_batches": ("--bn-recal-batches", 0),
                  "width": ("--width", 1.0), "lr_milestones": ("--lr-milestones", [])}


def study_command(experiment: str, study: str, group: str, records, protocols: dict, *, common: dict,
                  plan, entry: str | None = None, extra: str = "") -> str:
    """The backticked ``python -m experiments EXPERIMENT run --study STUDY --protocol P`` that plans the runs of
    ``study`` in ``group``.

    For a tagged group (``<protocol>-<tag>``) it adds ``--tag``, ``--seeds`` when the group's seeds are not the
    protocol's for that study, and the flag of each :data:`OVERRIDE_FLAGS` setting on which the group's runs
    agree and differ from the protocol's (``{**common, **protocols[P][EXPERIMENT]}``), where ``plan`` (the
    study's options dataclass) has that option: the runs it plans then match the ones the group holds. A
    setting no flag can express (the whole split, no milestones) is left out. ``entry`` is the protocols'
    key of the study's settings when it is not ``experiment`` (CS: ``table5``); ``extra`` ends the command.

    Examples
    --------
    >>> import dataclasses
    >>> Plan = dataclasses.make_dataclass("Plan", ["epochs", "lr_milestones"])
    >>> protocols = {"converged": {"pod": {"epochs": 30, "lr_milestones": [12, 20], "seeds": (0, 1, 2)},
    ...                            "table_seeds": {"table6": (0, 1, 2, 3, 4, 5)}}}
    >>> recs = [{"config": {"epochs": 60, "lr_milestones": [24, 40], "seed": s}} for s in (0, 1, 2)]
    >>> study_command("pod", "table6", "converged-long", recs, protocols, common={}, plan=Plan)
    '`python -m experiments pod run --study table6 --protocol converged --tag long --seeds 0 1 2 --epochs 60 --lr-milestones 24 40`'
    >>> study_command("pod", "table6", "converged", recs, protocols, common={}, plan=Plan)
    '`python -m experiments pod run --study table6 --protocol converged`'
    """
    proto, tag = protocol_of(group), tag_of(group)
    cmd = f"python -m experiments {experiment} run --study {study} --protocol {proto}"
    if tag is None or proto not in protocols:
        return f"`{cmd}{extra}`"
    cmd += f" --tag {tag}"
    fields = {**common, **protocols[proto][entry or experiment]}
    seeds = sorted({r["config"]["seed"] for r in records})
    if seeds and tuple(seeds) != tuple(protocols[proto].get("table_seeds", {}).get(study, fields.get("seeds", ()))):
        cmd += " --seeds " + " ".join(map(str, seeds))
    options = {f.name for f in dataclasses.fields(plan)}
    for key, (flag, default) in OVERRIDE_FLAGS.items():
        values = {json.dumps(r["config"].get(key, default)) for r in records}
        if key not in options or len(values) != 1:
            continue
        value = json.loads(values.pop())
        if value in (None, []) or value == fields.get(key, default):     # no flag sets the whole split
            continue
        cmd += f" {flag} " + (" ".join(map(str, value)) if isinstance(value, list) else str(value))
    return f"`{cmd}{extra}`"


_RESNET_KEYS = ["train_per_class", "test_per_class", "epochs", "lr_milestones", "batch_size", "lr", "momentum",
                "weight_decay", "augment", "width"]
_TAG_NOTE = " — a tagged group: its settings may differ from the protocol's, the run line below is what ran"


def group_heading(group: str, records, protocols: dict) -> list[str]:
    """The heading lines of one group's section in the MFD / POD reports."""
    proto, tag = protocol_of(group), tag_of(group)
    desc = protocols.get(proto, {}).get("description", "")
    c0, s0 = records[0]["config"], records[0]["summary"]
    runs = (f"{s0['train_size']} train / {s0['test_size']} test images; " + describe_settings(records, _RESNET_KEYS)
            + f"; ResNet18 {s0['num_parameters']:,} parameters (seed {c0['seed']} run)")
    return [
        f"## Results: `{group}`", "", f"Protocol **{group}** ({desc}){_TAG_NOTE if tag else ''}. Runs: {runs}.", ""]


def accuracy_row(label: str, paper: dict, pidx: int, r) -> list:
    """Paper CIFAR-10/100 beside ours: top and last-epoch test accuracy (mean ± std), per-seed top."""
    return [label, f"{paper['CIFAR-10'][pidx]:.2f}", f"{paper['CIFAR-100'][pidx]:.2f}",
            pm(*r["best"]) if r else DASH, pm(*r["last"]) if r else DASH,
            ", ".join(f"{v * 100:.2f}" for v in r["best_each"]) if r else DASH]


def accuracy_aggregates(recs) -> dict:
    """Over the records of one arm (sorted by seed): ``records``, ``seeds``, top / last-epoch test accuracy
    (``best``, ``last``: ``(mean, std, n)``; ``best_each``, ``last_each``: per seed), last train accuracy
    (``train``) and seconds per epoch (``epoch_s``)."""
    recs = sorted(recs, key=lambda r: r["config"]["seed"])
    best = [r["summary"]["best_test_acc"] for r in recs]
    last = [r["summary"]["last_test_acc"] for r in recs]
    return {"records": recs, "seeds": [r["config"]["seed"] for r in recs],
            "best": mean_std(best), "best_each": best, "last": mean_std(last), "last_each": last,
            "train": mean_std([r["summary"]["last_train_acc"] for r in recs]),
            "epoch_s": mean_std([epoch_seconds(r) for r in recs])}
