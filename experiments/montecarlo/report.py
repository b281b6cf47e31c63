"""The report of a Monte Carlo run: a pure function of its results directory (CS paper, Tables 1, 2, 3, 6).

:func:`write_report` reads ``results.json`` and the documents it lists (``tableK.json``,
``padding_sweep.json``, written by :mod:`.run`) and writes ``tableK.md``, ``padding_sweep.md``, ``REPORT.md``,
``README.md`` (the JSON schema) and ``trajectories.png`` into the output directory; nothing is computed
from episodes. :func:`render` is the same without the disk: ``run`` calls it on its results before writing,
so a report rendered later from the committed results is the same text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tabulate import tabulate

from experiments.common.cli import UsageError
from experiments.common.commit import write_folder_atomic
from experiments.common.io import read_json
from experiments.common.report import figure_png, fmt, pyplot

from .spec import EXPERIMENTS, M, TABLE_COLUMNS
from .verdict import COLUMN_LABELS, COUNT_FOR

__all__ = ["SCHEMA_MD", "load_results", "render", "write_report", "table_markdown", "sweep_markdown", "plot_png"]

STATUS_MARK = {"match": "✓", "close": "≈", "differs": "✗", None: ""}
COMMAND = "python -m experiments montecarlo run"
DOC_ORDER = ("table1", "table2", "table3", "table6", "cos2_table3", "padding_sweep", "fixed_norm")


# ----------------------------------------------------------------------------------------------- tables

def _cell(row, col):
    c = row["comparison"].get(col)
    ci = row["ci"].get(col)
    ours = fmt(row.get(col))
    se = (row.get("se") or {}).get(col)
    if row.get("seeds", 1) > 1:
        if se is not None:
            ours += f" ± {fmt(se)}"
    elif ci and ci[0] is not None:
        ours += f" [{fmt(ci[0])}, {fmt(ci[1])}]"
    if col in COUNT_FOR and row.get(COUNT_FOR[col]) is not None and row.get(col) is None:
        ours = f"– (none of {row['episodes']})"
    if c is None or c["paper"] is None:
        return ours
    diff = "" if c["diff"] is None else f", Δ {'+' if c['diff'] >= 0 else '−'}{fmt(abs(c['diff']))}"
    if c.get("z") is not None:
        diff += f" ({abs(c['z']):.1f} SE)"
    return f"{ours} · paper {fmt(c['paper'])}{diff} {STATUS_MARK[c['status']]}"


def _cells_text(doc: dict) -> str:
    seeds = doc.get("seeds")
    if seeds and len(seeds) > 1:
        return (f"Cells: ours = mean over {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}) ± its standard error · paper "
                "(Δ = ours − paper, in SE) ✓ within 3 SE, ≈ within tolerance, ✗ differs.")
    return ("Cells: ours [95% interval] · paper (Δ = ours − paper) ✓ paper inside our interval, ≈ within "
            "tolerance, ✗ differs.")


def pooled_markdown(doc: dict) -> list[str]:
    """The pooled Table 3 test of a multi-seed Table 3 document (no lines otherwise)."""
    pt = doc.get("pooled_test")
    if not pt:
        return []
    body = [[r["n"], r["optimizer"], r["episodes"], r["not_reduced"], f"{100 * r['q']:.3g} %",
             f"[{100 * r['q_ci'][0]:.3g}, {100 * r['q_ci'][1]:.3g}] %", fmt(r["p_all_reduce"])] for r in pt["rows"]]
    return ["### Pooled test of the paper's six 100 % rows", "",
            tabulate(body, headers=["N", "Opt.", "episodes (all seeds)", "not reduced", "rate q",
                                    "Clopper-Pearson 95 %", f"P({pt['episodes_paper']} of {pt['episodes_paper']} reduce)"],
                     tablefmt="pipe", disable_numparse=True), "", pt["text"], ""]


def table_markdown(doc: dict) -> str:
    """``tableK.md``: the table beside the paper's values, the verdict and the per-row statements."""
    t = doc["table"]
    cols = TABLE_COLUMNS[t]
    head = ["N", "Opt.", "lr", "T", "div."] + [COLUMN_LABELS[c] for c in cols] + [
        "med. abs cos(F1,F2) before → after", "med. ‖K1‖‖K2‖ after/before", "decrease from"]
    body = []
    for r in doc["rows"]:
        body.append([r["n"], r["optimizer"], fmt(r["lr"]), r["iterations"], r["diverged"]] +
                    [_cell(r, c) for c in cols] +
                    [f"{fmt(r['cos_before_median'])} → {fmt(r['cos_after_median'])}",
                     fmt(r["knorm_ratio_median"]), r["decrease_source"]])
    lines = [f"## {doc['title']}", "",
             f"Objective: {doc['experiment']['objective_text']}; feature maps: {doc['experiment']['padding']} "
             f"cross-correlation; hyper-parameters: the paper's Table {doc['experiment']['hyper_table']}; "
             f"{doc['options']['episodes']} episodes per row; metric s_t = {doc['options']['metric']}, "
             f"correlation = {doc['options']['corr']}. " + _cells_text(doc), "",
             tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True), "",
             "### Verdict", ""]
    lines += [f"- {s}" for s in doc["verdict"]["text"]]
    if doc.get("pooled_test"):
        lines += [""] + pooled_markdown(doc)
    lines += ["", "### Per row: decrease from decorrelation or from shrinking kernels", ""]
    lines += [f"- N={r['n']} {r['optimizer']}: {r['decrease_statement']}" for r in doc["rows"]]
    return "\n".join(lines) + "\n"


