"""The figures of notebook 01 (Goyal et al.), each with the paper's numbers where it has them.

Each function takes the notebook's runs or tables and returns a matplotlib figure; saving is
``plots.save_figure``. Errors are in percent; mean over seeds with the seed range shaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..analysis.outcomes import curves
from ..runs import RunResult

# Goyal et al., Figure 1: validation error (%) per minibatch kn, base kn = 256
PAPER_G_F1 = pd.DataFrame(
    {
        "kn": [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536],
        "error": [23.60, 23.48, 23.53, 23.49, 23.56, 23.74, 24.79, 27.55, 33.96],
    }
)
PAPER_ITERATION_GROWTH = 1.12  # Figure 7: +12 % per iteration from kn = 256 to 11k


def error_vs_batch(table: pd.DataFrame, seeds: int) -> plt.Figure:
    """G-F1: final error vs k (ours and the paper's), failed runs counted at the top."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ok = table[np.isfinite(table.error_mean)]
    ax.errorbar(
        ok.k,
        ok.error_mean,
        yerr=ok.error_std.fillna(0),
        marker="o",
        capsize=3,
        label=f"ours: MNIST-1D, base B = {table.batch.iloc[0]} (mean ± sd, {seeds} seeds)",
    )
    paper = PAPER_G_F1.assign(k=PAPER_G_F1.kn / 256)
    ax2 = ax.twinx()
    ax2.plot(paper.k, paper.error, "s--", color="0.45", label="paper: ResNet-50, ImageNet")
    ax2.set_ylabel("paper's validation error (%)", color="0.45")
    ax2.grid(False)  # one grid, the left axis's
    failed = table[(table.diverged + table.collapsed) > 0]
    for row in failed.itertuples():
        ax.annotate(
            f"{row.diverged + row.collapsed} failed",
            (row.k, 0.97),
            xycoords=("data", "axes fraction"),
            ha="center",
            va="top",
            color="C3",
        )
    ax.set(
        xscale="log",
        xlabel="k = B / base batch",
        ylabel="our final test error (%)",
        title="G-F1: error vs minibatch, linear scaling + gradual warmup",
    )
    ax.set_xscale("log", base=2)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="center left")
    return fig


