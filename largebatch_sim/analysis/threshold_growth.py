"""How much the largest stable learning rate grows with the batch (L-DIV), in octaves, from
``stability.largest_stable_lr``'s table (one row per batch)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def threshold_growth(thresholds: pd.DataFrame, small: int, large: int) -> pd.DataFrame:
    """``InRange``'s one-row table: log2(threshold at ``large`` / threshold at ``small``).

    A censored threshold (every tried rate stable) is only a lower bound on the true one, and a
    row whose smallest rate already failed has none; ``bound`` says what the number is:
    "exact"; "lower" (the large batch's threshold is censored, the small one's is not: the true
    growth is at least ``value``); "upper" (the small batch's is censored, the large one's is
    not); or "undefined" (``value`` NaN: both censored, or a threshold missing).
    A "lower" or "upper" bound is kept as ``value``: a criterion on a one-sided range can use
    it; the caller sets it to NaN where the bound cannot decide.
    """
    t = thresholds.set_index("batch")
    lo, hi = t.loc[small], t.loc[large]
    a, b = float(lo.largest_stable_lr), float(hi.largest_stable_lr)
    if not (np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0):
        return pd.DataFrame({"value": [np.nan], "bound": ["undefined"]})
    cens_lo, cens_hi = bool(lo.censored), bool(hi.censored)
    bound = (
        "undefined"
        if cens_lo and cens_hi
        else "lower"
        if cens_hi
        else "upper"
        if cens_lo
        else "exact"
    )
    value = np.log2(b / a) if bound != "undefined" else np.nan
    return pd.DataFrame({"value": [value], "bound": [bound]})


def decidable(growth: pd.DataFrame, lo: float, hi: float) -> pd.DataFrame:
    """``growth`` with ``value`` set to NaN where its bound cannot decide [lo, hi]: a lower
    bound inside the range decides only when ``hi`` is infinite, one above ``hi`` always; an
    upper bound inside decides only when ``lo`` is -inf, one below ``lo`` always."""
    g = growth.copy()
    v, bound = float(g.value.iloc[0]), g.bound.iloc[0]
    ok = (
        bound == "exact"
        or bound == "lower"
        and (v > hi or np.isinf(hi) and v >= lo)
        or bound == "upper"
        and (v < lo or np.isinf(lo) and v <= hi)
    )
    if not ok:
        g["value"] = np.nan
    return g