def sweep_markdown(doc: dict) -> str:
    """``padding_sweep.md``: every padding's row and the findings."""
    head = ["N", "Opt.", "padding (left, right)", "div.", "Corr. mean", "Corr. std", "Reduction freq. (%)",
            "Decrease mean (%)", "Increase mean (%) [count]", "med. abs cos before → after", "decrease from"]
    body = []
    for r in doc["rows"]:
        body.append([r["n"], r["optimizer"], f"{r['padding_label']} {tuple(r['pads'])}", r["diverged"],
                     fmt(r["corr_mean"]), fmt(r["corr_std"]), fmt(r["reduction_freq"]), fmt(r["dec_mean"]),
                     f"{fmt(r['inc_mean'])} [{r['n_inc']}]",
                     f"{fmt(r['cos_before_median'])} → {fmt(r['cos_after_median'])}", r["decrease_source"]])
    lines = [f"## {doc['title']}", "", doc["description"], "",
             tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True), "", "### Findings", ""]
    lines += [f"- {s}" for s in doc["findings"]]
    return "\n".join(lines) + "\n"


def fixed_norm_markdown(doc: dict) -> str:
    """``fixed_norm.md``: the fixed-norm control in Table 3's layout, the unconstrained row beside it."""
    cols = TABLE_COLUMNS[3]
    head = ["N", "Opt.", "lr", "T", "div.", "Corr. mean"] + [COLUMN_LABELS[c] for c in cols] + [
        "med. abs cos(F1,F2) before → after", "med. ‖K1‖‖K2‖ after/before", "decrease from",
        "unconstrained (Tables 2-3): reduction freq. / decrease mean / med. abs cos after"]
    body = []
    for r in doc["rows"]:
        u = r.get("unconstrained") or {}
        body.append([r["n"], r["optimizer"], fmt(r["lr"]), r["iterations"], r["diverged"], fmt(r.get("corr_mean"))]
                    + [_cell(r, c) for c in cols]
                    + [f"{fmt(r['cos_before_median'])} → {fmt(r['cos_after_median'])}", fmt(r["knorm_ratio_median"]),
                       r["decrease_source"],
                       " / ".join(fmt(u.get(k)) for k in ("reduction_freq", "dec_mean", "cos_after_median")) if u
                       else "–"])
    lines = [f"## {doc['title']}", "", doc["description"], "",
             "Cells: ours [95% interval] · the paper's Table 3 value (no constraint there) with the same marks as "
             "the tables.", "", tabulate(body, headers=head, tablefmt="pipe", disable_numparse=True), "",
             "### Per row", ""]
    lines += [f"- N={r['n']} {r['optimizer']}: {r['decrease_statement']}" for r in doc["rows"]]
    return "\n".join(lines) + "\n"


