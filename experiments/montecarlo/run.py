"""``python -m experiments montecarlo run``: plan, run every configuration, summarise, write the results.

Nothing is written before every requested configuration has run and (unless ``--no-report``) the report
has been rendered from the results; then the output folder is replaced in one step
(:func:`experiments.common.commit.write_folder_atomic`: a killed run leaves the old folder or the new one,
never a mix; old outputs the new run does not write are dropped, other files kept). A run whose memory
estimate exceeds the available memory is refused first (:mod:`.memory`). The results directory holds
``results.json`` (the index, options, trajectory curves, provenance) and one JSON document per table
(``reports/montecarlo/README.md`` documents them); :mod:`.report` turns them into markdown and the figure.
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
from experiments.common.provenance import bootstrap_seed, provenance
from experiments.common.stats import Bootstrap
from theory.padding import resolve_padding

from . import metrics as mt
from .episodes import draw_for_config, run_batched
from .memory import check as check_memory
from .report import render
from .running import RunningStats, curve_steps, needs_trajectories
from .spec import EXPERIMENTS, M, RUN_FILES, SCHEMA_VERSION, TABLE_COLUMNS, TABLE_EXPERIMENT, RunOptions, configs_for
from .verdict import make_row, objective_text, sweep_findings, table_title, table_verdict

__all__ = ["DTYPES", "sweep_paddings", "plan", "run_config", "run_tables", "results_files", "main"]

DTYPES = {"float64": torch.float64, "float32": torch.float32}


def sweep_paddings(n: int) -> list:
    """``[0, 1, ..., N-1, 'same']``: index 0 is 'valid' (Table 6), index N-1 is 'full'."""
    return list(range(n)) + ["same"]


def plan(o: RunOptions) -> list[dict]:
    """The runs: one per (experiment, configuration), with the paddings it is measured with."""
    exps = []
    for t in o.tables:
        if TABLE_EXPERIMENT[t] not in exps:
            exps.append(TABLE_EXPERIMENT[t])
    if o.padding_sweep and "cs_valid" not in exps:
        exps.append("cs_valid")
    if o.fixed_norm:
        exps.append("cs_fixed_norm")
    jobs = []
    for e in exps:
        for cfg in configs_for(e, o.small_n, o.iterations_scale, o.max_iterations):
            if e == "cs_valid" and o.padding_sweep:
                # index 0: 'valid' through Gram matrices, exactly as without the sweep (Table 6);
                # then the sweep, every padding at once through "full minus edges".
                pads, gram = ["valid"] + sweep_paddings(cfg.n), 1
            else:
                pads, gram = [EXPERIMENTS[e].padding], None
            jobs.append({"experiment": e, "cfg": cfg, "paddings": pads, "gram_paddings": gram})
    return jobs


def _curves(quad: np.ndarray, t_all: int) -> dict:
    """Medians over finite episodes of s_t/s_0, |cos(F1,F2)|_t, ||F1||·||F2||_t / at t=0, on the steps of
    :func:`.running.curve_steps`; ``quad`` (points, E, 3) holds the first padding's values there."""
    idx = curve_steps(t_all)
    finite = np.all(np.isfinite(quad), axis=(0, 2))
    q = quad[:, finite]                                       # (points, E', 3)
    f1, p, f2 = q[..., 0], q[..., 1], q[..., 2]
    with np.errstate(all="ignore"):
        sim = p * p
        fn = np.sqrt(f1 * f2)
        curves = {"t": idx / max(1, t_all - 1),
                  "sim_ratio": np.median(sim / sim[0], axis=1),
                  "cos": np.median(np.abs(p) / fn, axis=1),
                  "fnorm_ratio": np.median(fn / fn[0], axis=1)}
    return {k: v.tolist() for k, v in curves.items()}


