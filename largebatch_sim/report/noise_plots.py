"""Notebook 03's figure of B_noise against B_simple along one run
(``analysis.noise_checkpoints``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd


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
