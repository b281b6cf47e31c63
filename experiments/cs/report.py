"""The CS report (``REPORT.md`` and ``figures/``), a pure function of a results directory:
:func:`write_report` reads ``<results>/<group>/{table5,fig5}/<run>.json`` and writes only into its output
directory (Table 5 analogue with verdicts, what Algorithm 1 does to the kernels, Figures 1-3 and 5 analogues).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

from experiments.common.io import read_json, write_json_atomic, write_text_atomic
from experiments.common.report import figure_lines, fmt_g, markdown_table, pm, protocol_of, regenerate_block
from experiments.common.stats import mean_std
from experiments.training.results import collect, describe_settings

from .converged_report import converged_claims, converged_section, fig5_claims, fig5_section, kernels_lines
from .figures import fig5_figures, table5_figures
from .metrics import table5_rows, verdict
from .spec import METHOD_LABELS, MODEL_LABELS, PAPER_TABLE5, PROTOCOLS, TABLE5_COMMON

__all__ = ["write_report"]


def _kv(d: dict) -> str:
    return ", ".join(f"{k}={'all' if v is None else ('/'.join(map(str, v)) if isinstance(v, tuple) else v)}"
                     for k, v in d.items() if k != "arms")


def _describe_runs(records) -> str:
    c0, s0 = records[0]["config"], records[0]["summary"]
    keys = ["dataset", "train_per_class", "test_per_class", "epochs", "batch_size", "optimizer", "lr",
            "momentum", "weight_decay", "augment"] + (["width"] if c0["model"] == "resnet18" else [])
    return f"{s0['train_size']} train / {s0['test_size']} test images; " + describe_settings(records, keys)


def _table5_section(group, records, fig_names) -> list[str]:
    proto = protocol_of(group)
    rows = table5_rows(records)
    out = [f"### Table 5 analogue — group `{group}`", ""]
    desc = PROTOCOLS.get(proto, {}).get("description", "")
    out += [f"Protocol **{group}** ({desc}). Runs: {_describe_runs(records)}. "
            "Data: **Fashion-MNIST** (1x28x28; paper: CIFAR-10 3x32x32). Top test accuracy = the best of the "
            "per-epoch test accuracies of a run (as Table 5), then mean ± sample std over seeds.", ""]
    table = []
    for (model, method), r in rows.items():
        base = rows.get((model, "baseline"))
        d = None
        if base and method != "baseline" and r["best"][0] is not None and base["best"][0] is not None:
            d = (r["best"][0] - base["best"][0]) * 100
        paper = PAPER_TABLE5.get((model, method))
        pd = paper - PAPER_TABLE5[(model, "baseline")] if method != "baseline" else None
        table.append([MODEL_LABELS[model], METHOD_LABELS[method], f"{paper:.2f}",
                      "–" if pd is None else f"{pd:+.2f}", pm(*r["best"]),
                      "–" if d is None else f"{d:+.2f}",
                      ", ".join(f"{x * 100:.2f}" for x in r["best_each"]),
                      pm(*r["last"]), pm(*r["train_acc"])])
    out.append(markdown_table(table, headers=["model", "method", "paper top test acc % (CIFAR-10, 100 ep)",
                                              "paper Δ vs baseline", "ours top test acc %", "ours Δ vs baseline",
                                              "ours per seed", "ours last-epoch test acc %",
                                              "ours last-epoch train acc %"]))
    out += ["", "**Verdict** (this protocol only; eval-mode BatchNorm as trained):", ""]
    for model in ("cnn1", "cnn2"):
        out += [f"- {line}" for line in verdict(rows, model)]
    out += [""]
    recal = any(h.get("test_acc_recal") is not None for r in records for h in r["history"])
    if recal:
        out += ["**Verdict with BatchNorm recalibrated** (the best of the recalibrated tests: running statistics "
                f"re-estimated on {records[0]['config']['bn_recal_batches']} training batches before each test; the "
                "training is the same):", ""]
        for model in ("cnn1", "cnn2"):
            out += [f"- {line}" for line in verdict(rows, model, key="best_recal_each")]
        out += [""]
    elif proto == "quick":
        out += ["**These eval-mode verdicts are not findings about the methods.** After a few dozen SGD steps the "
                "BatchNorm running statistics (momentum 0.1) still lag the weights, and Algorithm 1's kernels, "
                "shrunk several-fold, move fastest; the eval-mode test then reports the statistics, not the "
                "network (test loss near ln 10 while the train-mode accuracy is far above chance). The group "
                "`quick-recal` re-runs the same runs with a recalibrated test, and the converged design "
                "(`converged`) decides the paper's claims.", ""]
    # what Algorithm 1 did to the kernels
    kt = []
    for (model, method), r in rows.items():
        kt.append([MODEL_LABELS[model], METHOD_LABELS[method],
                   fmt_g(r["lcs_init"][0] if method == "alg1" else r["lcs0"][0]), fmt_g(r["lcs0"][0]),
                   fmt_g(r["lcs_end"][0]),
                   fmt_g(r["lcs_init_norm"][0] if method == "alg1" else r["lcs0_norm"][0]), fmt_g(r["lcs0_norm"][0]),
                   fmt_g(r["knorm_init"][0] if method == "alg1" else r["knorm0"][0]), fmt_g(r["knorm0"][0]),
                   fmt_g(r["init_seconds"][0], 3) if method == "alg1" else "–", fmt_g(r["seconds"][0], 3)])
    out += ["What the methods do to the kernels (means over seeds; L_CS = Σ over conv layers of eq. 10; "
            "'normalised' = the same with each kernel scaled to unit norm, which is blind to kernel scale):", "",
            markdown_table(kt, headers=["model", "method", "L_CS at init", "L_CS when training starts",
                                        "L_CS at the end", "normalised L_CS at init",
                                        "normalised L_CS when training starts",
                                        "mean kernel norm at init", "mean kernel norm when training starts",
                                        "Algorithm 1 seconds", "run seconds"]), ""]
    shrink = []
    for model in ("cnn1", "cnn2"):
        r = rows.get((model, "alg1"))
        if r and r["lcs_init"][0] and r["lcs0"][0] and r["lcs_init_norm"][0] and r["lcs0_norm"][0]:
            shrink.append(f"{MODEL_LABELS[model]}: Algorithm 1 lowered L_CS {r['lcs_init'][0] / r['lcs0'][0]:.1f}-fold, "
                          f"the scale-invariant L_CS by {100 * (1 - r['lcs0_norm'][0] / r['lcs_init_norm'][0]):.2f} %, "
                          f"and the mean kernel norm went {r['knorm_init'][0]:.3f} → {r['knorm0'][0]:.3f}")
    if shrink:
        out += ["Reading: " + "; ".join(shrink) + ". L_CS is homogeneous of degree 4 in the kernel scale, so "
                "I = 500 Adam steps mostly *shrink* the kernels rather than decorrelate them; behind BatchNorm the "
                "shrinking leaves the forward pass unchanged but raises the effective learning rate of the "
                "convolutions (the gradient of a scale-invariant function grows as 1/‖K‖). Any accuracy gain of "
                "Algorithm 1 is therefore confounded with a learning-rate change; the converged design's rescale "
                "control (the initial kernels rescaled to Algorithm 1's norms) and directions-only arm separate the "
                "two.", ""]
    out += figure_lines(fig_names)
    return out


def _fig5_section(group, records, fig_names) -> list[str]:
    proto = protocol_of(group)
    by = defaultdict(list)
    for r in records:
        by[int(r["config"]["cs_init_iters"])].append(r)
    desc = PROTOCOLS.get(proto, {}).get("description", "")
    out = [f"### Figure 5 analogue — group `{group}`", "",
           f"Protocol **{group}** ({desc}). ResNet18 (CIFAR stem, width x{records[0]['config']['width']:g}, "
           f"{records[0]['summary']['num_parameters']:,} parameters), Algorithm 1 with I iterations, then SGD "
           f"lr {records[0]['config']['lr']}, batch {records[0]['config']['batch_size']}. Runs: "
           f"{_describe_runs(records)}. Paper: CIFAR-10, full width, 50 epochs; it reports that most "
           "of the gain comes with I < 60 and that I = 10 already does well.", ""]
    table = []
    base = mean_std([r["summary"]["best_test_acc"] for r in by.get(0, [])])
    for i in sorted(by):
        recs = by[i]
        best = mean_std([r["summary"]["best_test_acc"] for r in recs])
        d = (best[0] - base[0]) * 100 if base[0] is not None and best[0] is not None else None
        table.append([i, pm(*best), "–" if d is None or i == 0 else f"{d:+.2f}",
                      pm(*mean_std([r["summary"]["last_test_acc"] for r in recs])),
                      fmt_g(mean_std([r["history"][0]["l_cs"] for r in recs])[0]),
                      fmt_g(mean_std([r["history"][0]["conv_kernel_norm"] for r in recs])[0]),
                      fmt_g(mean_std([r["summary"]["wall_seconds"] for r in recs])[0], 3)])
    out.append(markdown_table(table, headers=["I", "top test acc %", "Δ vs I = 0", "last-epoch test acc %",
                                              "L_CS after Algorithm 1", "mean kernel norm after", "run seconds"]))
    out.append("")
    if base[0] is not None and len(by) > 1:
        spread = [(mean_std([r["summary"]["best_test_acc"] for r in by[i]])[0] - base[0]) * 100
                  for i in sorted(by) if i]
        n = len(by.get(0, []))
        out += [f"Reading: over I > 0 the change of top test accuracy vs I = 0 ranges {min(spread):+.2f} to "
                f"{max(spread):+.2f} pp ({n} seed{'s' if n != 1 else ''} per I"
                + ("; with one seed there is no error bar, and seed-to-seed spread in the Table 5 runs is of the same "
                   "order" if n == 1 else "") + ").", ""]
    out += figure_lines(fig_names)
    return out


def write_report(results_dir, out_dir, *, figures: bool = True) -> Path:
    """Render the report of the result files under ``results_dir`` into ``out_dir``.

    Parameters
    ----------
    results_dir : path
        ``<results_dir>/<group>/{table5,fig5}/<run>.json``; may be missing (an empty report).
    out_dir : path
        Receives ``REPORT.md`` and ``figures/``; nothing is written elsewhere.
    figures : bool
        Draw the figures (and link them).

    Returns
    -------
    Path
        ``out_dir/REPORT.md``.
    """
    out_dir = Path(out_dir)
    groups = collect(results_dir)
    lines = ["# CS paper Section 4.2-4.3 on real data: Table 5 and Figures 1-3, 5 analogues", "",
             "Generated by `python -m experiments cs report` from the result files under "
             f"`{results_dir}` (one JSON per run, with its full config, per-epoch history and per-step log). "
             "Do not edit by hand.", "",
             "## Set-up", "",
             "* **Data**: Fashion-MNIST (Debian package `dataset-fashion-mnist`, 60,000 train / 10,000 test, "
             "1x28x28, 10 classes), per-channel normalisation with the training-split statistics, no augmentation. "
             "The paper's Table 5 and Figures 1-5 are on **CIFAR-10**; the paper's numbers are quoted beside ours, "
             "they are not the same experiment.",
             "* **Models**: CNN1 / CNN2 of Table 4 (`Conv2d(in, w, 3, padding=2)` + BN + LeakyReLU(0.2) + "
             "MaxPool(2, 2), x4, Linear(576 | 1152, 10)): 117,706 / 456,586 parameters on 1x28x28 "
             "(118,858 / 458,890 on 3x32x32 as in the paper); computed with the pooling before the LeakyReLU, the "
             "same function bit for bit. ResNet18 with the CIFAR stem.",
             f"* **Training** (Section 4.2): SGD lr {TABLE5_COMMON['lr']}, momentum {TABLE5_COMMON['momentum']}, "
             f"batch {TABLE5_COMMON['batch_size']}, cross-entropy, no weight decay; Algorithm 1 = I Adam steps "
             "(lr 1e-3) on Σ_j L_CS(K^(j)) over all conv layers before training; Algorithm 2 = loss + β·Σ_j L_CS "
             "at every step (β = 0.001). Figure 5: ResNet18, SGD lr 0.01, batch 64.",
             "* **Protocols**: " + "; ".join(f"`{k}` — {v['description']} (Table 5: {_kv(v['table5'])}; "
                                            f"Figure 5: {_kv(v['fig5'])})" for k, v in PROTOCOLS.items()) + ".",
             "", "The quick protocol trains for a few dozen SGD steps on a subset: it measures the *early-training* "
             "effect of the methods, not the 100-epoch top accuracy the paper reports. Treat its verdicts as "
             "statements about that regime only. After ~20 steps BatchNorm's running statistics (momentum 0.1) "
             "have taken in about 1 - 0.9^20 ≈ 88 % of their updates, so eval-mode test accuracy in the first "
             "epochs also reflects how settled those statistics are.", ""]
    if not groups:
        lines += ["No results yet. Run `python -m experiments cs run --study table5 --protocol quick`.", ""]
    for group, exps in groups.items():
        lines += [f"## Results: `{group}`", ""]
        if exps.get("table5") and protocol_of(group) == "converged":
            lines += converged_section(group, exps["table5"], out_dir, figures=figures)
            kpath = Path(results_dir) / group / "kernels.json"
            lines += kernels_lines(read_json(kpath) if kpath.is_file() else None)
        elif exps.get("table5"):
            figs = table5_figures(group, exps["table5"], out_dir) if figures else []
            lines += _table5_section(group, exps["table5"], figs)
        if exps.get("fig5") and protocol_of(group) == "converged":
            lines += fig5_section(group, exps["fig5"], out_dir, figures=figures)
        elif exps.get("fig5"):
            figs = fig5_figures(group, exps["fig5"], out_dir) if figures else []
            lines += _fig5_section(group, exps["fig5"], figs)
    claims = [dataclasses.asdict(c) for g, exps in groups.items() if protocol_of(g) == "converged"
              for c in (converged_claims(exps["table5"], g) if exps.get("table5") else [])
              + (fig5_claims(exps["fig5"], g) if exps.get("fig5") else [])]
    write_json_atomic(out_dir / "claims.json", {"claims": claims})
    lines += ["## Regenerate", "", *regenerate_block([
        "python -m experiments cs run --study table5 --protocol quick   # runs missing Table 5 runs, then this report",
        "python -m experiments cs run --study fig5 --protocol quick     # Figure 5 analogue",
        "python -m experiments cs run --study table5 --protocol converged --jobs 2   # the converged design",
        "python -m experiments cs report                                # this file and figures/ from the results"]),
        ""]
    path = out_dir / "REPORT.md"
    write_text_atomic(path, "\n".join(lines))
    return path
