"""Notebook 05's figures: optimizers tuned per batch (LAMB-T1), trust ratios over training
(LAMB-F1), LEGW against fixed warmups (LEGW-F1), the PyTorch warmup scheduler (GW-F1), batch
augmentation (BA-F1, BA-F2) and AutoWU (AW-T1, AW-F1). Each
takes the tidy tables of ``analysis.optimizer_study`` and the paper's numbers as the target
registry states them (drawn as a caption: the papers' tasks are not on our axes), and returns
the figure; seeds are drawn as mean and spread."""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

OPTIMIZER_LABELS = {"sgd": "SGD + momentum", "adamw": "AdamW", "lars": "LARS", "lamb": "LAMB"}
RULE_LABELS = {
    "legw": "LEGW: lr x sqrt(k), warmup x k",
    "linear": "linear scaling, fixed warmup",
    "sqrt": "sqrt scaling, fixed warmup",
}


def _paper_caption(fig: plt.Figure, paper: str) -> None:
    """The paper's numbers under the axes, in grey."""
    fig.text(
        0.5, -0.02, f"paper: {paper}", ha="center", va="top", fontsize=8, color="0.35", wrap=True
    )


def _mean_and_spread(ax: plt.Axes, frame: pd.DataFrame, x: str, label: str, **style) -> None:
    stats = frame.groupby(x).acc.agg(["mean", "std", "count"]).reset_index()
    ax.errorbar(stats[x], stats["mean"], yerr=stats["std"], capsize=3, label=label, **style)


def accuracy_vs_batch(per_seed: pd.DataFrame, best: pd.DataFrame, paper: str) -> plt.Figure:
    """LAMB-T1: per model, each optimizer's test accuracy at its tuned rate against the batch
    (mean and seed spread); a best rate at its grid's cap is marked with an open circle."""
    models = list(dict.fromkeys(per_seed.model))
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.2), sharey=True)
    for ax, model in zip(np.atleast_1d(axes), models, strict=True):
        here = per_seed[per_seed.model == model]
        for i, (name, label) in enumerate(OPTIMIZER_LABELS.items()):
            rows = here[here.optimizer == name]
            if rows.empty:
                continue
            _mean_and_spread(ax, rows, "batch", label, marker="o", color=f"C{i}")
            edge = best[(best.model == model) & (best.optimizer == name) & (best.edge != "")]
            for b in edge.batch:
                ax.plot(b, rows[rows.batch == b].acc.mean(), "o", ms=12, mfc="none", mec=f"C{i}")
        ax.set(xscale="log", xlabel="batch size B", title=model)
        ax.set_xscale("log", base=2)
    np.atleast_1d(axes)[0].set_ylabel("test accuracy (%), best rate per batch")
    np.atleast_1d(axes)[-1].legend(fontsize=8, loc="lower left")
    fig.suptitle("LAMB-T1: each optimizer tuned per batch (open circle: best rate at a grid cap)")
    _paper_caption(fig, paper)
    return fig


def trust_ratios_over_training(trust: Mapping[str, pd.DataFrame], paper: str) -> plt.Figure:
    """LAMB-F1: the per-tensor trust ratio over training, one panel per optimizer (weights
    solid, biases and norms dashed), log scale."""
    fig, axes = plt.subplots(1, len(trust), figsize=(6 * len(trust), 4.2))
    for ax, (name, frame) in zip(np.atleast_1d(axes), trust.items(), strict=True):
        for i, (param, rows) in enumerate(frame.groupby("param", sort=False)):
            style = "-" if rows.kind.iloc[0] == "weight" else "--"
            ax.plot(rows.step, rows.value, style, color=f"C{i % 10}", lw=1.2, label=param)
        ax.set(yscale="log", xlabel="step", ylabel="trust ratio $\\lambda_l$", title=name)
    np.atleast_1d(axes)[-1].legend(fontsize=7, ncol=2, loc="best")
    fig.suptitle("LAMB-F1: per-layer trust ratios over training")
    _paper_caption(fig, paper)
    return fig