def _doc_markdown(key: str, doc: dict) -> str:
    if key.startswith("table") or key == "cos2_table3":
        return table_markdown(doc)
    return fixed_norm_markdown(doc) if key == "fixed_norm" else sweep_markdown(doc)


SCHEMA_MD = """\
## JSON schema

`results.json` indexes one run (`python -m experiments montecarlo report` reads it):

| key | meaning |
|---|---|
| `schema_version` | 2 |
| `experiment` | `montecarlo` |
| `documents` | the result documents of the run, name -> file: `table1` ... `table6`, `padding_sweep` |
| `options` | the run's options (as in each document) |
| `trajectories` | per row of Tables 1 and 2/3: `experiment`, `n`, `optimizer` and the medians over finite episodes, on about 120 steps, of `sim_ratio` (<F1,F2>²_t/<F1,F2>²_0), `cos` (abs cos(F1,F2)_t) and `fnorm_ratio` (‖F1‖‖F2‖_t / at t = 0), against `t` (t/T): the curves of trajectories.png |
| `provenance` | as in each document, without `run_time_s` |

`table1.json`, `table2.json`, `table3.json`, `table6.json`, top level:

| key | meaning |
|---|---|
| `schema_version` | 2 |
| `table` | 1, 2, 3 or 6 (the CS paper's table) |
| `title` | the table's subject |
| `experiment` | `key` (`kernel_full`, `cs_full`, `cs_valid`; Tables 2 and 3 share `cs_full`), `objective`, `objective_text`, `padding` of the feature maps, `hyper_table` (7, 8 or 9), `M` (64) |
| `columns` | the paper's columns of this table (keys of `paper` / `comparison`) |
| `options` | `episodes`, `metric` (`sim`, `abs`, `cos2`), `corr` (`pearson`, `spearman`), `small_n`, `bootstrap` (resamples), `iterations_scale`, `max_iterations`, `padding_sweep` |
| `definitions` | the metric definitions in words |
| `rows` | one object per configuration, paper order (smallest size Adam, SGD for each N read, then 9, 16) |
| `verdict` | `grade`, `smallest_n` (the reading that fits), `cells_ok`/`cells`, `readings` (per smallest N), `differing_cells`, `text` (list of sentences) |
| `provenance` | `seed`, `versions` (python, numpy, scipy, torch, tabulate), `device`, `dtype`, `threads`, `git_commit`, `git_dirty`, `command`, `started_utc`, `wall_time_s` (whole invocation), `run_time_s` (this table's runs) |

Row fields:

| key | meaning |
|---|---|
| `n`, `paper_row`, `optimizer`, `lr`, `iterations`, `padding` | configuration (`paper_row`: `smallest`, 9 or 16) |
| `episodes`, `diverged`, `finite` | counts; diverged = any non-finite value; they are excluded from all statistics except the reduction frequency's denominator |
| `corr_mean`, `corr_std`, `corr_defined`, `corr_undefined` | per-episode correlation objective vs s_t (t = 0..T), mean and std (ddof 0) over the episodes where defined |
| `reduction_freq`, `reduction_freq_finite` | percent of all / of finite episodes with s_T < s_0 |
| `n_dec`, `dec_mean`, `dec_std`, `dec_median` | 100(1 - s_T/s_0) over decreasing episodes (`null` when none) |
| `n_inc`, `inc_mean`, `inc_std`, `inc_median` | 100(s_T/s_0 - 1) over increasing episodes (`null` when none; the paper prints 0) |
| `cos_before_median`, `cos_after_median` | median abs cos(F1, F2) at t = 0 and t = T |
| `inc_cos_before_median` | median abs cos(F1, F2) at t = 0 over the increasing episodes (`null` when none) |
| `knorm_ratio_median` | median of (‖K1_T‖·‖K2_T‖)/(‖K1_0‖·‖K2_0‖) |
| `log10_sim_ratio_mean`, `log10_cos2_ratio_mean`, `log10_fnorm2_ratio_mean`, `decorrelation_share` | over decreasing episodes: mean log10 of <F1,F2>² after/before = mean log10 cos² ratio + mean log10 ‖F1‖²‖F2‖² ratio; share = cos part / total |
| `decrease_source`, `decrease_statement` | `decorrelation` (share ≥ 2/3), `shrinking kernels` (≤ 1/3), `both`, or `none`, and the sentence with the numbers |
| `ci` | 95% intervals `[lo, hi]` per statistic (percentile bootstrap for means, stds, frequency; order statistics for medians); `null` when not computable |
| `paper` | the paper's printed values for this table's columns (`null`: not printed) |
| `comparison` | per paper column: `paper`, `ours`, `ci`, `diff` (ours − paper), `status` (`match`: paper inside our interval; `close`: within tolerance; `differs`) |

`padding_sweep.json` has the same top level (without `table`, `columns`, `verdict`; with `description`
and `findings`) and rows with, in addition, `padding_label` (`P=k` or `same`) and `pads` ([left, right]);
rows carry no `paper`/`comparison`. Non-finite numbers are written as `null`.
"""


