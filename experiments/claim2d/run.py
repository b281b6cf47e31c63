"""Orchestration of ``python -m experiments claim2d``: validate, draw, optimise, summarise, write atomically.

The grid: kernel sizes ``k`` (k×k), input channels ``C``, numbers of kernels ``S``, objectives, input
kinds and paddings. Objectives do not involve the input, so the kernel trajectories depend only on
``(C, k, S, objective)``: each such run is ONE batch of ``E`` episodes, measured at once on every
(input kind, padding) through per-episode Gram matrices. The design is paired: all objectives of a
``(C, k, S)`` start from the same kernels, and all runs with ``C`` channels see the same inputs, so the
differences between objectives, paddings and input kinds are not sampling noise between draws.

Nothing is written before everything has run and been rendered; each file then goes to a temporary
name and is renamed (:func:`experiments.common.io.write_all_atomic`). Invalid options raise
:class:`UsageError` (a ValueError naming the argument) before any work.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from experiments.montecarlo.episodes import resolve_device
from experiments.common.io import write_all_atomic
from experiments.montecarlo.metrics import Bootstrap
from experiments.montecarlo.tables import bootstrap_seed, provenance

from . import data as dt
from .gram import gram_matrices, stack_grams
from .metrics import decrease_source, summarize
from .objectives import OBJECTIVES
from .runner import run_objective

PADDINGS = ("full", "same", "valid")
SCHEMA_VERSION = 1
SEED_CODE = 0xC2D


class UsageError(ValueError):
    """A bad option; the message names the argument."""


@dataclass
class Options:
    episodes: int = 1000
    seed: int = 0
    iterations: int = 300
    lr: float = 0.03
    record_every: int = 5
    kernel_sizes: list = field(default_factory=lambda: [3, 5])
    channels: list = field(default_factory=lambda: [1, 3])
    kernels: list = field(default_factory=lambda: [2, 8])
    objectives: list = field(default_factory=lambda: list(OBJECTIVES))
    inputs: list = field(default_factory=lambda: list(dt.INPUT_KINDS))
    paddings: list = field(default_factory=lambda: list(PADDINGS))
    bootstrap: int = 1000
    out: str = "reports/claim2d"
    device: str = "cpu"
    threads: int = 1
    progress: bool = True
    plot: bool = True
    fmnist_root: str | None = None
    command: str | None = None
    dtype: str = "float64"           # fixed: exactness and the Gram subtractions want float64


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _ints(name, values, lo, hi=None):
    if not values:
        raise UsageError(f"{name}: expected at least one value")
    for v in values:
        if not _is_int(v) or v < lo or (hi is not None and v > hi):
            rng = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
            raise UsageError(f"{name}: expected integers {rng}, got {v!r}")
    return list(dict.fromkeys(int(v) for v in values))


def _names(name, values, allowed):
    if not values:
        raise UsageError(f"{name}: expected at least one of {', '.join(allowed)}")
    for v in values:
        if v not in allowed:
            raise UsageError(f"{name}: unknown {v!r}; expected some of {', '.join(allowed)}")
    return [v for v in allowed if v in set(values)]        # canonical order


def validate(opts: Options) -> Options:
    """Check every option; raise :class:`UsageError` naming the argument. Returns a normalised copy."""
    o = Options(**asdict(opts))
    if not _is_int(o.episodes) or o.episodes <= 0:
        raise UsageError(f"--episodes: expected a positive integer, got {o.episodes!r}")
    if not _is_int(o.seed) or o.seed < 0:
        raise UsageError(f"--seed: expected a non-negative integer, got {o.seed!r}")
    if not _is_int(o.iterations) or o.iterations <= 0:
        raise UsageError(f"--iterations: expected a positive integer, got {o.iterations!r}")
    if isinstance(o.lr, bool) or not isinstance(o.lr, (int, float)) or not math.isfinite(o.lr) or o.lr <= 0:
        raise UsageError(f"--lr: expected a positive finite number, got {o.lr!r}")
    if not _is_int(o.record_every) or o.record_every < 1:     # > iterations: record t = 0 and T only
        raise UsageError(f"--record-every: expected a positive integer, got {o.record_every!r}")
    o.channels = _ints("--channels", o.channels, 1)
    for c in o.channels:
        if c not in dt.CHANNELS:
            raise UsageError(f"--channels: expected 1 (grey, Fashion-MNIST) and/or 3 (RGB photographs), got {c}")
    o.kernel_sizes = _ints("--kernel-sizes", o.kernel_sizes, 1, min(min(dt.input_hw(c)) for c in dt.CHANNELS))
    o.kernels = _ints("--kernels", o.kernels, 2, 64)
    o.objectives = _names("--objectives", o.objectives, tuple(OBJECTIVES))
    o.inputs = _names("--inputs", o.inputs, dt.INPUT_KINDS)
    o.paddings = _names("--paddings", o.paddings, PADDINGS)
    if not _is_int(o.bootstrap) or o.bootstrap < 0:
        raise UsageError(f"--bootstrap: expected a non-negative integer, got {o.bootstrap!r}")
    if not _is_int(o.threads) or o.threads < 1:
        raise UsageError(f"--threads: expected a positive integer, got {o.threads!r}")
    if o.dtype != "float64":
        raise UsageError(f"dtype: only float64 is supported, got {o.dtype!r}")
    resolve_device(o.device)                                          # ValueError naming --device
    out = Path(o.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {str(out)!r} exists and is not a directory")
    if any(k in ("image", "image_std") for k in o.inputs):
        if 1 in o.channels:
            try:
                dt.fashion_mnist_images(o.fmnist_root)
            except (FileNotFoundError, ValueError) as exc:
                raise UsageError(f"--fmnist-root: the grey image inputs (C = 1) need Fashion-MNIST: {exc}") from None
        if 3 in o.channels:
            try:
                dt.rgb_images()
            except ImportError as exc:
                raise UsageError(f"--channels 3: the RGB image inputs need scikit-image: {exc}") from None
    return o


def input_seed(seed: int, c: int) -> np.random.SeedSequence:
    """Inputs of every run with ``C = c`` channels (shared by all k, S and objectives: a paired design)."""
    return np.random.SeedSequence([int(seed), SEED_CODE, 0, int(c)])


def kernel_seed(seed: int, c: int, k: int, s: int) -> np.random.SeedSequence:
    """Initial kernels of every objective with ``(C, k, S)``."""
    return np.random.SeedSequence([int(seed), SEED_CODE, 1, int(c), int(k), int(s)])


def draw_kernels(seed_seq: np.random.SeedSequence, episodes: int, s: int, c: int, k: int) -> np.ndarray:
    """``(E, S, C, k, k)`` ~ U(-1, 1) (the CS paper's kernel distribution), episode by episode."""
    return np.random.default_rng(seed_seq).uniform(-1.0, 1.0, size=(episodes, s, c, k, k))


def plan(o: Options) -> list[dict]:
    jobs = []
    for c in o.channels:
        for k in o.kernel_sizes:
            for s in o.kernels:
                for name in o.objectives:
                    jobs.append({"C": c, "k": k, "S": s, "objective": name})
    return jobs


def measurements(o: Options) -> list[tuple[str, str]]:
    """The (input kind, padding) pairs measured, in the order of the Gram matrices' axis 1."""
    return [(i, p) for i in o.inputs for p in o.paddings]


def run_claim2d(opts: Options, log=None) -> dict:
    """Run the grid and write the outputs. Returns ``{"docs", "files", "wall_time_s"}``."""
    o = validate(opts)
    started = time.time()
    t_start = time.perf_counter()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(o.threads)
    dev = resolve_device(o.device)
    try:
        jobs = plan(o)
        meas = measurements(o)
        bar = None
        if o.progress:
            from tqdm import tqdm
            bar = tqdm(total=len(jobs) * o.iterations, unit="it", desc="claim2d", file=sys.stderr,
                       dynamic_ncols=True)
        boot = Bootstrap(o.episodes, o.bootstrap, bootstrap_seed(o.seed))
        rows, timing = [], {"gram_s": 0.0, "optimise_s": 0.0, "summary_s": 0.0}
        try:
            for c in o.channels:
                xs = dt.draw_inputs(input_seed(o.seed, c), o.episodes, c, o.inputs, o.fmnist_root)
                x = torch.as_tensor(np.stack([xs[i] for i in o.inputs], 1), dtype=torch.float64, device=dev)
                x = x.reshape(o.episodes * len(o.inputs), c, *x.shape[-2:])
                for k in o.kernel_sizes:
                    t0 = time.perf_counter()
                    g = gram_matrices(x, (k, k), o.paddings)                   # (E·nI, nP, D, D)
                    g = (stack_grams(g.reshape(o.episodes, len(meas), g.shape[-2], g.shape[-1])), len(meas))
                    timing["gram_s"] += time.perf_counter() - t0
                    for s in o.kernels:
                        w0 = torch.as_tensor(draw_kernels(kernel_seed(o.seed, c, k, s), o.episodes, s, c, k),
                                             dtype=torch.float64, device=dev)
                        for name in o.objectives:
                            if bar is not None:
                                bar.set_postfix_str(f"C={c} k={k} S={s} {name}")
                            t0 = time.perf_counter()
                            r = run_objective(w0, name, o.lr, o.iterations, g, o.record_every,
                                              progress=bar.update if bar is not None else None)
                            timing["optimise_s"] += time.perf_counter() - t0
                            t0 = time.perf_counter()
                            for j, (inp, pad) in enumerate(meas):
                                summ = summarize(r.objective, r.sim[:, :, j], r.cos2[:, :, j], r.mcos[:, :, j],
                                                 r.pair_cos0[:, j], r.pair_cosT[:, j], r.knorm0, r.knormT,
                                                 r.kcos0, r.kcosT, r.finite_kT, r.steps, bootstrap=boot)
                                row = {"C": c, "k": k, "S": s, "objective": name, "input": inp, "padding": pad}
                                row.update({kk: v for kk, v in summ.items() if kk != "ci"})
                                row["decrease_source"] = decrease_source(summ["decorrelation_share"])
                                row["ci"] = summ["ci"]
                                rows.append(row)
                            timing["summary_s"] += time.perf_counter() - t0
                    del g
        finally:
            if bar is not None:
                bar.close()
        wall = time.perf_counter() - t_start
        prov = provenance(o, started, wall)
        prov["versions"].update(_extra_versions())
        prov["timing_s"] = {kk: round(v, 3) for kk, v in timing.items()}
        from .report import render
        files, docs = render(o, rows, prov)
        paths = write_all_atomic(files)
        if log is not None:
            log(f"wrote {len(paths)} files to {o.out} in {wall:.1f} s (optimisation {timing['optimise_s']:.1f} s, "
                f"Gram matrices {timing['gram_s']:.1f} s, statistics {timing['summary_s']:.1f} s)")
        return {"docs": docs, "files": [str(p) for p in paths], "wall_time_s": wall}
    finally:
        torch.set_num_threads(old_threads)


def _extra_versions() -> dict:
    out = {}
    for mod in ("skimage", "matplotlib", "tqdm"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:                                              # noqa: BLE001 - optional
            out[mod] = None
    return out


def options_block(o: Options) -> dict:
    return {"episodes": o.episodes, "iterations": o.iterations, "lr": o.lr, "optimizer": "adam",
            "adam": {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0},
            "record_every": o.record_every, "kernel_sizes": o.kernel_sizes, "channels": o.channels,
            "kernels": o.kernels, "objectives": o.objectives, "inputs": o.inputs, "paddings": o.paddings,
            "bootstrap": o.bootstrap, "kernel_init": "U(-1, 1)", "input_sizes": {str(c): list(dt.input_hw(c))
                                                                                  for c in o.channels}}
