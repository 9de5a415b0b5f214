"""Whether the per-tensor ratio ||w|| / ||grad w|| falls over training (L-F-ratio), from the
``NormRatios`` instrument's tidy table (step, param, kind, metric, value)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ratio_fall(norms: pd.DataFrame, factor: float = 0.5, kind: str = "weight") -> pd.DataFrame:
    """One row per tensor of ``kind``: its ratio at the first and the last recorded step, and
    ``value`` = 1.0 when the last is below ``factor`` times the first, 0.0 when not, NaN when
    either ratio is undefined (a gradient at round-off zero, NaN in the instrument).

    The mean of ``value`` over the tensors is L-F-ratio's fraction; ``InRange`` reads it.
    """
    t = norms[(norms.metric == "ratio") & (norms.kind == kind)].sort_values("step")
    rows = []
    for param, g in t.groupby("param", sort=False):
        start, end = float(g.value.iloc[0]), float(g.value.iloc[-1])
        defined = np.isfinite(start) and np.isfinite(end) and start > 0
        rows.append(
            dict(
                param=param,
                ratio_start=start,
                ratio_peak=float(g.value.max()),
                ratio_end=end,
                value=float(end < factor * start) if defined else np.nan,
            )
        )
    return pd.DataFrame(rows, columns=["param", "ratio_start", "ratio_peak", "ratio_end", "value"])
