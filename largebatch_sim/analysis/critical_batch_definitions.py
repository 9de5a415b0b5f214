"""Three definitions of the critical batch on the same runs, and the tables their targets read
(CBS-F1, CBS-T1, CBS-F2; TARGETS.md).

- **Pareto fit** (McCandlish et al. 2018): B_crit = E_min / S_min of
  S(B) = S_min (1 + B_crit / B) fitted to the fewest steps to a target per batch
  (``critical_batch.pareto_table``).
- **20 % overhead** (Zhang et al. 2025): the batch at which the steps to the target exceed
  perfect scaling from the smallest batch B0 by 20 %, S(B) = 1.2 S(B0) B0 / B, i.e. the examples
  E(B) = 1.2 E(B0) (``overhead_batch``, interpolated in log B between the grid's batches).
- **Branched** (Merrill et al. 2025): the largest batch whose branches from a checkpoint keep
  pace per example (``branches.keep_pace_batch``, with the same 20 % tolerance).

Under the hyperbola the last two sit at B = 1.2 B0 + 0.2 B_crit, so both are put on the Pareto
fit's scale by ``branches.bcrit_from_overhead_batch`` before B_simple is compared with them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..validate import check_number
from . import gain
from .branches import bcrit_from_overhead_batch


def overhead_batch(best: pd.DataFrame, overhead: float = 1.2) -> pd.DataFrame:
    """Zhang et al.'s critical batch per (task, target) of ``critical_batch.best_per_batch``'s
    table: the first batch where E(B) / E(B0) exceeds ``overhead`` (B0 the smallest batch that
    reached the target), interpolated in log B from the batch before it. Columns: task, target,
    b0, b_overhead (NaN when censored), bracket_lo / bracket_hi (the grid's batches around it),
    censored ("above": every batch within the overhead; "below": the second batch already
    beyond it; "" otherwise), b_crit_equivalent (on the Pareto fit's scale)."""
    check_number("overhead", overhead, low=1, low_open=True)
    rows = []
    for (task, target), g in best.groupby(["task", "target"], sort=False):
        g = g.dropna(subset=["steps"]).sort_values("batch")
        row = dict(task=task, target=target, b0=np.nan, b_overhead=np.nan, censored="")
        row.update(bracket_lo=np.nan, bracket_hi=np.nan, b_crit_equivalent=np.nan)
        if len(g) >= 2:
            b, ratio = g.batch.to_numpy(float), g.examples.to_numpy(float) / g.examples.iloc[0]
            beyond = np.flatnonzero(ratio > overhead)
            row["b0"] = b[0]
            if beyond.size == 0:
                row.update(censored="above", bracket_lo=b[-1])
            elif beyond[0] == 0:
                row.update(censored="below")
            else:
                i = beyond[0]
                t = (overhead - ratio[i - 1]) / (ratio[i] - ratio[i - 1])
                value = float(np.exp(np.log(b[i - 1]) + t * np.log(b[i] / b[i - 1])))
                row.update(
                    b_overhead=value,
                    bracket_lo=b[i - 1],
                    bracket_hi=b[i],
                    b_crit_equivalent=bcrit_from_overhead_batch(value, b[0], overhead),
                )
        rows.append(row)
    return pd.DataFrame(rows)


def multiplicative_spread(values: pd.Series) -> float:
    """exp(sd of log v) over the finite positive values: a x/÷ factor (NaN below two values)."""
    v = np.asarray(values, float)
    v = np.log(v[np.isfinite(v) & (v > 0)])
    return float(np.exp(v.std(ddof=1))) if v.size > 1 else np.nan


def censored_median(values: pd.Series, censored: pd.Series) -> tuple[float, str]:
    """The median over seeds of values some of which are censored: "below" (under the grid)
    ranks lowest, "above" (the value a lower bound) highest, the lower middle for an even
    count. Returns (value, which): NaN and "below" when the median seed is under the grid,
    its lower bound and "above" when it is over it, the value and "" otherwise."""
    rank = {"below": -np.inf, "above": np.inf}
    keyed = sorted(
        zip(values.to_numpy(float), censored.to_numpy(), strict=True),
        key=lambda vc: rank.get(vc[1], vc[0] if np.isfinite(vc[0]) else -np.inf),
    )
    if not keyed:
        return np.nan, ""
    value, which = keyed[(len(keyed) - 1) // 2]
    return (np.nan if which == "below" else float(value)), str(which)


def cbsf1_tables(curve: pd.DataFrame, min_points: int = 5) -> dict[str, pd.DataFrame]:
    """CBS-F1's parts from one row per (task, target) with points, B_crit and B_simple: the
    fronts with >= ``min_points`` batch sizes, for the trend of B_crit and of B_simple."""
    judged = curve[curve.points >= min_points]
    table = judged[["task", "target", "B_crit", "B_simple"]]
    return {"B_crit grows": table, "B_simple grows": table}


def cbst1_table(definitions: pd.DataFrame) -> pd.DataFrame:
    """CBS-T1's rows: per (task, definition), a = B_simple and b = that definition's B_crit on
    the Pareto fit's scale. ``definitions``: task, definition, B_simple, B_crit."""
    return pd.DataFrame(
        {
            "pair": [
                f"{t} {d}" for t, d in zip(definitions.task, definitions.definition, strict=True)
            ],
            "a": definitions.B_simple.to_numpy(float),
            "b": definitions.B_crit.to_numpy(float),
        }
    )


def gain_points(
    progress: pd.DataFrame, b_simple: Mapping[int, float], base_batch: float | None = None
) -> pd.DataFrame:
    """CBS-F2's points for one task: each branch (checkpoint, seed, batch > B0) of
    ``branches.progress_per_batch`` with its measured speed-up per step, AdaScale's gain
    r = (1 + B_simple / B0) / (1 + B_simple / B) from B_simple at its checkpoint
    (``b_simple[checkpoint]``), Pollux's efficiency r B0 / B beside the measured eta, and
    ``ratio`` = measured speed-up / gain. B0: the smallest batch, unless ``base_batch``."""
    rows = progress[progress.batch > progress.b0].copy()
    b0 = float(progress.b0.min()) if base_batch is None else base_batch
    bs = rows.checkpoint.map(b_simple).to_numpy(float)
    batch = rows.batch.to_numpy(float)
    # tr(Sigma) = B_simple and |G|^2 = 1: the gain depends on their ratio alone
    rows["B_simple"] = bs
    rows["gain"] = gain.adascale_gain(bs, 1.0, batch, b0)
    rows["efficiency"] = gain.statistical_efficiency(bs, 1.0, batch, b0)
    rows["ratio"] = rows.speedup / rows.gain
    return rows.reset_index(drop=True)


def cbsf2_table(points: pd.DataFrame) -> pd.DataFrame:
    """CBS-F2's table: the median measured speed-up / gain over the defined points."""
    ratio = points.ratio.to_numpy(float)
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    return pd.DataFrame({"value": [float(np.median(ratio)) if ratio.size else np.nan]})