def run_config(o: RunOptions, job: dict, boot: Bootstrap, progress=None) -> dict:
    """Run one configuration and summarise it: ``{"summaries", "cos2", "curves", "run_s"}``.

    Pearson correlations are accumulated while the episodes run (:class:`.running.RunningStats`, memory
    independent of the iterations); Spearman keeps the whole trajectories (ranks need them).
    """
    cfg = job["cfg"]
    want_curves = cfg.experiment in ("kernel_full", "cs_full")
    want_cos2 = o.cos2_section and cfg.experiment == "cs_full"
    metrics = [o.metric] + (["cos2"] if want_cos2 else [])
    steps = cfg.iterations + 1
    draw = draw_for_config(o.seed, cfg, o.episodes)
    sink = None if needs_trajectories(o.corr) else RunningStats(metrics, steps, curves=want_curves)
    t0 = time.perf_counter()
    out = run_batched(draw.k, draw.x, cfg.objective, cfg.optimizer, cfg.lr, cfg.iterations, job["paddings"],
                      DTYPES[o.dtype], o.device, progress=progress, gram_paddings=job["gram_paddings"],
                      fixed_norm=EXPERIMENTS[cfg.experiment].fixed_norm, sink=sink)
    run_s = time.perf_counter() - t0
    if sink is None:
        traj = out.numpy()
        stats = [mt.episode_stats(traj["objective"], traj["quad"][:, :, j], traj["k0"], traj["kT"], metrics, o.corr)
                 for j in range(len(job["paddings"]))]
        curve_quad = traj["quad"][curve_steps(steps), :, 0] if want_curves else None
    else:
        stats, curve_quad = out
    return {"summaries": [mt.summarize_stats(st, metric=o.metric, bootstrap=boot) for st in stats],
            "cos2": mt.summarize_stats(stats[0], metric="cos2", bootstrap=boot) if want_cos2 else None,
            "curves": _curves(curve_quad, steps) if want_curves else None, "run_s": run_s}


def options_block(o: RunOptions) -> dict:
    return {"episodes": o.episodes, "metric": o.metric, "corr": o.corr, "small_n": o.small_n,
            "bootstrap": o.bootstrap, "iterations_scale": o.iterations_scale, "max_iterations": o.max_iterations,
            "padding_sweep": o.padding_sweep, "fixed_norm": o.fixed_norm, "cos2_section": o.cos2_section}


def run_tables(o: RunOptions) -> dict:
    """Run every configuration of a validated ``o``; returns ``{"jobs", "results", "provenance"}`` (in memory)."""
    started = time.time()
    t_start = time.perf_counter()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(o.threads)
    try:
        jobs = plan(o)
        bar = None
        if o.progress:
            from tqdm import tqdm
            bar = tqdm(total=sum(j["cfg"].iterations for j in jobs), unit="it", desc="Monte Carlo",
                       file=sys.stderr, dynamic_ncols=True)
        results = {}
        # One set of resample counts for every row: seeded by (seed, episodes, resamples) only, so a row's
        # interval does not depend on which tables were requested (rows are independent draws anyway).
        boot = Bootstrap(o.episodes, o.bootstrap, bootstrap_seed(o.seed))
        try:
            for job in jobs:
                cfg = job["cfg"]
                if bar is not None:
                    bar.set_postfix_str(f"{cfg.experiment} N={cfg.n} {cfg.optimizer}")
                res = run_config(o, job, boot, progress=bar.update if bar is not None else None)
                results[(cfg.experiment, cfg.n, cfg.optimizer)] = {"cfg": cfg, "paddings": job["paddings"], **res}
        finally:
            if bar is not None:
                bar.close()
        prov = provenance(seed=o.seed, device=o.device, dtype=o.dtype, threads=o.threads, command=o.command,
                          started=started, wall=time.perf_counter() - t_start)
        return {"jobs": jobs, "results": results, "provenance": prov}
    finally:
        torch.set_num_threads(old_threads)


def _experiment_block(e: str) -> dict:
    ex = EXPERIMENTS[e]
    return {"key": e, "objective": ex.objective, "objective_text": objective_text(e), "padding": ex.padding,
            "hyper_table": ex.hyper_table, "M": M}


def _table_doc(t: int, o: RunOptions, jobs, results, prov) -> dict:
    e = TABLE_EXPERIMENT[t]
    rows, run_s = [], 0.0
    for job in jobs:
        if job["experiment"] == e:
            res = results[(e, job["cfg"].n, job["cfg"].optimizer)]
            rows.append(make_row(t, job["cfg"], res["summaries"][0], EXPERIMENTS[e].padding))
            run_s += res["run_s"]
    return {"schema_version": SCHEMA_VERSION, "table": t, "title": table_title(t),
            "experiment": _experiment_block(e), "columns": list(TABLE_COLUMNS[t]), "options": options_block(o),
            "definitions": mt.definitions(), "rows": rows, "verdict": table_verdict(t, rows),
            "provenance": dict(prov, run_time_s=round(run_s, 3))}