def plot_png(curves: dict) -> bytes | None:
    """Median trajectories for Table 1 vs Tables 2/3: s_t/s_0, |cos(F1,F2)|, ||F1||·||F2|| / at t=0.

    ``curves[(experiment, n, optimizer)] = {"t": ..., "sim_ratio": ..., "cos": ..., "fnorm_ratio": ...}``.
    Returns PNG bytes (matplotlib, Agg backend) or None when there is nothing to plot.
    """
    exps = [e for e in ("kernel_full", "cs_full") if any(k[0] == e for k in curves)]
    if not exps:
        return None
    plt = pyplot()
    quantities = [("sim_ratio", "median  <F1,F2>²_t / <F1,F2>²_0", True),
                  ("cos", "median  |cos(F1,F2)|_t", False),
                  ("fnorm_ratio", "median  ‖F1‖‖F2‖_t / ‖F1‖‖F2‖_0", True)]
    fig, axes = plt.subplots(len(quantities), len(exps), figsize=(6.2 * len(exps), 10), squeeze=False)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.06, hspace=0.3, wspace=0.25)
    titles = {"kernel_full": "Table 1: minimise <K1,K2>²", "cs_full": "Tables 2/3: minimise L_CS (full)"}
    for j, e in enumerate(exps):
        keys = sorted((k for k in curves if k[0] == e), key=lambda k: (k[1], k[2]))
        for i, (q, label, log) in enumerate(quantities):
            ax = axes[i][j]
            for k in keys:
                c = curves[k]
                ax.plot(np.asarray(c["t"], dtype=float), np.asarray(c[q], dtype=float),   # null -> NaN
                        label=f"N={k[1]} {k[2]}", lw=1.3,
                        ls="-" if k[2] == "adam" else "--")
            if log:
                ax.set_yscale("log")
            ax.set_xlabel("iteration t / T")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(titles[e])
        axes[0][j].legend(fontsize=7, ncol=2)
    return figure_png(fig, dpi=90)


def _hyper_md() -> str:
    body = []
    for size in ("small", 9, 16):
        for opt in ("adam", "sgd"):
            body.append([("2 / 3" if size == "small" else size), opt] +
                        [f"{EXPERIMENTS[e].hyper[(size, opt)][0]} / {EXPERIMENTS[e].hyper[(size, opt)][1]}"
                         for e in ("kernel_full", "cs_full", "cs_valid")])
    return tabulate(body, headers=["N", "optimiser", "Table 7 → Table 1", "Table 8 → Tables 2-3",
                                   "Table 9 → Table 6"], tablefmt="pipe", disable_numparse=True)


