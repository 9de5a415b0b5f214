"""Notebook 06's figures: DL-F1's steady states, DL-T1's accuracy vs batch per topology,
CA-T1's accuracies per method, CA-F1's times per step. Each takes the tidy tables of
``analysis.beyond_one_worker`` and the paper's numbers as the target registry states them
(drawn as a caption: the papers' tasks are not on our axes); seeds as mean and spread."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .optimizer_plots import _paper_caption

LABELS = {"pmsgd": "PmSGD (all-reduce)", "dmsgd": "DmSGD", "decentlam": "DecentLaM"}
COLORS = {"pmsgd": "C0", "dmsgd": "C1", "decentlam": "C2"}


def steady_states(table: pd.DataFrame, paper: str) -> plt.Figure:
    """DL-F1: simulated steady-state error against beta and against the batch (log scale),
    the closed-form full-gradient bias of each method dashed beside it."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, sweep, x in zip(axes, ("momentum", "batch"), ("momentum", "batch"), strict=True):
        part = table[table.sweep == sweep]
        for name in LABELS:
            rows = part[part.optimizer == name]
            ax.plot(rows[x], rows.error, "o-", color=COLORS[name], label=LABELS[name])
            if name != "pmsgd":  # PmSGD's bias is 0, off a log axis
                ax.plot(rows[x], rows.bias, "--", color=COLORS[name], alpha=0.6)
        ax.set_yscale("log")
        ax.set_ylabel("steady-state error (1/n) sum ||x_i - x*||^2")
    axes[0].set_xlabel("momentum beta (batch and step fixed)")
    axes[1].set_xlabel("batch per node B (step scaled linearly, beta = 0.9)")
    axes[1].set_xscale("log", base=2)
    axes[0].legend(title="simulated (dashed: closed-form bias)", fontsize=8, loc="lower right")
    _paper_caption(fig, paper)
    return fig


def accuracy_vs_batch(runs: pd.DataFrame, paper: str) -> plt.Figure:
    """DL-T1: the average model's test accuracy against the global batch, one panel per
    topology, PmSGD in both."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, topology in zip(axes, ("ring", "exponential"), strict=True):
        for name in LABELS:
            rows = runs[
                (runs.optimizer == name) & ((runs.topology == topology) | (name == "pmsgd"))
            ]
            stats = rows.groupby("batch").acc.agg(["mean", "std"]).reset_index()
            ax.errorbar(
                stats.batch,
                stats["mean"],
                yerr=stats["std"],
                capsize=3,
                marker="o",
                color=COLORS[name],
                label=LABELS[name],
            )
        ax.set_xscale("log", base=2)
        ax.set_title(f"{topology} graph, 8 nodes, label-skewed shards")
        ax.set_xlabel("global batch (8 x batch per node)")
    axes[0].set_ylabel("test accuracy of the average model (%)")
    axes[0].legend()
    _paper_caption(fig, paper)
    return fig


def conadv_accuracy(runs: pd.DataFrame, paper: str) -> plt.Figure:
    """CA-T1: test accuracy per method at the large batch, every seed a dot, the mean a bar."""
    order = list(dict.fromkeys(runs.method))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    means = runs.groupby("method").acc.mean()[order]
    ax.bar(range(len(order)), means, color="0.85")
    for i, method in enumerate(order):
        acc = runs[runs.method == method].acc
        ax.plot(np.full(len(acc), i), acc, "o", color="C0")
    ax.set_xticks(range(len(order)), order)
    ax.set_ylim(max(0, runs.acc.min() - 10), min(100, runs.acc.max() + 5))
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"MLP on MNIST-1D, LAMB, batch {int(runs.batch.max())}")
    _paper_caption(fig, paper)
    return fig


def step_times(times: pd.DataFrame, paper: str) -> plt.Figure:
    """CA-F1: seconds per step against the batch: plain, sequential adversarial (measured) and
    ConAdv's concurrent step (modelled)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for column, label, style in (
        ("t_plain", "plain step (measured)", "o-"),
        ("t_sequential", "sequential adversarial step (measured)", "s-"),
        ("t_concurrent", "ConAdv, FGSM concurrent (modelled)", "^--"),
    ):
        ax.plot(times.batch, 1e3 * times[column], style, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch B (clean examples per step)")
    ax.set_ylabel("ms per step")
    ax.legend(fontsize=8)
    _paper_caption(fig, paper)
    return fig
