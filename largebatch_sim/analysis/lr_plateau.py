"""How wide the plateau of a rate sweep is: the octaves of rates that do nearly as well as the
best (L-F3, "with LARS the accuracy has a wide plateau in the base rate")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def plateau_octaves(lrs: Sequence[float], values: Sequence[float], tolerance: float) -> float:
    """Width, in octaves (log2 of the largest over the smallest rate), of the contiguous run of
    rates around the best whose value is within ``tolerance`` of the best.

    A failed rate (NaN value) ends the run; NaN when no rate has a finite value. One rate alone
    within the tolerance has width 0.
    """
    order = np.argsort(np.asarray(lrs, float))
    lr = np.asarray(lrs, float)[order]
    v = np.asarray(values, float)[order]
    if not np.isfinite(v).any():
        return np.nan
    best = int(np.nanargmax(v))
    near = np.isfinite(v) & (v >= v[best] - tolerance)
    lo = hi = best
    while lo > 0 and near[lo - 1]:
        lo -= 1
    while hi < len(v) - 1 and near[hi + 1]:
        hi += 1
    return float(np.log2(lr[hi] / lr[lo]))


def plateau_table(frame: pd.DataFrame, tolerance: float, value: str = "acc") -> pd.DataFrame:
    """``InRange``'s one-row table: the plateau width of the seed-mean ``value`` per ``lr``.

    A rate where any seed failed (NaN) counts as failed."""
    means = frame.groupby("lr")[value].apply(lambda s: s.mean() if s.notna().all() else np.nan)
    width = plateau_octaves(means.index.to_numpy(float), means.to_numpy(float), tolerance)
    return pd.DataFrame({"value": [width]})
