"""How the measured noise scale moves: over training (M-F-curve), with the temperature
(M-F15), and what an adaptive batch built on it costs (M-F16).

Inputs are the frames of ``noise.noise_scale_frame`` (columns step, g2_est, trace_est,
b_simple, valid) joined with the training loss of each measurement's window (``train_loss``).
An estimate whose averaged |G|^2 is not positive is unresolved: it is kept as NaN (and counted),
never turned into a number.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def window_b_simple(frame: pd.DataFrame) -> float:
    """B_simple over a window of measurements: mean tr(Sigma) estimate / mean |G|^2 estimate
    (average each, then divide); NaN (unresolved) when the mean |G|^2 is not positive."""
    g2 = float(frame.g2_est.mean()) if len(frame) else np.nan
    return float(frame.trace_est.mean()) / g2 if np.isfinite(g2) and g2 > 0 else np.nan


def curve_points(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """M-F-curve's table: every measurement of the noise runs (key: task) with its window's
    training loss, b_simple NaN where unresolved (the criterion counts defined pairs only)."""
    parts = [
        f.assign(task=task, b_simple=f.b_simple.where(f.valid))[
            ["task", "step", "train_loss", "b_simple"]
        ]
        for task, f in frames.items()
    ]
    return pd.concat(parts, ignore_index=True)


def temperature_rise(const: pd.DataFrame, cut: pd.DataFrame, factor: float) -> dict[str, float]:
    """B_simple over the last quarter of a run whose rate is cut by ``factor`` at half-time,
    over the same in a constant-rate run, and that rise divided by the cut (M-F15's value;
    NaN where either window is unresolved). Also the fraction of raw |G|^2 estimates <= 0 in
    the cut run's last quarter."""

    def tail(f: pd.DataFrame) -> pd.DataFrame:
        return f[f.step >= 0.75 * f.step.max()]

    before, after = window_b_simple(tail(const)), window_b_simple(tail(cut))
    rise = after / before
    return dict(
        b_simple_constant=before,
        b_simple_cut=after,
        rise=rise,
        value=rise / factor,
        raw_g2_nonpositive=float((tail(cut).g2_est <= 0).mean()),
    )


def mf15_table(rise: Mapping[str, float]) -> pd.DataFrame:
    """M-F15's table: the measured / predicted rise (1 = as predicted)."""
    return pd.DataFrame({"value": [rise["value"]]})


def cost(steps: float, examples: float, r: float) -> float:
    """McCandlish et al.'s cost of reaching a target: S + E / r (r examples are worth a step)."""
    return float(steps + examples / r)


def mf16_table(fixed: pd.DataFrame, adaptive: pd.DataFrame, r: float) -> pd.DataFrame:
    """M-F16's table (group, seed, value = cost S + E / r): ``fixed`` holds the best fixed
    batch's runs (seed, steps, examples), ``adaptive`` the adaptive runs; a run that never
    reached the target has cost NaN."""
    parts = []
    for group, frame in (("fixed", fixed), ("adaptive", adaptive)):
        parts.append(
            pd.DataFrame(
                {
                    "group": group,
                    "seed": frame.seed.to_numpy(),
                    "value": frame.steps.to_numpy(float) + frame.examples.to_numpy(float) / r,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)