def _chosen_rows(doc: dict) -> list:
    n = doc["verdict"]["smallest_n"]
    return [r for r in doc["rows"] if r["paper_row"] != "smallest" or r["n"] == n]


def _cs_summary(doc: dict) -> str:
    rows = _chosen_rows(doc)
    shrink = [r for r in rows if r["decrease_source"] == "shrinking kernels"]
    small = [r for r in rows if r["paper_row"] == "smallest"]
    kr = [r["knorm_ratio_median"] for r in rows if r["knorm_ratio_median"] is not None]
    return (f"- Convolutional Similarity (Table {doc['table']}): the \"~100% decrease\" is reproduced, but in "
            f"{len(shrink)} of {len(rows)} rows most of the log-decrease of <F1,F2>² is the shrinking of the "
            f"kernels (median ‖K1‖‖K2‖ after/before {fmt(min(kr))} to {fmt(max(kr))}; L_CS is homogeneous of "
            "degree 4 and has no zero with two nonzero kernels), not orthogonality: for the smallest size the "
            "median |cos(F1,F2)| only goes from "
            + ", ".join(f"{fmt(r['cos_before_median'])} to {fmt(r['cos_after_median'])} ({r['optimizer']})"
                        for r in small)
            + ". See each table's per-row statements.")


def _seed_text(seed) -> str:
    if isinstance(seed, list):
        return f"seeds {seed[0]}-{seed[-1]} ({len(seed)} seeds)" if len(seed) > 1 else f"seed {seed[0]}"
    return f"seed {seed}"


