"""One visual style for every figure, and writers that make byte-stable outputs.

Figures are saved with fixed metadata (no timestamp, no software version), so regenerating
unchanged results changes no bytes; tables are written as Markdown (for reading) and CSV (for
machines), atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..atomic import atomic_write, atomic_write_text

PNG_METADATA = {"Software": None}


def set_style() -> None:
    """The project's look: seaborn's whitegrid, readable fonts, colour-blind palette."""
    sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "savefig.bbox": "tight"})


def save_figure(fig: plt.Figure, out_dir: str | Path, name: str) -> Path:
    """Write ``out_dir/name.png`` (name carries the target id, e.g. ``G-F1_error_vs_batch``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata=PNG_METADATA)
    return atomic_write(Path(out_dir) / f"{name}.png", lambda f: f.write(buffer.getvalue()))


def save_table(table: pd.DataFrame, out_dir: str | Path, name: str, floatfmt: str = ".4g") -> Path:
    """Write ``out_dir/name.md`` and ``out_dir/name.csv`` (12 significant digits, so that
    regenerating the same results changes no bytes); returns the Markdown path."""
    out_dir = Path(out_dir)
    # 12 significant digits: the last bits of a float64 differ with the BLAS thread count
    atomic_write_text(out_dir / f"{name}.csv", table.to_csv(index=False, float_format="%.12g"))
    return atomic_write_text(
        out_dir / f"{name}.md", table.to_markdown(index=False, floatfmt=floatfmt) + "\n"
    )


def mark_failed(ax: plt.Axes, x: pd.Series, status: pd.Series) -> None:
    """Mark runs that did not train (``status`` other than "trained") on the top edge of ``ax``
    at their x, one marker per kind of failure: never drawn as a value of the metric."""
    markers = {"diverged": "x", "collapsed (stuck at chance)": "s"}
    for kind in sorted(set(status) - {"trained"}):
        at = x[status == kind]
        ax.scatter(
            at,
            [1.0] * len(at),
            transform=ax.get_xaxis_transform(),  # x in data units, y on the axes' top edge
            marker=markers.get(kind, "^"),
            color="C3",
            clip_on=False,
            zorder=3,
            label=f"{kind} (top edge)",
        )
