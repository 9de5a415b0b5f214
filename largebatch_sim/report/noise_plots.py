"""Notebook 03's figures of the noise scale: B_noise against B_simple along one run
(``analysis.noise_checkpoints``), B_simple over training (M-F-curve), with the temperature
(M-F15), the adaptive batch (M-F16) and AdaScale's gain against the branches (CBS-F2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import plots


def b_noise_vs_b_simple(table: pd.DataFrame, batch: int, lr: float) -> plt.Figure:
    """Both noise scales against the training loss (falling to the right), B_noise with its
    standard error, each checkpoint labelled by its step; unresolved points are left out."""
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    ok = table.dropna(subset=["B_noise"])
    ax.errorbar(
        ok.train_loss,
        ok.B_noise,
        yerr=ok.B_noise_se,
        fmt="o-",
        capsize=2,
        label=r"$B_{noise} = tr(H\Sigma) / G^T H G$",
    )
    simple = table.dropna(subset=["B_simple"])
    ax.plot(simple.train_loss, simple.B_simple, "s--", label=r"$B_{simple} = tr\Sigma / |G|^2$")
    for _, r in table.iterrows():
        ax.annotate(
            f"step {r.step:.0f}",
            (r.train_loss, r.B_simple),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="training loss (full training set)",
        ylabel="noise scale",
        title=f"B_noise vs B_simple: float64 MLP on digits (B = {batch}, lr {lr})",
    )
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    return fig


def noise_over_training(curves: Mapping[str, tuple[Any, pd.DataFrame]]) -> plt.Figure:
    """M-F-curve: B_simple (EMA ratio) of each run against the step (left) and against the
    window-mean training loss, falling to the right (right). ``curves`` maps a label to
    ``analysis.noise_trends.noise_curve``'s (run, frame); invalid points (averaged
    |G|^2 <= 0) are gaps in the line and marks on the bottom edge, never values."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, (name, (chosen, frame)) in enumerate(curves.items()):
        ok = frame[frame.valid]
        label = f"{name} (lr {chosen.config.lr:.3g})"
        axes[0].plot(frame.step, frame.b_simple, color=f"C{k}", label=label)  # NaN: gap
        axes[1].plot(ok.train_loss, ok.b_simple, ".", ms=2, color=f"C{k}", label=label)
        plots.mark_unresolved(axes[0], frame.step[~frame.valid], color=f"C{k}", axis="x", label="")
        plots.mark_unresolved(
            axes[1], frame.train_loss[~frame.valid], color=f"C{k}", axis="x", label=""
        )
    axes[0].set(
        yscale="log",
        xlabel="step",
        ylabel=r"$B_{simple}$ (EMA ratio)",
        title="M-F-curve: noise scale over training (B = 256; digits 64)",
    )
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="training loss (window mean)",
        ylabel=r"$B_{simple}$",
        title="the same against the training loss",
    )
    axes[1].invert_xaxis()
    axes[0].scatter(
        [], [], marker="^", facecolors="none", edgecolors="k", label="unresolved (|G|^2 <= 0)"
    )
    axes[0].legend(fontsize=8)
    return fig


def temperature(frames: Mapping[str, pd.DataFrame], drop_step: float, batch: int) -> plt.Figure:
    """M-F15: B_simple over the step of each run (``noise.noise_scale_frame`` by label; invalid
    points are NaN, drawn as gaps), the lr drop marked at ``drop_step``."""
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for k, (label, fr) in enumerate(frames.items()):
        ax.plot(fr.step, fr.b_simple, color=f"C{k}", label=label)
    ax.axvline(drop_step, color="0.5", ls=":", label="lr drop")
    ax.set(
        yscale="log",
        xlabel="step",
        ylabel=r"$B_{simple}$",
        title=f"M-F15: temperature cut 10x (MLP on MNIST-1D, B = {batch})",
    )
    ax.legend(fontsize=8)
    return fig