def report_markdown(index: dict, docs: dict, has_png: bool) -> str:
    """``REPORT.md``: summary, protocol, definitions, every table, the sweep and the figure."""
    prov, o = index["provenance"], index["options"]
    lines = ["# Monte Carlo reproduction of the CS paper's Tables 1, 2, 3 and 6", "",
             "Generated by `" + (prov.get("command") or COMMAND) + "` "
             f"({_seed_text(prov['seed'])}, {o['episodes']} episodes per row, {prov['device']} {prov['dtype']}, "
             f"{prov['threads']} thread(s), git {str(prov['git_commit'])[:12]}"
             f"{' + local changes' if prov.get('git_dirty') else ''}, wall time {prov['wall_time_s']:.2f} s "
             "for the whole invocation). Do not edit by hand: rerun the command.", ""]
    timing = []
    for key, doc in docs.items():
        if (key == "table3" and "table2" in docs) or key == "cos2_table3":
            continue
        label = {"table2": "Tables 2/3", "table3": "Tables 2/3", "padding_sweep": "padding sweep",
                 "fixed_norm": "fixed-norm control", "cos2_table3": "Table 3 with cos²"}.get(
            key, f"Table {doc.get('table')}")
        timing.append(f"{label} {doc['provenance']['run_time_s']:.2f} s")
    lines += ["Batched optimisation time (all rows of a table, excluding statistics and rendering): "
              + ", ".join(timing) + ".", "", "## Summary", ""]
    for key, doc in docs.items():
        if key.startswith("table"):
            v = doc["verdict"]
            lines.append(f"- **Table {doc['table']}**: {v['grade']} (smallest size read as N = {v['smallest_n']}; "
                         f"{v['cells_ok']}/{v['cells']} cells match or are within tolerance).")
    if "cos2_table3" in docs:
        rows = _chosen_rows(docs["cos2_table3"])
        lines.append("- Table 3 judged with s_t = cos²(F1,F2) (scale removed, same runs): reduction frequency "
                     f"{fmt(min(r['reduction_freq'] for r in rows))}-{fmt(max(r['reduction_freq'] for r in rows))} % "
                     f"and mean decrease {fmt(min(r['dec_mean'] for r in rows if r['dec_mean'] is not None))}-"
                     f"{fmt(max(r['dec_mean'] for r in rows if r['dec_mean'] is not None))} % over the rows, against "
                     "the paper's 100 % rows (section below).")
    small = {doc["verdict"]["smallest_n"] for k, doc in docs.items() if k.startswith("table")}
    if len(small) == 1 and len(o["small_n"]) > 1:
        lines.append(f"- The smallest kernel size that reproduces the paper is **N = {small.pop()}** in every "
                     "table (the extracted tables' label \"2\" is garbled; Section 3.1's \"N = 3\" is right).")
    for key in ("table3", "table6", "table2"):
        if key in docs:
            lines.append(_cs_summary(docs[key]))
            break
    if "table1" in docs:
        rows = _chosen_rows(docs["table1"])
        lines.append("- Table 1 (kernel orthogonality): median |cos(F1,F2)| after optimisation "
                     f"{fmt(min(r['cos_after_median'] for r in rows))}-{fmt(max(r['cos_after_median'] for r in rows))}"
                     " (before: "
                     f"{fmt(min(r['cos_before_median'] for r in rows))}-{fmt(max(r['cos_before_median'] for r in rows))}"
                     "): orthogonal kernels leave the feature maps correlated, as the paper says.")
    lines.append("")
    lines += ["## Protocol", "",
              f"Each episode draws K1, K2 ~ U(-1, 1)^N and X ~ U(0, 1)^M with M = {M}, then runs the optimiser on "
              "the two kernels for the configured number of iterations, recording the objective and the "
              "feature-map similarity at t = 0..T (t = 0 before any step). Feature maps are cross-correlations "
              "(CS eq. 1b, 12-14); the runner never forms them: <Fa,Fb> = Ka^T G Kb with the per-episode Gram "
              "matrix G of the kept output window (for full padding, through the identity <F1,F2> = "
              "<K1*K2, X*X> in a length-(2N-1) DFT). Gradients are closed-form. Optimisers: Adam with "
              "torch.optim.Adam's defaults (betas (0.9, 0.999), eps 1e-8, no weight decay; the fused kernel of "
              "Adam(fused=True), batched over episodes, which equals independent per-episode Adams) and plain "
              "SGD (no momentum). All episodes of a row run as one batch (torch, "
              f"{prov['dtype']}). Draws are seeded per configuration "
              "from (seed, experiment, N, optimiser), so a row never depends on which tables were requested; "
              "Tables 2 and 3 are one set of runs.", "",
              "Hyper-parameters (lr / iterations; rows in the order the extracted tables print them, the "
              "smallest size run both as N = 2 and N = 3):", "", _hyper_md(), "",
              "## Metric definitions", ""]
    definitions = next(iter(docs.values()))["definitions"]
    for k, v in definitions.items():
        lines.append(f"- **{k}**: {v if isinstance(v, str) else '; '.join(f'{a} = {b}' for a, b in v.items())}")
    lines += [f"- Chosen here: s_t = **{o['metric']}**, correlation = **{o['corr']}**.",
              "- Decrease split: log10(<F1,F2>²_T/<F1,F2>²_0) = log10(cos² ratio) + log10(‖F1‖²‖F2‖² ratio), "
              "averaged over decreasing episodes; 'decorrelation' when the cos² part is at least 2/3 of the "
              "total, 'shrinking kernels' when at most 1/3.",
              ("- Comparison marks (across seeds): ✓ reproduced, the paper's value within 3 standard errors of "
               "our mean over seeds; ≈ near, outside that but within tolerance" if isinstance(prov["seed"], list)
               and len(prov["seed"]) > 1 else
               "- Comparison marks: ✓ paper value inside our 95% interval; ≈ within tolerance")
              + " (correlations 0.05, frequencies and decrease means 2 points, decrease std max(1 point, 25%), "
              "increase columns a factor 3); ✗ differs.", ""]
    for key, doc in docs.items():
        if key.startswith("table"):
            lines.append(table_markdown(doc).replace("\n## ", "\n### "))
    if "cos2_table3" in docs:
        lines.append(table_markdown(docs["cos2_table3"]).replace("\n## ", "\n### "))
    if "padding_sweep" in docs:
        lines.append(sweep_markdown(docs["padding_sweep"]))
    if "fixed_norm" in docs:
        lines.append(fixed_norm_markdown(docs["fixed_norm"]))
    if has_png:
        lines += ["## Trajectories", "",
                  "![median trajectories](trajectories.png)", "",
                  "Median over episodes of <F1,F2>²_t/<F1,F2>²_0, |cos(F1,F2)|_t and ‖F1‖‖F2‖_t/‖F1‖‖F2‖_0 "
                  "against t/T, Table 1 (kernel similarity) vs Tables 2/3 (L_CS, full padding).", ""]
    return "\n".join(lines) + "\n"