def accuracy_vs_k(per_seed: pd.DataFrame, base_acc: float, paper: str) -> plt.Figure:
    """LEGW-F1: test accuracy against k = B / B0 for each rule (mean and seed spread), with the
    base run's accuracy as a line."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (rule, label) in enumerate(RULE_LABELS.items()):
        _mean_and_spread(ax, per_seed[per_seed.rule == rule], "k", label, marker="o", color=f"C{i}")
    ax.axhline(base_acc, color="k", lw=0.8, ls=":", label="k = 1 (tuned here)")
    ax.set(xlabel="k = B / B0", ylabel="test accuracy (%)", title="LEGW-F1: one tuning at B0")
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=8)
    _paper_caption(fig, paper)
    return fig


WARMUP_LABELS = {
    "gradual": "Goyal: ramp every iteration",
    "staircase": "scheduler per epoch, from the small-batch rate",
    "staircase_from_0": "scheduler per epoch, multiplier 1 (from 0)",
    "shifted_from_0": "the same, stepped once before training",
}


def warmup_rates_and_losses(
    rates: Mapping[str, np.ndarray],
    traces: Mapping[str, pd.DataFrame],
    steps_per_epoch: int,
    paper: str,
) -> plt.Figure:
    """GW-F1: the rate of the first epochs (left) and the training loss of every step (right,
    one seed) for each warmup, epochs marked."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True)
    for i, (name, label) in enumerate(WARMUP_LABELS.items()):
        steps = np.arange(1, len(rates[name]) + 1)
        left.step(steps, rates[name], where="post", color=f"C{i}", label=label)
        trace = traces[name]
        right.plot(trace.step, trace.value, color=f"C{i}", lw=1, label=label)
    for ax in (left, right):
        for epoch in range(1, int(len(steps) / steps_per_epoch) + 1):
            ax.axvline(epoch * steps_per_epoch, color="0.8", lw=0.6, zorder=0)
        ax.set_xlabel("step (grey lines: epochs)")
    left.set(ylabel="learning rate", title="the rate")
    right.set(ylabel="training loss (one seed)", yscale="log", title="the loss of every step")
    left.legend(fontsize=8)
    fig.suptitle("GW-F1: PyTorch's GradualWarmupScheduler stepped per epoch vs Goyal's ramp")
    _paper_caption(fig, paper)
    return fig


def accuracy_vs_steps(curves: pd.DataFrame, target: float, paper: str) -> plt.Figure:
    """BA-F1: test accuracy against steps for each number of copies M (mean and seed spread),
    with M = 1's final accuracy as a line."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (m, rows) in enumerate(curves.groupby("copies")):
        stats = rows.groupby("step").acc.agg(["mean", "std"]).reset_index()
        ax.plot(stats.step, stats["mean"], color=f"C{i}", label=f"M = {m}")
        ax.fill_between(
            stats.step, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
            color=f"C{i}", alpha=0.2, lw=0,
        )  # fmt: skip
    ax.axhline(target, color="k", lw=0.8, ls=":", label="M = 1's final accuracy")
    ax.set(xlabel="step", ylabel="test accuracy (%)", ylim=(max(0, target - 25), None))
    ax.set_title("BA-F1: M augmented copies per example, same B and steps")
    ax.legend(fontsize=8)
    _paper_caption(fig, paper)
    return fig


def noise_vs_copies(noise: pd.DataFrame, paper: str) -> plt.Figure:
    """BA-F2: tr(Sigma) and B_simple per unique example against M (mean and seed spread)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, column, label in zip(
        axes, ("trace", "b_simple"), ("tr($\\Sigma$) per unique example", "$B_{simple}$"),
        strict=True,
    ):  # fmt: skip
        stats = noise.groupby("copies")[column].agg(["mean", "std"]).reset_index()
        ax.errorbar(stats.copies, stats["mean"], yerr=stats["std"], marker="o", capsize=3)
        ax.set(xscale="log", xlabel="copies M", ylabel=label)
        ax.set_xscale("log", base=2)
    fig.suptitle("BA-F2: the gradient noise per unique example falls with the copies")
    _paper_caption(fig, paper)
    return fig


def auto_vs_tuned(tables: Mapping[str, pd.DataFrame], paper: str) -> plt.Figure:
    """AW-T1: per batch, AutoWU's and the tuned warmup's final accuracy, each seed a dot."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, table in enumerate(tables.values()):
        for j, group in enumerate(("tuned", "auto")):
            values = table[table.group == group].value
            x = i + (j - 0.5) * 0.3
            label = ("tuned gradual warmup", "AutoWU, untuned")[j] if i == 0 else None
            ax.bar(x, values.mean(), width=0.28, color=f"C{j}", alpha=0.6, label=label)
            ax.plot(np.full(len(values), x), values, "k.", ms=5)
    ax.set_xticks(range(len(tables)), [name.split(":")[0] for name in tables])
    lows = min(t.value.min() for t in tables.values())
    ax.set(ylabel="test accuracy (%)", ylim=(max(0, lows - 5), None))
    ax.set_title("AW-T1: AutoWU without tuning against a tuned warmup")
    ax.legend(fontsize=8, loc="lower right")
    _paper_caption(fig, paper)
    return fig


def auto_warmup_run(
    rates: pd.DataFrame, smoothed: pd.DataFrame, trace: pd.DataFrame, switch: int, paper: str
) -> plt.Figure:
    """AW-F1: one AutoWU run's rate (left, log scale) and training loss with the GP-smoothed
    warmup loss (right), the switch marked."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True)
    left.plot(rates.step, rates.lr, color="C0")
    left.set(yscale="log", xlabel="step", ylabel="learning rate", title="the rate")
    right.plot(trace.step, trace.value, color="0.6", lw=0.7, label="training loss (every step)")
    right.plot(smoothed.step, smoothed.smoothed, color="C3", lw=2, label="GP-smoothed (warmup)")
    right.set(yscale="log", xlabel="step", ylabel="training loss", title="the loss")
    for ax in (left, right):
        ax.axvline(switch, color="k", ls="--", lw=1, label="switch to the decay")
    right.legend(fontsize=8)
    fig.suptitle("AW-F1: AutoWU's exponential warmup, its switch and the cosine decay")
    _paper_caption(fig, paper)
    return fig
