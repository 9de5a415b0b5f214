"""The shape of a batch-size curve: steps to a target and best rate against the batch size.

Each function reads a table with one row per batch size, sorted by batch, with the columns
``batch``, ``steps`` (fewest steps to the target over the rate grid) and ``best_lr`` (the rate
that achieved them), as ``nqm.sweep`` and the notebooks' steps-to-target searches produce. The
``*_tables`` functions build the tables the registry's criteria read (N-F1, N-F2, N-F3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def _sorted(best: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in ("batch", *columns) if c not in best.columns]
    if missing:
        raise ValueError(f"the batch-size table needs the columns {missing}")
    return best.sort_values("batch")


def steps_factor_per_doubling(best: pd.DataFrame, n: int = 4) -> float:
    """How many times fewer steps each doubling of B gives over the n smallest batches:
    exp(-mean d log S / d log2 B). 2 is perfect scaling."""
    b = _sorted(best, ["steps"]).iloc[:n]
    slope = np.polyfit(np.log2(b.batch.to_numpy(float)), np.log(b.steps.to_numpy(float)), 1)[0]
    return float(np.exp(-slope))


def last_doubling_saving(best: pd.DataFrame) -> float:
    """The fraction of steps the largest batch saves over the one before: 1 - S_last / S_prev."""
    s = _sorted(best, ["steps"]).steps.to_numpy(float)
    return float(1 - s[-1] / s[-2])


def lr_loglog_slope(best: pd.DataFrame, n: int = 4) -> float:
    """Slope of log best_lr against log B over the n smallest batches (1: linear in B)."""
    b = _sorted(best, ["best_lr"]).iloc[:n]
    return float(np.polyfit(np.log(b.batch.to_numpy(float)), np.log(b.best_lr), 1)[0])


def lr_change_at_largest(best: pd.DataFrame, n: int = 3) -> float:
    """Relative change of the best rate over the last n doublings: max / min - 1."""
    lr = _sorted(best, ["best_lr"]).best_lr.to_numpy(float)[-(n + 1) :]
    return float(lr.max() / lr.min() - 1)


def nf1_tables(best: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """N-F1's parts: perfect scaling at small B, diminishing returns at the largest."""
    return {
        "perfect scaling": pd.DataFrame({"value": [steps_factor_per_doubling(best)]}),
        "diminishing returns": pd.DataFrame({"value": [last_doubling_saving(best)]}),
    }


def nf3_tables(best: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """N-F3's parts: a linear best rate at small B, a flat one at the largest."""
    return {
        "linear": pd.DataFrame({"value": [lr_loglog_slope(best)]}),
        "flat": pd.DataFrame({"value": [lr_change_at_largest(best)]}),
    }


def ordered_pairs(values: Mapping[str, float], pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """Rows (pair, a, b) for a criterion that orders named values, e.g. critical batches:
    ``pairs`` of (name expected larger, name expected smaller)."""
    return pd.DataFrame(
        [dict(pair=f"{a} > {b}", a=values[a], b=values[b]) for a, b in pairs],
        columns=["pair", "a", "b"],
    )