def readme_markdown() -> str:
    """``README.md`` of a results directory: the files and the JSON schema."""
    return "\n".join([
        "# reports/montecarlo", "",
        "Generated by `python -m experiments montecarlo run --tables 1 2 3 6 --episodes 1000 --seeds 0 1 2 3 4 5 6 7 8 9 --device cpu "
        "--padding-sweep --fixed-norm --cos2-section` (see `experiments/README.md`); `python -m experiments montecarlo report --results DIR "
        "--out DIR` renders the markdown and the figure again from the JSON. Do not edit by hand.", "",
        "| file | content |", "|---|---|",
        "| `results.json` | index of the run: documents, options, trajectory curves, provenance |",
        "| `REPORT.md` | all tables, protocol, metric definitions, verdicts |",
        "| `tableK.md`, `tableK.json` | one CS-paper table (K = 1, 2, 3, 6): ours, 95% intervals, the paper's values, differences, verdict |",
        "| `padding_sweep.md`, `padding_sweep.json` | Table 6 protocol for every padding P in [0, N-1] and 'same' |",
        "| `fixed_norm.md`, `fixed_norm.json` | the fixed-norm control: Tables 2-3's runs with the kernels held at their norms |",
        "| `cos2_table3.md`, `cos2_table3.json` | Table 3 judged with s_t = cos²(F1,F2) (scale removed), same runs |",
        "| `trajectories.png` | median trajectories, Table 1 vs Tables 2/3 |", "",
        SCHEMA_MD])


# ----------------------------------------------------------------------------------------------- pipeline

def load_results(results_dir) -> dict:
    """``{"index": results.json, "docs": {name: document}}`` of a results directory, documents in report order."""
    d = Path(results_dir)
    try:
        index = read_json(d / "results.json")
        names = index["documents"]
        docs = {k: read_json(d / names[k]) for k in DOC_ORDER if k in names}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--results: {d} does not hold complete results of `montecarlo run` ({type(exc).__name__}: "
                         f"{exc}); run it again, or restore the files") from None
    return {"index": index, "docs": docs}


def render(results: dict, out_dir, *, plot: bool = True) -> dict:
    """Every report file as ``{path: text | bytes}`` from ``load_results``-shaped ``results`` (pure)."""
    out = Path(out_dir)
    index, docs = results["index"], results["docs"]
    files = {}
    for key, doc in docs.items():
        files[out / f"{key}.md"] = _doc_markdown(key, doc)
    png = None
    if plot:
        curves = {(c["experiment"], c["n"], c["optimizer"]): c for c in index.get("trajectories") or []}
        png = plot_png(curves) if curves else None
        if png is not None:
            files[out / "trajectories.png"] = png
    files[out / "REPORT.md"] = report_markdown(index, docs, png is not None)
    files[out / "README.md"] = readme_markdown()
    return files


def write_report(results_dir, out_dir, *, plot: bool = True, log=None) -> list[Path]:
    """Render the report of ``results_dir`` into ``out_dir`` (the folder changes in one step,
    :func:`~experiments.common.commit.write_folder_atomic`); returns the paths written."""
    from .spec import REPORT_FILES

    paths = write_folder_atomic(out_dir, render(load_results(results_dir), out_dir, plot=plot), owned=REPORT_FILES)
    if log is not None:
        log(f"wrote the report ({len(paths)} files) to {out_dir}")
    return paths
