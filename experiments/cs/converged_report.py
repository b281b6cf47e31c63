"""The converged Table 5 section of the CS report: convergence, learning curves (plain and BatchNorm-
recalibrated), the arms with paired differences, the claims table, and what is still missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.common.claims import CLAIM_HEADERS, adjust, claims_table
from experiments.common.power import min_detectable_effect
from experiments.common.report import figure_lines, fmt_g, markdown_table, pyplot, save_figure
from experiments.common.stats import mean_std
from experiments.training.converged_report import compute_lines, mean_curve
from experiments.training.results import expected_seeds, study_command

from .kernels import MEASURES
from .converged import FLAT_PP, TARGET_BELOW_PP, WINDOW, baseline_of, by_arm, convergence, cs_claims, paired
from .spec import ARM_LABELS, ARMS, CONVERGED_ARMS, METHODS, MODEL_LABELS, PROTOCOLS, TABLE5_COMMON, CSPlan

__all__ = ["converged_section", "converged_claims", "kernels_lines", "fig5_section", "fig5_claims"]

_COLORS = {"baseline": "k", "alg1": "tab:blue", "alg2": "tab:orange", "rescale": "tab:green",
           "directions": "tab:red", "alg1n": "tab:purple", "bf16": "tab:gray"}


def _color(arm):
    return _COLORS.get(arm.removesuffix("-m"), "tab:brown")


def _curves_figure(arms: dict, out_dir: Path, group: str) -> list[tuple[str, str]]:
    plt = pyplot()
    panels = [("CNN1, SGD without momentum (the paper's)", "cnn1", [a for a in ARMS if not a.endswith("-m")]),
              ("CNN1, SGD momentum 0.9", "cnn1", [a for a in ARMS if a.endswith("-m")]),
              ("CNN2", "cnn2", ["baseline", "alg1"])]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), squeeze=False)
    for ax, (title, model, names) in zip(axes[0], panels):
        for arm in names:
            runs = arms.get((model, arm))
            if not runs:
                continue
            e, a = mean_curve(list(runs.values()), "curve")
            if e is None:
                continue
            ax.plot(e, a.mean(0), color=_color(arm), lw=2.2 if arm.startswith("baseline") else 1.3,
                    label=f"{arm} (n={a.shape[0]})")
            if a.shape[0] > 1:
                ax.fill_between(e, a.min(0), a.max(0), color=_color(arm), alpha=0.12, lw=0)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy %, BatchNorm recalibrated")
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=7, loc="lower right")
        lo = [ln.get_ydata().min() for ln in ax.get_lines()]
        if lo:
            ax.set_ylim(max(min(lo) - 1, 60), None)
    name = f"converged_curves_{group}.png"
    made = [("Learning curves of the converged design: recalibrated test accuracy per epoch, mean over seeds "
             "(band: min-max).", save_figure(fig, out_dir / "figures", name))]
    # plain vs recalibrated: where the eval-mode test is decided by stale running statistics
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), squeeze=False)
    for ax, arm in zip(axes[0], ("baseline", "alg1")):
        runs = arms.get(("cnn1", arm))
        if not runs:
            continue
        for key, style, what in (("curve_plain", "--", "eval-mode BN as trained"),
                                 ("curve", "-", "BN recalibrated")):
            e, a = mean_curve(list(runs.values()), key)
            if e is not None:
                ax.plot(e, a.mean(0), ls=style, color=_color(arm), label=what)
        ax.set_title(f"CNN1 {ARM_LABELS[arm]}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy %")
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    name2 = f"converged_recal_{group}.png"
    made.append(("Plain eval-mode test accuracy (dashed) against the BatchNorm-recalibrated test (solid), mean over "
                 "seeds.", save_figure(fig, out_dir / "figures", name2)))
    return made


def _pct(v):
    return "–" if v is None else f"{100 * v:.2f}"


def converged_claims(records, group: str) -> list:
    """The CS claims of a converged group, unadjusted (the README's table adjusts the whole family)."""
    return cs_claims(by_arm(records), group)


def _method_flags(records) -> str:
    """``--init-iters`` / ``--beta`` where the runs' Algorithm 1 / 2 settings are one value other than the
    methods' (a tagged group's; the rest of its settings: :func:`study_command`)."""
    out = ""
    for flag, key in (("--init-iters", "cs_init_iters"), ("--beta", "cs_beta")):
        values = {r["config"].get(key) for r in records} - {None, 0, 0.0}
        default = next(m[key] for m in METHODS.values() if key in m)
        if len(values) == 1 and values != {default}:
            out += f" {flag} {values.pop()}"
    return out


def converged_section(group: str, records, out_dir, *, figures: bool = True) -> list[str]:
    """Markdown lines of the converged Table 5 section of ``group``."""
    out_dir = Path(out_dir)
    arms = by_arm(records)
    p = PROTOCOLS["converged"]["table5"]
    planned = {(m, a) for m, a in CONVERGED_ARMS}
    seeds = sorted({s for runs in arms.values() for s in runs})
    r0 = records[0]
    c0 = r0["config"]
    spe = max(1, -(-r0["summary"]["train_size"] // c0["batch_size"]))
    lines = [f"### Table 5, converged design — group `{group}`", "",
             f"{r0['summary']['train_size']:,} training / {r0['summary']['test_size']:,} test images "
             f"(first {c0['train_per_class']} / {c0['test_per_class']} per class), CNN1 and CNN2 at width "
             f"×{c0['width']:g} ({MODEL_LABELS['cnn1']} {int(64 * c0['width'])} channels per block, "
             f"{MODEL_LABELS['cnn2']} {int(128 * c0['width'])}), SGD lr {c0['lr']}, batch {c0['batch_size']}, "
             f"{c0['epochs']} epochs of {spe} steps, no weight decay, no augmentation; every arm of a seed starts "
             "from the same weights and sees the same data order. Recalibrated test: BatchNorm running statistics "
             f"re-estimated on {c0['bn_recal_batches']} training batches every {c0['bn_recal_every']} epochs and at "
             f"the last. Seeds with results: {', '.join(map(str, seeds))}.",
             "", f"What differs from the paper: Fashion-MNIST instead of CIFAR-10, {r0['summary']['train_size']:,} "
             f"training images instead of 50,000, width ×{c0['width']:g}, {c0['epochs']} epochs of {spe} steps "
             f"({c0['epochs'] * spe:,} steps) instead of 100 of 98 (9,800), one thread per run on a 2-core CPU. "
             "Kept: the optimiser (SGD lr 0.01, batch 512, no momentum; the momentum arms add 0.9), Algorithm 1 "
             "(I = 500 Adam steps, lr 1e-3) and Algorithm 2 (β = 0.001).", ""]
    # convergence
    conv = convergence(arms)
    rows = [[MODEL_LABELS[c["model"]], ARM_LABELS[c["arm"]], c["n"],
             "–" if c["slope"] is None else f"{c['slope']:+.3f}", "yes" if c["flat"] else "no"] for c in conv]
    lines += [f"**Convergence** — criterion: the least-squares slope of the baseline's recalibrated test accuracy "
              f"over the last {WINDOW} epochs is below {FLAT_PP} pp per epoch (mean over seeds).", "",
              markdown_table(rows, headers=["model", "baseline", "seeds", "final slope (pp / epoch)", "flat"]), ""]
    lines += compute_lines(records)
    # arms table
    rows = []
    for m, a in CONVERGED_ARMS:
        runs = arms.get((m, a))
        if not runs:
            continue
        ms = {k: mean_std([n[k] for n in runs.values()]) for k in ("top", "top_recal", "final_recal", "final_plain",
                                                                    "final_train", "knorm0", "lcs0", "lcs0_norm",
                                                                    "seconds")}
        base = (m, baseline_of(a))
        if base != (m, a):
            x, y = paired(arms, base, (m, a), "top_recal")
            d = [100 * (q - p_) for p_, q in zip(x, y)]
            dtxt = f"{np.mean(d):+.2f} ± {np.std(d, ddof=1):.2f}" if len(d) > 1 else (f"{d[0]:+.2f}" if d else "–")
        else:
            dtxt = "–"
        rows.append([MODEL_LABELS[m], ARM_LABELS[a], len(runs), _pct(ms["top"][0]), _pct(ms["top_recal"][0]),
                     _pct(ms["final_recal"][0]), _pct(ms["final_plain"][0]), _pct(ms["final_train"][0]), dtxt,
                     fmt_g(ms["knorm0"][0]), fmt_g(ms["lcs0"][0]), fmt_g(ms["lcs0_norm"][0]),
                     fmt_g(ms["seconds"][0], 3)])
    lines += ["**Arms** (means over seeds; accuracies %; Δ = paired difference of the recalibrated top accuracy "
              "with the arm's baseline, mean ± SD over seeds, pp):", "",
              markdown_table(rows, headers=["model", "arm", "seeds", "top test (paper's metric)", "top, recalibrated",
                                            f"final {WINDOW} ep., recalibrated", f"final {WINDOW} ep., plain",
                                            "final train", "Δ top recal. vs baseline", "kernel norm at start",
                                            "L_CS at start", "scale-free L_CS at start", "run s"]), ""]
    # power
    x, y = paired(arms, ("cnn1", "baseline"), ("cnn1", "alg1"), "top_recal")
    if len(x) >= 2:
        sd = float(np.std([100 * (q - p_) for p_, q in zip(x, y)], ddof=1))
        if sd > 0:
            lines += [f"**Power** — the paired differences Algorithm 1 − baseline (CNN1) have SD {sd:.2f} pp over "
                      f"{len(x)} seeds; with that SD a paired t test at 5 % has 80 % power for effects of "
                      f"{min_detectable_effect(sd, len(x)):.2f} pp at n = {len(x)} and "
                      f"{min_detectable_effect(sd, 5):.2f} pp at n = 5 (the paper's effect: +4.50 pp).", ""]
    claims = adjust(cs_claims(arms, group))
    lines += ["**Claims** (this group alone; Holm adjustment over its rows; rule in `experiments/common/claims.py`):",
              "", markdown_table(claims_table(claims), headers=CLAIM_HEADERS, numparse=False), ""]
    want = expected_seeds(group, records, PROTOCOLS) or p["seeds"]          # a tagged group: the seeds it has
    missing = sorted(f"{m}-{a}-s{s}" for m, a in planned for s in want if s not in arms.get((m, a), {}))
    if missing:
        cmd = study_command("cs", "table5", group, records, PROTOCOLS, common=TABLE5_COMMON, plan=CSPlan,
                            entry="table5", extra=_method_flags(records) + " --jobs 2")
        lines += [f"**Still to run** ({len(missing)} of {len(planned) * len(want)}): "
                  + ", ".join(f"`{x}`" for x in missing[:60]) + (" …" if len(missing) > 60 else "")
                  + f". {cmd} runs them (done runs are skipped, interrupted ones resume).", ""]
    if figures and records:
        lines += figure_lines(_curves_figure(arms, out_dir, group))
    lines += [f"Steps to target: SGD steps until the recalibrated test accuracy first reaches the baseline's mean "
              f"final accuracy minus {TARGET_BELOW_PP:g} pp (resolution: {c0['bn_recal_every']} epochs).", ""]
    return lines


def kernels_lines(kernels: dict | None) -> list[str]:
    """The section of ``kernels.json`` (:mod:`experiments.cs.kernels`): per arm and layer, Spearman's ρ of
    each kernel measure with the measured feature-map |cos F| across the layer's kernel pairs."""
    if not kernels or not kernels.get("runs"):
        return []
    by: dict = {}
    for run in kernels["runs"].values():
        for i, layer in enumerate(run["layers"]):
            by.setdefault((run["model"], run["arm"], i), []).append(layer)
    rows = []
    for (model, arm, i), layers in sorted(by.items(), key=lambda kv: (kv[0][0], list(ARMS).index(kv[0][1]), kv[0][2])):
        row = [MODEL_LABELS[model], ARM_LABELS[arm], f"conv {i + 1} ({layers[0]['kernels']} kernels)", len(layers),
               f"{np.mean([x['mean_abs_cos_F'] for x in layers]):.3f}", f"{np.mean([x['mean_abs_cos_K'] for x in layers]):.3f}"]
        for k in MEASURES:
            rho = [x[f"rho_{k}"] for x in layers]
            lo = min(r[1] for r in rho if r[1] is not None) if any(r[1] is not None for r in rho) else None
            hi = max(r[2] for r in rho if r[2] is not None) if any(r[2] is not None for r in rho) else None
            row.append(f"{np.mean([r[0] for r in rho]):+.2f}" + ("" if lo is None else f" [{lo:+.2f}, {hi:+.2f}]"))
        rows.append(row)
    out = ["### Trained kernels against their feature maps (the 2-D claim after training)", "",
           f"Per convolution of the converged networks and per pair of its kernels: Spearman's ρ between a kernel "
           f"measure and the measured |cos F| of the two feature maps (mean over the first {kernels['images']} test "
           "images; BatchNorm in train mode over that batch). Cells: mean ρ over seeds [lowest, highest end of the "
           f"per-seed 95 % percentile bootstrap intervals over pairs, {kernels['resamples']} resamples]. "
           "`python -m experiments cs kernels` computes it from the runs' final weights.", "",
           markdown_table(rows, headers=["model", "arm", "layer", "seeds", "mean |cos F|", "mean |cos K|",
                                         *(f"ρ({v}, |cos F|)" for v in MEASURES.values())], numparse=False), ""]
    if kernels.get("missing_weights"):
        out += [f"No final weights for: {', '.join(kernels['missing_weights'])}.", ""]
    return out


def _fig5_key(cfg) -> tuple:
    return int(cfg["cs_init_iters"]), cfg.get("cs_init_apply", "full")


def _schedule(config: dict) -> str:
    """`` (lr ×0.1 after epoch 20)`` for a run with learning-rate milestones, ``""`` for the paper's constant lr."""
    ms = [int(m) for m in config.get("lr_milestones") or []]
    if not ms:
        return ""
    return f" (lr ×{config.get('lr_gamma', 0.1):g} after epoch{'s' if len(ms) > 1 else ''} {', '.join(map(str, ms))})"


def _window(records) -> int:
    """The final window of a Figure 5 group's runs (:func:`~experiments.training.curves.window_of`)."""
    from experiments.training.curves import window_of

    c = records[0]["config"] if records else {}
    return window_of(c, int(c.get("epochs") or 0))


def fig5_claims(records, group: str) -> list:
    """Figure 5's claims on a converged group (paired by seed with I = 0, and each rescale twin with its I)."""
    from experiments.common.claims import paired_claim
    from experiments.training.curves import run_numbers

    by: dict = {}
    for r in records:
        by.setdefault(_fig5_key(r["config"]), {})[r["config"]["seed"]] = run_numbers(r)

    def pair(a, b, key="top_recal"):
        seeds = sorted(set(by.get(a, {})) & set(by.get(b, {})))
        seeds = [s for s in seeds if by[a][s][key] is not None and by[b][s][key] is not None]
        return [by[a][s][key] for s in seeds], [by[b][s][key] for s in seeds]

    net = "ResNet18" + _schedule(records[0]["config"] if records else {})
    win = _window(records)
    rows = []
    for i in sorted({k[0] for k in by if k[0] > 0 and k[1] == "full"}):
        x, y = pair((0, "full"), (i, "full"))
        if x:
            rows.append(paired_claim("CS", f"{net}: Algorithm 1 with I = {i} raises top test accuracy (Fig. 5)", x, y,
                                     protocol=group, scale=100, paper_text="gain, mostly for I < 60"))
        x, y = pair((0, "full"), (i, "full"), "final_recal")
        if x:
            rows.append(paired_claim("CS", f"{net}, I = {i}: the gain holds in the mean of the last {win} epochs "
                                     "(not only in the maximum of a noisier curve)", x, y, protocol=group, scale=100,
                                     paper_text="gain (top, Fig. 5)"))
        x, y = pair((i, "norms"), (i, "full"))
        if x:
            rows.append(paired_claim("CS", f"{net}, I = {i}: Algorithm 1 beats its rescale control (the gain is "
                                     "decorrelation, not shrinking)", x, y, protocol=group, scale=100,
                                     paper_text="implied"))
    return rows


def fig5_section(group: str, records, out_dir, *, figures: bool = True) -> list[str]:
    """Markdown lines of the converged Figure 5 section: per I (and rescale twin) the recalibrated accuracies
    and the paired difference with I = 0, a figure, and the claims."""
    from experiments.common.power import t_interval
    from experiments.common.stats import paired_difference
    from experiments.training.converged_report import claims_lines, compute_lines, convergence_lines
    from experiments.training.curves import run_numbers

    by: dict = {}
    for r in records:
        by.setdefault(_fig5_key(r["config"]), {})[r["config"]["seed"]] = run_numbers(r)
    c0 = records[0]["config"]
    win = _window(records)
    lines = [f"### Figure 5, converged design — group `{group}`", "",
             f"ResNet18 width ×{c0['width']:g}, {records[0]['summary']['train_size']:,} / "
             f"{records[0]['summary']['test_size']:,} images, SGD lr {c0['lr']}{_schedule(c0)}, batch {c0['batch_size']}, "
             f"{c0['epochs']} epochs; Algorithm 1 with I Adam steps before training; a *rescale twin* starts from "
             "the I = 0 kernels rescaled per layer to the norms Algorithm 1 with that I ends with.", ""]
    lines += convergence_lines({"I = 0": list(by.get((0, "full"), {}).values())}) + compute_lines(records)
    base = by.get((0, "full"), {})
    rows = []
    for key in sorted(by, key=lambda k: (k[0], k[1] != "full")):
        runs = by[key]
        label = f"I = {key[0]}" + ("" if key[1] == "full" else " rescale twin")
        seeds = sorted(set(runs) & set(base))
        d = paired_difference([base[s]["top_recal"] for s in seeds], [runs[s]["top_recal"] for s in seeds])
        if key == (0, "full") or d.mean is None:
            dtxt = "–"
        elif d.se:
            lo, hi = t_interval(d.mean * 100, d.se * 100, d.df)
            dtxt = f"{d.mean * 100:+.2f} [{lo:+.2f}, {hi:+.2f}]"
        else:
            dtxt = f"{d.mean * 100:+.2f}"
        rows.append([label, len(runs), _pct(np.mean([n["top"] for n in runs.values()])),
                     _pct(np.mean([n["top_recal"] for n in runs.values()])),
                     _pct(np.mean([n["final_recal"] for n in runs.values() if n["final_recal"] is not None] or [np.nan])),
                     _pct(np.mean([n["final_sd"] for n in runs.values() if n["final_sd"] is not None] or [np.nan])),
                     _pct(np.mean([n["final_train"] for n in runs.values() if n["final_train"] is not None] or [np.nan])),
                     dtxt, fmt_g(np.mean([n["knorm0"] for n in runs.values()]))])
    lines += [markdown_table(rows, headers=["arm", "seeds", "top test (plain)", "top, recalibrated",
                                            f"final {win} ep., recalibrated",
                                            f"SD within the final {win} ep. (pp, mean over seeds)",
                                            f"final {win} ep., train accuracy",
                                            "Δ top recal. vs I = 0 (paired, 95 % t interval)",
                                            "mean kernel norm at start"], numparse=False), ""]
    if figures and records:
        plt = pyplot()
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
        for ax, key, title in ((axes[0], "top_recal", "best epoch"),
                               (axes[1], "final_recal", f"mean of the final {win} epochs")):
            for apply, style, lab in (("full", "o-", "Algorithm 1"), ("norms", "s", "rescale twin")):
                keys = sorted(k for k in by if k[1] == apply)
                vals = {k: [n[key] for n in by[k].values() if n[key] is not None] for k in keys}
                keys = [k for k in keys if vals[k]]
                if not keys:
                    continue
                m = [100 * np.mean(vals[k]) for k in keys]
                sd = [100 * np.std(vals[k], ddof=1) if len(vals[k]) > 1 else 0.0 for k in keys]
                ax.errorbar([k[0] for k in keys], m, yerr=sd, fmt=style, capsize=3, label=lab)
            ax.set_xlabel("I (Algorithm 1 iterations before training)")
            ax.set_title(f"{title} ({group})", fontsize=9)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("test accuracy %, BatchNorm recalibrated")
        axes[0].legend(fontsize=8)
        name = save_figure(fig, Path(out_dir) / "figures", f"{group}_fig5_converged.png")
        lines += figure_lines([(f"Figure 5, converged: recalibrated test accuracy vs I, at the best epoch (left) and "
                                f"averaged over the final {win} epochs (right), mean ± SD over seeds; squares: "
                                "rescale twins.", name)])
    return lines + claims_lines(fig5_claims(records, group))