def adaptive_batch(
    fixed: pd.DataFrame,
    fixed_seeds: pd.DataFrame,
    adaptive: pd.DataFrame,
    phases: pd.DataFrame,
    r: float,
    pareto_fit: Any,
    *,
    best_batch: float,
    seed: int,
    target: float,
) -> plt.Figure:
    """M-F16: steps and examples to the target of every fixed batch (seed ``seed``, each
    labelled), of the best fixed batch ``best_batch`` on all seeds, of the fitted Pareto front
    $E = E_{min} / (1 - S_{min}/S)$ where there is a fit, and of the adaptive runs (left); the
    adaptive batch over each run with $\\sqrt{r B_{simple}}$ measured per phase (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    axes[0].plot(fixed.steps, fixed.examples, "o", label=f"fixed batch (section 3, seed {seed})")
    for r_ in fixed.itertuples():
        axes[0].annotate(
            f"B={r_.batch:.0f}",
            (r_.steps, r_.examples),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    axes[0].plot(
        fixed_seeds.steps,
        fixed_seeds.examples,
        "x",
        color="C0",
        label=f"B = {best_batch:.0f}, all seeds",
    )
    if pareto_fit is not None:
        ss = np.geomspace(pareto_fit.s_min * 1.05, fixed.steps.max() * 1.5, 100)
        axes[0].plot(
            ss,
            pareto_fit.e_min / (1 - pareto_fit.s_min / ss),
            "-",
            color="0.6",
            label="fitted front",
        )
    axes[0].plot(
        adaptive.steps,
        adaptive.examples,
        "*",
        ms=14,
        color="C3",
        label=f"adaptive B = sqrt(r B_simple), r = {r:.0f}",
    )
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="steps to the target",
        ylabel="examples to the target",
        title=f"M-F16: MLP on MNIST-1D, loss {target:g}",
    )
    axes[0].legend(fontsize=8)
    for k, (s, p) in enumerate(phases.groupby("seed")):
        axes[1].step(
            p.steps_before, p.batch, where="post", color=f"C{k}", label=f"batch used, seed {s}"
        )
        axes[1].plot(p.steps_before, np.sqrt(r * p.B_simple), ".", color=f"C{k}")
        plots.mark_unresolved(axes[1], p.steps_before[p.B_simple.isna()], color=f"C{k}", axis="x")
    axes[1].plot([], [], "k.", label="sqrt(r B_simple) measured in the phase")
    axes[1].set(
        yscale="log", xlabel="step", ylabel="batch size", title="the adaptive batch over the run"
    )
    axes[1].legend(fontsize=8)
    return fig


def gain_vs_branches(gain_points: pd.DataFrame, labels: Mapping[str, str]) -> plt.Figure:
    """CBS-F2: the measured speed-up per step $\\eta B / B_0$ of every branch against AdaScale's
    gain $r = (\\sigma^2 + \\mu^2)/(\\sigma^2/S + \\mu^2)$ (left, the line speed-up = gain), and
    the progress per example $\\eta$ per checkpoint against Pollux's efficiency (right).
    ``labels`` maps each task of ``gain_points`` to its legend label, in drawing order."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for k, (name, task_label) in enumerate(labels.items()):
        g = gain_points[(gain_points.task == name) & (gain_points.speedup > 0)]  # log axes
        axes[0].plot(g.gain, g.speedup, "o", ms=4, alpha=0.6, color=f"C{k}", label=task_label)
        m = g.groupby(["checkpoint", "batch"])[["eta", "efficiency"]].mean().reset_index()
        for j, (c, mc) in enumerate(m.groupby("checkpoint")):
            axes[1].plot(
                mc.batch,
                mc.eta,
                "o-",
                color=f"C{k}",
                alpha=0.4 + 0.2 * j,
                ms=4,
                label=f"{name}: measured, step {c}" if j == 0 else None,
            )
            axes[1].plot(
                mc.batch,
                mc.efficiency,
                "--",
                color=f"C{k}",
                alpha=0.4 + 0.2 * j,
                label=f"{name}: Pollux efficiency" if j == 0 else None,
            )
    lim = [0.3, max(gain_points.gain.max(), gain_points.speedup.max()) * 2]
    axes[0].plot(lim, lim, "k-", lw=1, label="speed-up = gain")
    axes[0].set(
        xscale="log",
        yscale="log",
        xlabel="AdaScale gain r from B_simple",
        ylabel=r"measured speed-up per step $\eta B / B_0$",
        title="CBS-F2: every branch, seed and checkpoint",
    )
    axes[1].axhline(1 / 1.2, color="0.5", ls=":", label="keeps pace (1 / 1.2)")
    axes[1].set(
        xscale="log",
        xlabel="batch B",
        ylabel=r"progress per example $\eta$ vs $B_0$",
        title="progress per example: measured and Pollux's",
    )
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=6)
    return fig
