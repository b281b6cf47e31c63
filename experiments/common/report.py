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
           "tag_of", "protocol_of"]

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


def markdown_table(rows, headers, *, numparse: bool = True, fmt: str = "github") -> str:
    """A markdown table (``tabulate``; ``numparse=False`` keeps cells exactly as given)."""
    from tabulate import tabulate

    kw = {} if numparse else {"disable_numparse": True}
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
