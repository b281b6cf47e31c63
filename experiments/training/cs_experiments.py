"""The CS paper's CNN experiments (Section 4.2 Table 5 / Figures 1-3, Section 4.3 Figure 5) as run plans.

Section 4.2: CNN1 and CNN2 (Table 4) trained with SGD lr 0.01 (no momentum is mentioned: 0), batch 512,
cross-entropy, 100 epochs; three methods:

* ``baseline``: no CS term;
* ``alg1``: Algorithm 1, ``I = 500`` Adam steps (lr 1e-3) on L_CS before training;
* ``alg2``: Algorithm 2, loss ``L_task + β·L_CS`` at every step, ``β = 0.001``.

The paper used CIFAR-10 (no augmentation or normalisation is stated; we use per-channel normalisation and
no augmentation). Here the data is **Fashion-MNIST** (the only real data set installed), 1x28x28, so the
CNNs have 117,706 / 456,586 parameters (the Linear stays 576 / 1152 wide).

Section 4.3 (Figure 5): ResNet18, ``I ∈ {0, 10, 20, 40, ..., 200}``, then 50 epochs of SGD lr 0.01, batch 64.

Protocols (:data:`PROTOCOLS`):

* ``paper``: the paper's settings on the full data (60k / 10k); meant for a GPU (``--device cuda``).
* ``quick``: sized to finish on a 2-core CPU (the whole Table 5 analogue in about 20 minutes, measured):
  a per-class subset of the training split, a per-class subset of the test split, a few epochs. ``I = 500``
  is kept: Algorithm 1 touches no data and costs seconds, so shortening the training is no reason to
  change the method. Figure 5 uses a narrow ResNet18 (width 1/4: 16-128 channels) on a subset.
  It runs with one thread (``threads: 1``): on this shared 2-core machine a 2-thread OpenMP region waits
  for a descheduled thread at every op, which made the small L_CS ops of Algorithm 2 cost more than the
  convolutions; with one thread the Table 5 timing run took as long as with two.

Each run writes its directory under ``runs/training/<protocol>/<experiment>/<run>`` (checkpoints; resumed
if interrupted) and, when done, a copy of its result JSON under
``reports/training/results/<protocol>/<experiment>/<run>.json``; runs whose result JSON exists are skipped.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

from .cs import CSRegularizer, cs_initialize, model_cs  # noqa: F401  (Algorithms 1-2, re-exported)
from .engine import RESUME_IGNORED, TrainConfig, train
from experiments.common.io import read_json, write_json_atomic

__all__ = ["PAPER_TABLE5", "METHODS", "PROTOCOLS", "FIG5_ITERS", "table5_configs", "fig5_configs",
           "run_plan", "cs_initialize", "CSRegularizer", "RESULTS_DIR", "RUNS_DIR"]

RESULTS_DIR = Path("reports/training/results")
RUNS_DIR = Path("runs/training")

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
FIG5_ITERS = (0, 10, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200)

# Settings shared by every protocol of an experiment (Section 4.2 / 4.3).
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
    "quick": {
        "table5": dict(epochs=5, train_per_class=200, test_per_class=100, seeds=(0, 1, 2)),
        "fig5": dict(epochs=4, train_per_class=300, test_per_class=100, width=0.25, seeds=(0, 1)),
        "threads": 1,
        "description": "2-core CPU budget: per-class subsets (first n per class in file order), few epochs",
    },
}


def _protocol(name: str) -> dict:
    if name not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {sorted(PROTOCOLS)}, got {name!r}")
    return PROTOCOLS[name]


def _protocol_fields(protocol: str, experiment: str, overrides: dict, seeds):
    p = dict(_protocol(protocol)[experiment])
    default_seeds = p.pop("seeds")
    p.update({k: v for k, v in overrides.items() if v is not None})
    return p, tuple(default_seeds if seeds is None else seeds)


def _run_group(protocol: str, tag: str | None) -> str:
    return f"{protocol}-{tag}" if tag else protocol


def table5_configs(protocol: str = "quick", *, models=("cnn1", "cnn2"), methods=tuple(METHODS), seeds=None,
                   init_iters: int | None = None, beta: float | None = None, tag: str | None = None,
                   runs_dir=RUNS_DIR, **overrides) -> list[TrainConfig]:
    """One :class:`TrainConfig` per (model, method, seed) of the Table 5 analogue.

    ``overrides``: TrainConfig fields replacing the protocol's (``None`` values ignored); ``init_iters`` /
    ``beta`` replace Algorithm 1's I / Algorithm 2's β. Runs that deviate from the protocol should get a
    ``tag`` (their group becomes ``<protocol>-<tag>``) so their results do not mix with the protocol's.
    """
    p, seeds = _protocol_fields(protocol, "table5", overrides, seeds)
    group = _run_group(protocol, tag)
    out = []
    for model in models:
        for method in methods:
            if method not in METHODS:
                raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
            m = dict(METHODS[method])
            if method == "alg1" and init_iters is not None:
                m["cs_init_iters"] = int(init_iters)
            if method == "alg2" and beta is not None:
                m["cs_beta"] = float(beta)
            for seed in seeds:
                name = f"{model}-{method}-s{seed}"
                out.append(TrainConfig(name=name, model=model, seed=seed,
                                       out_dir=str(Path(runs_dir) / group / "table5" / name),
                                       **{**TABLE5_COMMON, **p, **m}))
    return out


def fig5_configs(protocol: str = "quick", *, iters=FIG5_ITERS, seeds=None, tag: str | None = None,
                 runs_dir=RUNS_DIR, **overrides) -> list[TrainConfig]:
    """One :class:`TrainConfig` per (I, seed) of the Figure 5 analogue (ResNet18, Algorithm 1)."""
    p, seeds = _protocol_fields(protocol, "fig5", overrides, seeds)
    group = _run_group(protocol, tag)
    out = []
    for i in iters:
        for seed in seeds:
            name = f"resnet18-I{int(i)}-s{seed}"
            out.append(TrainConfig(name=name, seed=seed, cs_init_iters=int(i),
                                   out_dir=str(Path(runs_dir) / group / "fig5" / name),
                                   **{**FIG5_COMMON, **p}))
    return out


def _thin_steps(rec: dict, max_points: int = 2000) -> dict:
    """Copy of a result with its per-step log thinned to at most ``max_points`` (for committed JSON)."""
    steps = rec.get("steps")
    if not steps or not steps.get("task_loss"):
        return rec
    n = len(steps["task_loss"])
    k = max(1, math.ceil(n / max_points))
    if k == 1:
        return {**rec, "steps": {**steps, "step": list(range(1, n + 1))}}
    idx = list(range(k - 1, n, k))
    return {**rec, "steps": {"step": [i + 1 for i in idx], **{key: [v[i] for i in idx] for key, v in steps.items()}}}


_IGNORED = set(RESUME_IGNORED) | {"device", "amp"}


def _check_same(saved: dict, cfg: TrainConfig, where) -> None:
    now = cfg.to_dict()
    diff = {k: (saved.get(k), now.get(k)) for k in set(saved) | set(now)
            if k not in _IGNORED and saved.get(k) != now.get(k)}
    if diff:
        raise ValueError(f"{where}: a result with a different config exists {diff}; give these runs a --tag "
                         "or another --results-dir")


def result_path(cfg: TrainConfig, results_dir=RESULTS_DIR) -> Path:
    run = Path(cfg.out_dir)
    return Path(results_dir) / run.parent.parent.name / run.parent.name / f"{run.name}.json"


def _train_or_reload(cfg: TrainConfig, dest: Path) -> dict:
    run_result = Path(cfg.out_dir) / "result.json"
    return read_json(run_result) if run_result.is_file() else train(cfg, resume=True)


def run_plan(configs: list[TrainConfig], *, results_dir=RESULTS_DIR, device=None, threads=None, progress=True,
             dry_run: bool = False, log=print, execute=_train_or_reload) -> list[dict]:
    """Run each config not done yet (its result JSON missing), resuming from its checkpoint if any.

    ``execute(cfg, dest) -> record`` runs (or reloads) one config; the record is saved at ``dest``.
    """
    records = []
    t_start = time.perf_counter()
    for k, cfg in enumerate(configs, 1):
        if device is not None:
            cfg = dataclasses.replace(cfg, device=device)
        cfg = dataclasses.replace(cfg, threads=threads, progress=progress)
        dest = result_path(cfg, results_dir)
        if dest.is_file():
            rec = read_json(dest)
            _check_same(rec["config"], cfg, dest)
            log(f"[{k}/{len(configs)}] {cfg.name}: done ({dest}), skipped")
            records.append(rec)
            continue
        if dry_run:
            log(f"[{k}/{len(configs)}] {cfg.name}: would run -> {cfg.out_dir}")
            continue
        t0 = time.perf_counter()
        rec = execute(cfg, dest)
        write_json_atomic(dest, _thin_steps(rec))
        records.append(rec)
        s = rec["summary"]
        best = "none" if s["best_test_acc"] is None else f"{s['best_test_acc']:.4f}"
        log(f"[{k}/{len(configs)}] {cfg.name}: {rec['status']}, best test acc {best} (epoch {s['best_epoch']}), "
            f"{time.perf_counter() - t0:.1f}s this call, {time.perf_counter() - t_start:.0f}s so far")
    return records


def load_results(experiment: str, protocol: str, results_dir=RESULTS_DIR) -> list[dict]:
    d = Path(results_dir) / protocol / experiment
    return [read_json(p) for p in sorted(d.glob("*.json"))] if d.is_dir() else []
