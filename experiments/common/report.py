"""Report helpers shared by every experiment: number formats, markdown tables, the paper-vs-ours cell, the
"regenerate" block and figures (matplotlib, Agg, imported only when a figure is drawn).

Example
-------
>>> fmt(0.012345), fmt(17200000.0), fmt(None), fmt_g(0.123456), pm(0.8512, 0.004, 5)
('0.0123', '1.72e7', '–', '0.1235', '85.12 ± 0.40 (n=5)')
"""

from __future__ import annotations

import io
import math
from pathlib import Path

__all__ = ["fmt", "fmt_g", "pm", "markdown_table", "regenerate_block", "pyplot", "figure_png", "save_figure",
           "tag_of", "protocol_of", "figure_lines", "missing_lines", "difference_sentence", "sweep_vs_paper"]

DASH = "–"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and not math.isfinite(v))


def fmt(v, digits: int = 3) -> str:
    """Compact number: ``–`` for missing, scientific ``1.72e7`` outside [1e-3, 1e4), else 3-4 digits."""
    if _missing(v):
        return DASH
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e4 or a < 1e-3:
        mant, exp = f"{v:.{digits - 1}e}".split("e")
        return f"{mant}e{int(exp)}"
    return f"{v:.{digits + 1}g}" if a >= 1 else f"{v:.{digits}g}"


def fmt_g(x, digits: int = 4) -> str:
    """``format(x, '.4g')``, ``–`` for missing: for quantities whose magnitude the reader compares."""
    return DASH if _missing(x) else f"{x:.{digits}g}"