def warmup_traces(
    warmups: Mapping[str, Sequence[RunResult]],
    warmup_end: int,
    batch: int,
    title: str = "G-F2: training loss per step",
    suffix: str = " warmup",
) -> plt.Figure:
    """G-F2 (and G-R remark 2): per-step training loss of each group (mean over seeds), the
    end of warmup marked; the right panel zooms on the steps around it."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), layout="constrained")
    for i, (name, rs) in enumerate(warmups.items()):
        trace = pd.concat([r.instruments["loss_trace"] for r in rs])
        mean = trace.groupby("step").value.mean()
        smooth = mean.rolling(5, min_periods=1).mean()
        axes[0].plot(smooth.index, smooth.values, color=f"C{i}", label=f"{name}{suffix}")
        near = mean[(mean.index > warmup_end - 30) & (mean.index <= warmup_end + 40)]
        axes[1].plot(near.index, near.values, ".-", color=f"C{i}", label=f"{name}{suffix}")
    for ax in axes:
        ax.axvline(warmup_end, color="0.5", ls=":", label="end of warmup")
        ax.set(yscale="log", xlabel="step", ylabel="training loss")
    axes[0].set_title(f"{title} at B = {batch} (5-step mean)")
    axes[1].set_title("around the end of warmup (every step)")
    axes[1].legend(fontsize=8)
    return fig


def curves_per_batch(runs: Mapping[int, Sequence[RunResult]], base: int) -> plt.Figure:
    """G-F3: training error of each batch against the base batch's, one panel per batch."""
    big = [b for b in runs if b != base]
    cols = min(3, len(big))
    rows = -(-len(big) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(4.2 * cols, 3.2 * rows),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    base_curve = curves(runs[base], "train_acc")
    for ax, b in zip(axes.flat, big, strict=False):
        sns.lineplot(
            data=base_curve,
            x="epoch",
            y="value",
            ax=ax,
            color="0.3",
            errorbar=("pi", 100),
            label=f"B = {base}",
        )
        sns.lineplot(
            data=curves(runs[b], "train_acc"),
            x="epoch",
            y="value",
            ax=ax,
            color="C0",
            errorbar=("pi", 100),
            label=f"B = {b}",
        )
        ax.set(yscale="log", title=f"k = {b // base}", ylabel="training error (%)")
    for ax in axes.flat[len(big) :]:
        ax.set_visible(False)
    fig.suptitle("G-F3: training error per batch size against the base (seed range shaded)")
    return fig


def train_test_curves(
    runs: Mapping[int, Sequence[RunResult]],
    batches: Sequence[int],
    milestones: Sequence[float],
    epochs: float,
) -> plt.Figure:
    """G-F4: training and test error of two batches, the rate drops marked."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for b, color in zip(batches, ("0.3", "C3"), strict=False):
        for metric, ls, what in (("train_acc", "-", "training"), ("test_acc", "--", "test")):
            m = curves(runs[b], metric).groupby("epoch").value.mean()
            ax.plot(m.index, m.values, ls, color=color, label=f"B = {b}, {what} error")
    for fraction in milestones:
        ax.axvline(fraction * epochs, color="0.7", lw=0.8, ls=":")
    ax.set(
        yscale="log",
        xlabel="epoch",
        ylabel="error (%)",
        title="G-F4: training and test error, base vs large batch (rate drops dotted)",
    )
    ax.legend(fontsize=8)
    return fig


def lr_vs_twice(base: Sequence[RunResult], double: Sequence[RunResult], lr: float) -> plt.Figure:
    """G-F5: the base batch's training error at its rate and at twice it."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for rs, label, color in ((base, f"lr {lr:g}", "0.3"), (double, f"lr {2 * lr:g}", "C2")):
        sns.lineplot(
            data=curves(rs, "train_acc"),
            x="epoch",
            y="value",
            ax=ax,
            color=color,
            errorbar=("pi", 100),
            label=label,
        )
    ax.set(
        yscale="log",
        xlabel="epoch",
        ylabel="training error (%)",
        title=f"G-F5: B = {base[0].config.batch} at its rate and at twice it",
    )
    return fig


def remarks(tables: Mapping[str, pd.DataFrame]) -> plt.Figure:
    """G-R: each pitfall against the correct run, one panel per remark, every seed a dot."""
    fig, axes = plt.subplots(1, len(tables), figsize=(3.3 * len(tables), 3.6), layout="constrained")
    for ax, (name, t) in zip(np.atleast_1d(axes), tables.items(), strict=True):
        t = t.assign(value=t.value.where(np.isfinite(t.value)))  # an undefined value: no dot
        # a swarm, not a strip: a strip's jitter draws from the global random state, so the
        # same numbers would give another image each time
        sns.swarmplot(data=t, x="group", y="value", ax=ax, size=6)
        sns.pointplot(
            data=t,
            x="group",
            y="value",
            ax=ax,
            errorbar=None,
            linestyle="none",
            marker="_",
            markersize=25,
            color="k",
        )
        ax.set(
            title=f"remark {name}",
            xlabel="",
            ylabel="final ||w||" if name.startswith("1") else "final test error (%)",
        )
        ax.set_ylim(bottom=0)
    fig.suptitle("G-R: the four pitfalls (dots: seeds; bar: mean)")
    return fig


def time_per_iteration(timings: pd.DataFrame, modelled: pd.DataFrame) -> plt.Figure:
    """G-F7: measured time per iteration in one process (left), modelled with k devices
    relative to the smallest k (right), with the paper's +12 %."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for m, t in timings.groupby("model", sort=False):
        axes[0].plot(t.batch, 1e3 * t.step_s, "o-", label=m)
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="minibatch (all workers in one process)",
        ylabel="ms per iteration",
        title="G-F7: measured on this machine",
    )
    for i, (name, t) in enumerate(modelled.groupby("setting", sort=False)):
        axes[1].plot(t.workers, t.relative, "o-", color=f"C{i}", label=name)
    axes[1].axhline(
        PAPER_ITERATION_GROWTH,
        color="0.4",
        ls="--",
        label="paper: +12 % over a 44x larger minibatch",
    )
    axes[1].axhline(1.0, color="0.7", lw=0.8)
    axes[1].set(
        xscale="log",
        xlabel="workers k (n = 32 each)",
        ylabel="time / time at smallest k",
        title="G-F7: modelled with k devices (halving/doubling)",
    )
    axes[1].set_ylim(bottom=0)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.legend(fontsize=8)
    return fig


def scaling_efficiency(table: pd.DataFrame, workers: Sequence[int]) -> plt.Figure:
    """G-F8: modelled throughput and scaling efficiency vs workers, the paper's ~90 %."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for i, (name, t) in enumerate(table.groupby("setting", sort=False)):
        for algorithm, ls in (("ring", "--"), ("halving_doubling", "-")):
            s = t[t.algorithm == algorithm]
            axes[0].plot(
                s.workers,
                s.images_per_s_relative,
                ls,
                marker="o",
                color=f"C{i}",
                label=f"{name}, {algorithm}",
            )
            axes[1].plot(s.workers, 100 * s.efficiency, ls, marker="o", color=f"C{i}")
    axes[0].plot(workers, np.array(workers) / workers[0], "k:", label="ideal")
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="GPUs (workers, n = 32 each)",
        ylabel=f"throughput / throughput at {workers[0]}",
        title="G-F8: modelled throughput vs workers",
    )
    axes[1].axhline(90, color="0.5", ls=":", label="paper: ~90 % at 256")
    axes[1].set(
        xscale="log",
        xlabel="GPUs",
        ylabel=f"scaling efficiency vs {workers[0]} GPUs (%)",
        title="G-F8: modelled scaling efficiency",
        ylim=(0, 105),
    )
    for ax in axes:
        ax.set_xscale("log", base=2)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=8)
    return fig
