"""``python -m experiments claim2d run``: draw, optimise, summarise, write the results (and the report).

The grid: kernel sizes ``k`` (k×k), input channels ``C``, numbers of kernels ``S``, objectives, input
kinds and paddings. Objectives do not involve the input, so the kernel trajectories depend only on
``(C, k, S, objective)``: each such run is ONE batch of ``E`` episodes, measured at once on every
(input kind, padding) through per-episode Gram matrices (:func:`theory.batched.feature_gram_stack`).

Nothing is written before everything has run and been rendered; then the output folder is replaced in one
step (:func:`experiments.common.commit.write_folder_atomic`). The results are ``C{C}_k{k}.json``
(every cell of a group) and ``summary.json`` (options, definitions, verdict, provenance, the groups);
:mod:`.report` turns them into markdown and the figure.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from experiments.common.commit import write_folder_atomic
from experiments.common.io import dumps_json
from experiments.common.optim import resolve_device
from experiments.common.provenance import bootstrap_seed, provenance
from experiments.common.stats import Bootstrap
from theory import batched as B

from . import data as dt
from .memory import check as check_memory
from .metrics import decrease_source, definitions, summarize
from .report import render
from .runner import run_objective
from .spec import DTYPE, RUN_FILES, SCHEMA_VERSION, RunOptions, draw_kernels, input_seed, kernel_seed, options_block
from .verdict import verdict

__all__ = ["plan", "measurements", "run_claim2d", "results_files", "main"]


def plan(o: RunOptions) -> list[dict]:
    """The runs, one per ``(C, k, S, objective)``."""
    return [{"C": c, "k": k, "S": s, "objective": name}
            for c in o.channels for k in o.kernel_sizes for s in o.kernels for name in o.objectives]


def measurements(o: RunOptions) -> list[tuple[str, str]]:
    """The (input kind, padding) pairs measured, in the order of the Gram matrices' axis 1."""
    return [(i, p) for i in o.inputs for p in o.paddings]


def _grams(x: torch.Tensor, k: int, o: RunOptions) -> torch.Tensor:
    """``(E, nM, D, D)`` Gram matrices, a transposed view of an ``(E, D, nM, D)`` buffer: the side-by-side
    layout :func:`theory.batched.gram_quadratic_forms` reads without copying."""
    g = B.feature_gram_stack(x, (k, k), list(o.paddings), d=2)                # (E, nI, nP, D, D)
    g = g.reshape(o.episodes, -1, g.shape[-2], g.shape[-1])
    return g.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)


def run_claim2d(o: RunOptions) -> dict:
    """Run the grid of a validated ``o``; returns ``{"rows", "provenance"}`` (in memory)."""
    started = time.time()
    t_start = time.perf_counter()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(o.threads)
    dev = resolve_device(o.device)
    try:
        meas = measurements(o)
        bar = None
        if o.progress:
            from tqdm import tqdm
            bar = tqdm(total=len(plan(o)) * o.iterations, unit="it", desc="claim2d", file=sys.stderr,
                       dynamic_ncols=True)
        boot = Bootstrap(o.episodes, o.bootstrap, bootstrap_seed(o.seed))
        rows, timing = [], {"gram_s": 0.0, "optimise_s": 0.0, "summary_s": 0.0}
        try:
            for c in o.channels:
                xs = dt.draw_inputs(input_seed(o.seed, c), o.episodes, c, o.inputs, o.data_root)
                x = torch.as_tensor(np.stack([xs[i] for i in o.inputs], 1), dtype=torch.float64, device=dev)
                for k in o.kernel_sizes:
                    t0 = time.perf_counter()
                    g = _grams(x, k, o)
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
        prov = provenance(seed=o.seed, device=o.device, dtype=DTYPE, threads=o.threads, command=o.command,
                          started=started, wall=time.perf_counter() - t_start)
        prov["versions"].update(_extra_versions())
        prov["timing_s"] = {kk: round(v, 3) for kk, v in timing.items()}
        return {"rows": rows, "provenance": prov}
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


def results_files(o: RunOptions, run: dict) -> tuple[dict, dict]:
    """The results as ``{path: JSON text}`` and as documents (``{"summary", "groups"}``, read back from that
    text, as :func:`experiments.claim2d.report.load_results` gives them)."""
    out = Path(o.out)
    rows, prov = run["rows"], run["provenance"]
    texts, names = {}, []
    for c in o.channels:
        for k in o.kernel_sizes:
            name = f"C{c}_k{k}"
            doc = {"schema_version": SCHEMA_VERSION, "group": {"C": c, "k": k}, "options": options_block(o),
                   "definitions": definitions(), "rows": [r for r in rows if r["C"] == c and r["k"] == k],
                   "provenance": prov}
            texts[out / f"{name}.json"] = dumps_json(doc)
            names.append(name)
    summary = {"schema_version": SCHEMA_VERSION, "options": options_block(o), "definitions": definitions(),
               "verdict": verdict(rows, o), "provenance": prov,
               "groups": [f"{n}.json" for n in names]}
    texts[out / "summary.json"] = dumps_json(summary)
    back = {"summary": json.loads(texts[out / "summary.json"]),
            "groups": {n: json.loads(texts[out / f"{n}.json"]) for n in names}}
    return texts, back


def main(o: RunOptions, ctx: dict) -> int:
    """The ``run`` verb: run the grid, then write the results and (unless ``--no-report``) the report."""
    log = ctx.get("log")
    o = replace(o, command=o.command or ctx.get("command"))
    check_memory(o)                                   # a run that cannot fit in memory: refused before any work
    o.check_data()
    run = run_claim2d(o)
    files, back = results_files(o, run)
    if o.report:
        files.update(render(back, o.out, plot=o.plot))
    paths = write_folder_atomic(o.out, files, owned=RUN_FILES)
    if log is not None:
        t = run["provenance"]["timing_s"]
        log(f"wrote {len(paths)} files to {o.out} in {run['provenance']['wall_time_s']:.1f} s (optimisation "
            f"{t['optimise_s']:.1f} s, Gram matrices {t['gram_s']:.1f} s, statistics {t['summary_s']:.1f} s)")
    return 0
