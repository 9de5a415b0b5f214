"""Notebook 05's AutoWU measurements (Kim et al. 2021; AW-T1, AW-F1): AutoWU untuned against
the tuned gradual warmup per batch, and one run's rate and GP-smoothed loss, as tidy tables.

Accuracies are test accuracies in percent; a diverged run reads as 0 % (``scored_error``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..auto_warmup import GRID_POINTS, gp_posterior
from ..runs import RunResult
from .outcomes import scored_error

AUTO, TUNED = "auto", "tuned"


def aw_t1_tables(
    auto: Mapping[int, Sequence[RunResult]], tuned: pd.DataFrame, names: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """AW-T1's (group, seed, value) table for each part ``names`` (one per batch, in order of
    ``auto``'s batches): AutoWU's final accuracy per seed (group "auto") and the tuned
    warmup's per-seed accuracy at its best rate (``tuned``: columns batch, seed, acc)."""
    tables = {}
    for name, (batch, runs) in zip(names, auto.items(), strict=True):
        rows = [
            {"group": AUTO, "seed": r.config.seed, "value": 100.0 - scored_error(r)} for r in runs
        ]
        best = tuned[tuned.batch == batch]
        rows += [
            {"group": TUNED, "seed": s, "value": a}
            for s, a in zip(best.seed, best.acc, strict=True)
        ]
        tables[name] = pd.DataFrame(rows)
    return tables


def switch_table(runs: Sequence[RunResult], warmup_steps: int) -> pd.DataFrame:
    """Per AutoWU run: the step its decay starts, the fraction of the maximal warmup used
    before it (1 when the test never switched) and the rate it decays from. Columns seed,
    switch_step, value (the fraction), lr_at_switch, lr_reached (the warmup's last rate)."""
    rows = []
    for r in runs:
        rates = r.instruments["auto_warmup"]
        decay = rates[rates.phase == "decay"]
        start = int(decay.step.min()) if len(decay) else warmup_steps + 1
        rows.append(
            {
                "seed": r.config.seed,
                "switch_step": start,
                "value": (start - 1) / warmup_steps,
                "lr_at_switch": float(decay.lr.iloc[0]) if len(decay) else np.nan,
                "lr_reached": float(rates.lr[rates.step == start - 1].iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def smoothed_warmup_loss(result: RunResult, switch_step: int) -> pd.DataFrame:
    """The per-step training loss of the warmup up to ``switch_step`` and the GP posterior
    mean the controller's test saw there (all the losses, one posterior): columns step, loss,
    smoothed."""
    trace = result.instruments["loss_trace"]
    losses = trace[trace.step < switch_step].sort_values("step")
    y = losses.value.to_numpy(float)
    finite = np.isfinite(y)
    x = np.arange(len(y)) / len(y)
    grid = np.linspace(0, 1, GRID_POINTS)
    mean = gp_posterior(x[finite], y[finite], grid)[0]
    smoothed = np.interp(x, grid, mean)
    return pd.DataFrame({"step": losses.step, "loss": y, "smoothed": smoothed})