def pm(mean, std, n, scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± std (n=N)`` scaled (default: fractions shown as %); ``–`` when missing."""
    if mean is None:
        return DASH
    s = f"{mean * scale:.{digits}f}"
    if std is not None:
        s += f" ± {std * scale:.{digits}f}"
    return s + f" (n={n})"


def _cell(v):
    """A pipe inside a cell (``|cos F|``, ``|Δ|``) would end it: escaped, as GitHub markdown reads ``\\|``."""
    return v.replace("|", "\\|") if isinstance(v, str) else v


def markdown_table(rows, headers, *, numparse: bool = True, fmt: str = "github") -> str:
    """A markdown table (``tabulate``; ``numparse=False`` keeps cells exactly as given); ``|`` in a cell or
    header is escaped.

    >>> print(markdown_table([["|x|", 1]], ["a", "b"]))
    | a     |   b |
    |-------|-----|
    | \\|x\\| |   1 |
    """
    from tabulate import tabulate

    kw = {} if numparse else {"disable_numparse": True}
    rows = [[_cell(v) for v in r] for r in rows]
    headers = [_cell(h) for h in headers] if isinstance(headers, (list, tuple)) else headers
    return tabulate(rows, headers=headers, tablefmt=fmt, **kw)


def regenerate_block(commands: list[str]) -> list[str]:
    """Markdown lines of a fenced bash block of the commands that regenerate a report."""
    return ["```bash", *commands, "```"]


def tag_of(group: str) -> str | None:
    """Result groups are ``<protocol>`` or ``<protocol>-<tag>``."""
    return group.split("-", 1)[1] if "-" in group else None


def protocol_of(group: str) -> str:
    return group.split("-", 1)[0]


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig, dpi: int = 110) -> bytes:
    """A figure as PNG bytes (closed afterwards), for atomic writes with the other outputs."""
    plt = pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def save_figure(fig, fig_dir, name: str, dpi: int = 110) -> str:
    """``fig`` laid out and written atomically to ``fig_dir/name``; returns ``name``."""
    from .io import write_bytes_atomic

    fig.tight_layout()
    write_bytes_atomic(Path(fig_dir) / name, figure_png(fig, dpi))
    return name


def figure_lines(figs) -> list[str]:
    """Markdown lines of ``[(caption, file name)]`` figures stored under ``figures/``: image, caption."""
    out = []
    for caption, name in figs:
        out += [f"![{caption}](figures/{name})", "", f"*{caption}*", ""]
    return out


def missing_lines(missing, command: str) -> list[str]:
    """``**Missing runs** (n): `a`, `b`. Produce them with COMMAND.`` (no lines when nothing is missing)."""
    if not missing:
        return []
    return [f"**Missing runs** ({len(missing)}): " + ", ".join(f"`{m}`" for m in missing)
            + f". Produce them with {command}.", ""]


_WORDS = {"higher": "higher, beyond 2 standard errors", "lower": "lower, beyond 2 standard errors",
          "unresolved": "not resolvable (within 2 standard errors)"}


def difference_sentence(a, b, *, what: str, paper: float | None = None, scale: float = 100.0,
                        unit: str = "pp", seeds=None) -> str:
    """``b - a`` read with one rule: paired by seed when ``seeds`` is given, else unpaired.

    Paired (``seeds = (seeds_a, seeds_b)``): the mean of the per-seed differences over the seeds both arms
    have, its 95 % t interval and the paired t test's p; resolved ("higher" / "lower") when p < 0.05.
    Unpaired: the difference of means ± its Welch standard error, resolved beyond 2 standard errors.

    Parameters
    ----------
    a, b : sequence of float
        The two arms' values (None entries ignored), in the order of ``seeds`` when given.
    what : str
        What is compared (starts the sentence).
    paper : float, optional
        The paper's difference, in ``unit``: the sentence says whether ours points the same way.
    scale, unit
        Display scale (100: fractions as percentage points) and unit.
    seeds : (sequence, sequence), optional
        The seeds of ``a`` and ``b``: pair the arms by seed.

    Returns
    -------
    str

    Examples
    --------
    >>> difference_sentence([0.80, 0.81, 0.80], [0.90, 0.91, 0.90], what="B vs A", paper=0.7)
    'B vs A: +10.00 ± 0.47 pp — higher, beyond 2 standard errors; same direction as the paper (paper: +0.70 pp).'
    >>> difference_sentence([0.80, 0.81, 0.79], [0.82, 0.82, 0.80], what="B vs A", seeds=([0, 1, 2], [0, 1, 2]))
    'B vs A: +1.33 pp, 95 % t interval [-0.10, +2.77], paired over 3 seeds (p = 0.057) — not resolvable (p ≥ 0.05).'
    """
    from .stats import paired_difference, verdict, welch_difference

    ptxt = "" if paper is None else f" (paper: {paper:+.2f} {unit})"
    if seeds is not None:
        da, db = dict(zip(seeds[0], a)), dict(zip(seeds[1], b))
        common = sorted(set(da) & set(db))
        diff = paired_difference([da[k] for k in common], [db[k] for k in common])
        if diff.mean is None:
            return f"{what}: not available (no seed in both arms)."
        d = diff.mean * scale
        if diff.se is None:
            return f"{what}: {d:+.2f} {unit} (one paired seed: no interval){ptxt}."
        from .power import t_interval

        lo, hi = t_interval(d, diff.se * scale, diff.df)
        p = diff.p if diff.p is not None else (0.0 if d != 0 else 1.0)
        word = ("higher" if d > 0 else "lower") if p < 0.05 else "unresolved"
        same = ""
        if paper is not None and word != "unresolved":
            same = "; same direction as the paper" if (d > 0) == (paper > 0) else "; opposite to the paper"
        text = {"higher": "higher (p < 0.05)", "lower": "lower (p < 0.05)", "unresolved": "not resolvable (p ≥ 0.05)"}
        return (f"{what}: {d:+.2f} {unit}, 95 % t interval [{lo:+.2f}, {hi:+.2f}], paired over {diff.n} seeds "
                f"(p = {p:.2g}) — {text[word]}{same}{ptxt}.")
    diff = welch_difference(a, b)
    if diff.mean is None:
        return f"{what}: not available (missing runs)."
    d = diff.mean * scale
    if diff.se is None:
        return f"{what}: {d:+.2f} {unit} (one seed on a side: no error bar){ptxt}."
    se = diff.se * scale
    word = verdict(d, se)
    same = ""
    if paper is not None and word != "unresolved":
        same = "; same direction as the paper" if (d > 0) == (paper > 0) else "; opposite to the paper"
    return f"{what}: {d:+.2f} ± {se:.2f} {unit} — {_WORDS[word]}{same}{ptxt}."


def sweep_vs_paper(xs, means, stds, paper_xs, paper_ys, *, ours_title: str, paper_title: str, xlabel: str,
                   ylabel: str, ours_label=None, paper_label=None, log2: bool = False, scale: float = 100.0):
    """Two panels: ours (``means`` ± ``stds``, scaled, against ``xs``) and the paper's curve; ``(fig, axes)``."""
    import numpy as np

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    m = np.array(means, dtype=np.float64) * scale
    e = np.array([s or 0.0 for s in stds], dtype=np.float64) * scale
    axes[0].errorbar(xs, m, yerr=e if e.any() else None, fmt="o-", capsize=3, label=ours_label)
    axes[0].set_title(ours_title, fontsize=9)
    axes[1].plot(paper_xs, paper_ys, "o-", color="k", label=paper_label)
    axes[1].set_title(paper_title, fontsize=9)
    for ax in axes:
        if log2:
            ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    return fig, axes
