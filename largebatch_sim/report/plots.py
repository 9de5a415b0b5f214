"""One visual style for every figure, and writers that make byte-stable outputs.

Figures are saved with fixed metadata (no timestamp, no software version), so regenerating
unchanged results changes no bytes; tables are written as Markdown (for reading) and CSV (for
machines), atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
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


def mark_unresolved(
    ax: plt.Axes, at: pd.Series, color: str = "C3", axis: str = "x", label: str | None = None
) -> None:
    """Mark unresolved estimates (for example B_simple where the averaged |G|^2 <= 0) at their
    position ``at`` along ``axis``, on the bottom edge (axis "x") or the left edge (axis "y"):
    shown as missing, never drawn as a value."""
    at = pd.Series(at).dropna()
    if not len(at):
        return
    if axis == "x":
        xy, transform, marker = (at, [0.0] * len(at)), ax.get_xaxis_transform(), "^"
    else:
        xy, transform, marker = ([0.0] * len(at), at), ax.get_yaxis_transform(), ">"
    ax.scatter(
        *xy,
        transform=transform,
        marker=marker,
        facecolors="none",
        edgecolors=color,
        clip_on=False,
        zorder=3,
        label=label or f"unresolved ({'bottom' if axis == 'x' else 'left'} edge)",
    )


def lr_batch_heatmap(
    ax: plt.Axes,
    frame: pd.DataFrame,
    value: str,
    title: str,
    norm=None,
    fmt: str = "{:.2g}",
    cmap: str = "viridis_r",
    line: pd.DataFrame | None = None,
):
    """A readable heatmap of ``value`` over (batch, lr): one row per batch, one column per rate
    tried anywhere (log spaced), each cell's number written in it, failed runs marked (``status``
    "diverged": x, "collapsed": c), untried cells blank grey, no grid lines across the cells.
    ``line`` (``stability.largest_stable_lr`` rows) draws the largest stable rate per batch as a
    step line right of that row's cell. Returns the image, for a colour bar."""
    lrs = sorted(frame.lr.unique())
    batches = sorted(frame.batch.unique())
    values = np.full((len(batches), len(lrs)), np.nan)
    status = np.full(values.shape, "", dtype=object)
    for r in frame.itertuples():
        i, j = batches.index(r.batch), lrs.index(r.lr)
        values[i, j] = getattr(r, value)
        status[i, j] = r.status
    cm = plt.get_cmap(cmap).copy()
    cm.set_bad("0.88")
    im = ax.imshow(values, cmap=cm, norm=norm, aspect="auto", origin="lower")
    ax.grid(False)
    for i in range(len(batches)):
        for j in range(len(lrs)):
            mark = {"diverged": "x", "collapsed": "c"}.get(status[i, j])
            if mark:
                ax.text(j, i, mark, ha="center", va="center", color="crimson", fontsize=14)
            elif np.isfinite(values[i, j]):
                box = dict(fc="w", alpha=0.6, lw=0, pad=0.5)
                ax.text(
                    j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=7, bbox=box
                )
    if line is not None:  # the boundary right of each row's largest stable cell
        t = line.set_index("batch").largest_stable_lr
        xs = [lrs.index(t[b]) + 0.5 if np.isfinite(t.get(b, np.nan)) else -0.5 for b in batches]
        px = [x for x in xs for _ in (0, 1)]
        py = [y for i in range(len(batches)) for y in (i - 0.5, i + 0.5)]
        ax.plot(px, py, color="k", lw=2.5, label="largest stable lr")
        ax.legend(fontsize=7, loc="lower left")
    ax.set_xticks(range(len(lrs)), [f"{v:g}" for v in lrs], rotation=45)
    ax.set_yticks(range(len(batches)), [str(b) for b in batches])
    ax.set(xlabel="learning rate (the rates tried)", ylabel="batch size", title=title)
    return im