def _sweep_doc(o: RunOptions, jobs, results, prov) -> dict:
    rows, run_s = [], 0.0
    for job in jobs:
        if job["experiment"] != "cs_valid":
            continue
        cfg = job["cfg"]
        res = results[("cs_valid", cfg.n, cfg.optimizer)]
        run_s += res["run_s"]
        for pad, summ in zip(job["paddings"][1:], res["summaries"][1:]):
            (lo, hi), = resolve_padding(pad, (cfg.n,))
            row = make_row(6, cfg, summ, pad)
            row.pop("paper")
            row.pop("comparison")
            row["padding_label"] = "same" if pad == "same" else f"P={pad}"
            row["pads"] = [lo, hi]
            rows.append(row)
    return {"schema_version": SCHEMA_VERSION,
            "title": "Padding sweep: the Table 6 protocol (L_CS minimised, Table 9 hyper-parameters) "
                     "measured with feature maps of every padding P in [0, N-1] and 'same'",
            "description": "Same runs as Table 6 (same seeds: the P=0 rows are Table 6's rows, measured here "
                           "as full padding minus the dropped edge outputs, so equal up to rounding); the "
                           "kernels' trajectories do not depend on the padding (L_CS does not involve X), "
                           "only the measured feature maps do. 'same' is (left, right) = ((N-1)//2, N//2) "
                           "(PyTorch/TF convention); for odd N it equals P = (N-1)/2, for even N it is "
                           "asymmetric. P = N-1 is full padding, where the identity <F1,F2> = "
                           "<K1*K2, X*X> is exact.",
            "experiment": _experiment_block("cs_valid"), "options": options_block(o),
            "definitions": mt.definitions(), "rows": rows, "findings": sweep_findings(rows),
            "provenance": dict(prov, run_time_s=round(run_s, 3))}


def _fixed_norm_doc(o: RunOptions, jobs, results, prov) -> dict:
    rows, run_s = [], 0.0
    for job in jobs:
        if job["experiment"] != "cs_fixed_norm":
            continue
        cfg = job["cfg"]
        res = results[("cs_fixed_norm", cfg.n, cfg.optimizer)]
        run_s += res["run_s"]
        row = make_row(3, cfg, res["summaries"][0], "full")
        free = results.get(("cs_full", cfg.n, cfg.optimizer))
        if free is not None:                      # the same draws without the constraint (Tables 2-3)
            f = free["summaries"][0]
            row["unconstrained"] = {k: f.get(k) for k in ("corr_mean", "reduction_freq", "dec_mean", "inc_mean",
                                                          "cos_before_median", "cos_after_median",
                                                          "knorm_ratio_median", "decorrelation_share")}
        rows.append(row)
    return {"schema_version": SCHEMA_VERSION,
            "title": "Fixed-norm control: Tables 2-3's runs (L_CS minimised, Table 8 hyper-parameters, full padding, "
                     "the same draws) with each kernel projected back to its initial norm after every step",
            "description": "L_CS is homogeneous of degree 4 in the kernels' scale, so an unconstrained optimiser "
                           "lowers it mostly by shrinking them. Here the kernels cannot shrink: every decrease of "
                           "<F1,F2>^2 is a change of direction. The paper's Table 3 values are shown for reference "
                           "(the paper ran no such control); 'unconstrained' is our Tables 2-3 row on the same "
                           "episodes.",
            "experiment": _experiment_block("cs_fixed_norm"), "columns": list(TABLE_COLUMNS[3]),
            "options": options_block(o), "definitions": mt.definitions(), "rows": rows,
            "provenance": dict(prov, run_time_s=round(run_s, 3))}


def _cos2_doc(o: RunOptions, jobs, results, prov) -> dict:
    """Table 3 judged with s_t = cos²(F1, F2): the same runs, the scale removed from the similarity."""
    rows, run_s = [], 0.0
    for job in jobs:
        if job["experiment"] != "cs_full":
            continue
        res = results[("cs_full", job["cfg"].n, job["cfg"].optimizer)]
        run_s += res["run_s"]
        rows.append(make_row(3, job["cfg"], res["cos2"], "full"))
    return {"schema_version": SCHEMA_VERSION, "table": 3,
            "title": "Table 3 judged with s_t = cos²(F1,F2): how much of each decrease survives once the feature "
                     "maps' scale is removed (same runs as Tables 2-3)",
            "experiment": _experiment_block("cs_full"), "columns": list(TABLE_COLUMNS[3]),
            "options": dict(options_block(o), metric="cos2"), "definitions": mt.definitions(), "rows": rows,
            "verdict": table_verdict(3, rows), "provenance": dict(prov, run_time_s=round(run_s, 3))}


