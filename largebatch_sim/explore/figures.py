"""The explorer's figures, drawn in the project's style (``report.plots``) and returned as PNG
bytes for an ``ipywidgets.Image``. They use ``matplotlib.figure.Figure`` directly, not pyplot:
the live curves are drawn from the training thread."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ..report import plots

plots.set_style()

FAILED_MARKERS = {"diverged": "x", "collapsed (stuck at chance)": "s", "stopped": "x"}


def png(fig: Figure) -> bytes:
    """The figure as it is laid out, at 100 dpi (one pixel in the page per pixel drawn; no
    "tight" box, which draws it twice: a redraw should be quick)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata=plots.PNG_METADATA, bbox_inches=None, dpi=100)
    return buffer.getvalue()


def two_panels(size: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure of two panels side by side with fixed margins (laid out once, not per draw)."""
    fig = Figure(figsize=size)
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.95, wspace=0.25)
    return fig, axes


def message_figure(text: str, size: tuple[float, float] = (9, 3.4)) -> bytes:
    """A blank plot area that says why there is no plot."""
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, color="0.35")
    return png(fig)


def live_curves(
    history: pd.DataFrame, lrs: Sequence[float], status: Mapping[int, str] | None = None
) -> bytes:
    """Training loss and test accuracy per member against the step, one colour per rate.

    ``history``: ``LiveCurves.frame()``. A member whose curve ends before the others' (NaN
    from then on) is marked at its last point with its ``status`` ("stopped" while training)."""
    fig, axes = two_panels((9, 3.4))
    colours = sns.color_palette("viridis", len(lrs))
    last_step = history.step.max()
    for member, lr in enumerate(lrs):
        for ax, metric in zip(axes, ("train_loss", "test_acc"), strict=True):
            rows = history[(history.member == member) & (history.metric == metric)].dropna()
            if rows.empty:
                continue
            ended = rows.step.iloc[-1] < last_step
            kind = (status or {}).get(member, "stopped" if ended else "trained")
            label = f"lr {lr:g}" + ("" if kind == "trained" else f": {kind}")
            ax.plot(rows.step, rows.value, color=colours[member], label=label)
            if kind != "trained":
                ax.plot(
                    rows.step.iloc[-1],
                    rows.value.iloc[-1],
                    FAILED_MARKERS.get(kind, "x"),
                    color="C3",
                    ms=9,
                    mew=2,
                )
    axes[0].set(xlabel="step", ylabel="training loss", yscale="log")
    axes[1].set(xlabel="step", ylabel="test accuracy", ylim=(0, 1))
    axes[1].legend(fontsize=7, loc="lower right")
    return png(fig)


def nqm_figure(
    best: pd.DataFrame,
    chosen: pd.DataFrame,
    by_lr: pd.DataFrame,
    batch: float,
    lr: float,
    critical_batch: float,
    stability_limit: float,
) -> bytes:
    """Left: steps to the target against the batch, at the best rate per batch and at the
    chosen rate, with perfect scaling from the smallest batch and the critical batch. Right:
    steps against the rate at the chosen batch, with the stability limit and the region past
    it (every rate there diverges)."""
    fig, (left, right) = two_panels((10, 3.8))
    reached = best[np.isfinite(best.steps)]
    left.plot(reached.batch, reached.steps, "k-", label="best lr per batch")
    if len(reached):
        b0, s0 = reached.batch.iloc[0], reached.steps.iloc[0]
        left.plot(reached.batch, s0 * b0 / reached.batch, "k:", lw=1, label="perfect scaling")
    ok = chosen[np.isfinite(chosen.steps)]
    left.plot(ok.batch, ok.steps, "C0-", label=f"lr {lr:.3g}")
    if np.isfinite(critical_batch):
        left.axvline(
            critical_batch, color="C2", ls="--", label=f"critical batch {critical_batch:.3g}"
        )
    at = chosen[chosen.batch == batch].steps
    if len(at) and np.isfinite(at.iloc[0]):
        left.plot(batch, at.iloc[0], "o", color="C0", ms=8)
    left.set(xscale="log", yscale="log", xlabel="batch size B", ylabel="steps to the target")
    drawn = np.concatenate([reached.steps, ok.steps])
    if drawn.size:  # perfect scaling runs on down; the runs' steps set the range
        left.set_ylim(drawn.min() / 3, drawn.max() * 3)
    left.legend(fontsize=7, loc="lower left")

    fine = by_lr[np.isfinite(by_lr.steps)]
    right.plot(fine.lr, fine.steps, "C0-", label=f"B = {batch:g}")
    right.axvspan(stability_limit, by_lr.lr.max() * 2, color="C3", alpha=0.12, label="diverges")
    right.axvline(stability_limit, color="C3", label=f"stability limit {stability_limit:.3g}")
    steps_here = by_lr.loc[by_lr.lr == lr, "steps"]
    if len(steps_here) and np.isfinite(steps_here.iloc[0]):
        right.plot(lr, steps_here.iloc[0], "o", color="C0", ms=8)
    else:
        right.axvline(lr, color="C0", ls=":", label=f"lr {lr:.3g}: never reaches the target")
    right.set(xscale="log", yscale="log", xlabel="learning rate a", ylabel="steps to the target")
    right.set_xlim(by_lr.lr.min(), by_lr.lr.max() * 2)
    right.legend(fontsize=7, loc="upper right")
    return png(fig)


def results_figure(
    frame: pd.DataFrame, x: str, y: str, hue: str | None, facet: str | None
) -> bytes:
    """``y`` against ``x`` over runs, one panel per value of ``facet``, one line per value of
    ``hue`` (the median over the other runs at each x); runs that did not train are marked on
    the top edge (``plots.mark_failed``), never drawn as a value."""
    panels = _sorted(frame[facet].unique()) if facet else [None]
    cols = min(len(panels), 3)
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(4.2 * cols + 2, 3.4 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    groups = _sorted(frame[hue].unique()) if hue else [None]
    colours = dict(zip(groups, sns.color_palette("colorblind", len(groups)), strict=False))
    numeric_x = pd.api.types.is_numeric_dtype(frame[x])
    for ax, panel in zip(axes, panels, strict=False):
        part = frame if panel is None else frame[frame[facet] == panel]
        trained = part[part.status == "trained"]
        for group in groups:
            line = trained if group is None else trained[trained[hue] == group]
            if line.empty:
                continue
            median = line.groupby(x, sort=True)[y].median()
            label = None if group is None else f"{hue} = {group}"
            ax.plot(median.index, median.values, "o-", color=colours[group], ms=4, label=label)
        if numeric_x:
            plots.mark_failed(ax, part[x], part.status)
        if numeric_x:  # the range of every run, failed ones included (marked at their x)
            low, high = float(part[x].min()), float(part[x].max())
            if x in ("lr", "batch", "base_batch") and low > 0:
                ax.set_xscale("log")
                ax.set_xlim(low / 1.5, high * 1.5)
            else:
                pad = 0.05 * (high - low) or 1.0
                ax.set_xlim(low - pad, high + pad)
        ax.set(xlabel=x, ylabel=y, title=None if panel is None else f"{facet} = {panel}")
    legend = {}  # one legend for every panel, beside them
    for ax in axes:
        legend.update(zip(*reversed(ax.get_legend_handles_labels()), strict=True))
    if legend:  # the colours in their order, then the failure markers
        order = [f"{hue} = {g}" for g in groups if f"{hue} = {g}" in legend]
        order += [label for label in legend if label not in order]
        handles = [legend[label] for label in order]
        fig.legend(handles, order, loc="outside right upper", fontsize=8)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    return png(fig)


def _sorted(values: np.ndarray) -> list:
    """Numbers in numeric order, anything else (or a mix) by its text."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)