def results_files(o: RunOptions, run: dict) -> tuple[dict, dict]:
    """The results as ``{path: JSON text}`` and as documents (``{"index", "docs"}``, read back from that text)."""
    out = Path(o.out)
    jobs, results, prov = run["jobs"], run["results"], run["provenance"]
    docs = {f"table{t}": _table_doc(t, o, jobs, results, prov) for t in o.tables}
    if o.padding_sweep:
        docs["padding_sweep"] = _sweep_doc(o, jobs, results, prov)
    if o.fixed_norm:
        docs["fixed_norm"] = _fixed_norm_doc(o, jobs, results, prov)
    if o.cos2_section and any(j["experiment"] == "cs_full" for j in jobs):
        docs["cos2_table3"] = _cos2_doc(o, jobs, results, prov)
    curves = [{"experiment": k[0], "n": k[1], "optimizer": k[2], **v["curves"]}
              for k, v in results.items() if v["curves"] is not None]
    index = {"schema_version": SCHEMA_VERSION, "experiment": "montecarlo",
             "documents": {k: f"{k}.json" for k in docs}, "options": options_block(o), "trajectories": curves,
             "provenance": prov}
    texts = {out / f"{k}.json": dumps_json(doc) for k, doc in docs.items()}
    texts[out / "results.json"] = dumps_json(index)
    # What a later `report` reads: the documents as they round-trip through JSON.
    back = {"index": json.loads(texts[out / "results.json"]),
            "docs": {k: json.loads(texts[out / f"{k}.json"]) for k in docs}}
    return texts, back


def seed_documents(o: RunOptions, seed: int) -> dict:
    """One seed's documents (``{"index", "docs"}``, as they round-trip through JSON); a pool worker's item."""
    o = replace(o, seed=seed, progress=False) if o.jobs > 1 else replace(o, seed=seed)
    return results_files(o, run_tables(o))[1]


def _seed_item(item, dest):
    """:class:`~experiments.common.executors.LocalPool` entry point: ``item = (options, seed)``."""
    return seed_documents(*item)


def multi_seed_files(o: RunOptions, seeds: list[int], log=None) -> tuple[dict, dict, float]:
    """Run every seed and aggregate (:mod:`.seeds`): ``({path: JSON text}, documents, wall seconds)``.

    With ``o.jobs > 1`` the seeds run in a local pool of worker processes; every seed is deterministic and
    independent of the others, so the documents are the same as with one process (the suite checks it).
    """
    from experiments.common.executors import LocalPool, Sequential

    from .seeds import aggregate_doc

    t0 = time.perf_counter()
    pool = Sequential() if o.jobs == 1 else LocalPool(min(o.jobs, len(seeds)))
    got = {}
    for k, back, _ in pool.map(_seed_item, [(k, (o, s), None) for k, s in enumerate(seeds)]):
        got[k] = back
        if log is not None:
            log(f"seed {seeds[k]}: done")
    backs = [got[k] for k in range(len(seeds))]
    out = Path(o.out)
    docs = {k: aggregate_doc(k, [b["docs"][k] for b in backs], seeds) for k in backs[0]["docs"]}
    index = dict(backs[0]["index"])
    wall = time.perf_counter() - t0
    index["provenance"] = dict(index["provenance"], seed=list(seeds), wall_time_s=round(wall, 3))
    index["options"] = dict(index["options"], seeds=list(seeds))
    for d in docs.values():
        d["options"] = dict(d["options"], seeds=list(seeds))
        d["provenance"]["wall_time_s"] = round(wall, 3)
    texts = {out / f"{k}.json": dumps_json(doc) for k, doc in docs.items()}
    texts[out / "results.json"] = dumps_json(index)
    back = {"index": json.loads(texts[out / "results.json"]),
            "docs": {k: json.loads(texts[out / f"{k}.json"]) for k in docs}}
    return texts, back, wall


def main(o: RunOptions, ctx: dict) -> int:
    """The ``run`` verb: run, then write the results and (unless ``--no-report``) the report, all atomically."""
    log = ctx.get("log")
    o = replace(o, command=o.command or ctx.get("command"))
    check_memory(o)                                   # a run that cannot fit in memory: refused before any work
    if o.seeds is not None and len(o.seeds) > 1:
        files, back, wall = multi_seed_files(o, o.seeds, log)
        if o.report:
            files.update(render(back, o.out, plot=o.plot))
        paths = write_folder_atomic(o.out, files, owned=RUN_FILES)
        if log is not None:
            log(f"wrote {len(paths)} files to {o.out} in {wall:.2f} s ({len(o.seeds)} seeds)")
        return 0
    if o.seeds is not None:
        o = replace(o, seed=o.seeds[0])
    run = run_tables(o)
    files, back = results_files(o, run)
    if o.report:
        files.update(render(back, o.out, plot=o.plot))
    paths = write_folder_atomic(o.out, files, owned=RUN_FILES)
    if log is not None:
        log(f"wrote {len(paths)} files to {o.out} in {run['provenance']['wall_time_s']:.2f} s")
    return 0
