"""How the measured noise scale moves: over training (M-F-curve), with the temperature
(M-F15), and what an adaptive batch built on it costs (M-F16).

Inputs are the frames of ``noise.noise_scale_frame`` (columns step, g2_est, trace_est,
b_simple, valid) joined with the training loss of each measurement's window (``train_loss``).
An estimate whose averaged |G|^2 is not positive is unresolved: it is kept as NaN (and counted),
never turned into a number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .noise import noise_scale_frame


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


def temperature_rises(
    pairs: Sequence[tuple[pd.DataFrame, pd.DataFrame]], factor: float
) -> pd.DataFrame:
    """``temperature_rise`` for each (constant-rate, cut) pair of noise frames, one pair per
    seed: a row each."""
    return pd.DataFrame([temperature_rise(const, cut, factor) for const, cut in pairs])


def mf15_table(rises: pd.DataFrame) -> pd.DataFrame:
    """M-F15's table: the measured / predicted rise of each seed (1 = as predicted); the
    criterion reads their mean."""
    return rises[["value"]].reset_index(drop=True)


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


def noise_curve(
    results: Sequence[Any], best: pd.DataFrame, n_targets: int
) -> tuple[Any, pd.DataFrame]:
    """M-F-curve's run and its noise scale over training.

    Among ``results`` (one task's sweep), the runs that carry the noise instrument and did not
    diverge share one batch; the one chosen is the run whose lr is nearest (in log) to that
    batch's best lr for the middle target (fewest steps, ``critical_batch.best_per_batch``:
    ``best`` holds the task's rows, one per target in order; its first resolved one from the
    middle on). Without any resolved target the first noise run's lr is used. Returns the run
    and ``noise.noise_scale_frame`` of its measurements, each joined with the training loss of
    the window it falls in (``train_loss``: the records close each window).
    """
    noisy = [r for r in results if r.config.noise_chunks and not r.diverged]
    b = noisy[0].config.batch
    mid = best[best.batch == b].iloc[n_targets // 2 :]
    lr = mid.best_lr.dropna().iloc[0] if mid.best_lr.notna().any() else noisy[0].config.lr
    chosen = min(noisy, key=lambda r: abs(np.log(r.config.lr / lr)))
    frame = noise_scale_frame(chosen.instruments["noise"])
    loss = chosen.history[chosen.history.metric == "train_loss"][["step", "value"]]
    frame = pd.merge_asof(
        frame.sort_values("step"),
        loss.rename(columns={"value": "train_loss"}),
        on="step",
        direction="forward",
    )
    return chosen, frame


def curve_summary(task: str, chosen: Any, frame: pd.DataFrame, chunks: int) -> dict[str, Any]:
    """One row of M-F-curve's table: B_simple at the start (median of the valid EMA points of
    the first 5 % of measurements), its mean over the valid points and at the end (median of
    the last 5 % of valid points), the loss at both ends, and the counts of raw |G|^2
    estimates <= 0 and of unresolved EMA points. ``chunks``: the instrument's split,
    B_small = B / chunks."""
    ok = frame[frame.valid]
    n = len(frame)
    start = frame.iloc[: max(1, n // 20)]
    return dict(
        task=task,
        lr=chosen.config.lr,
        batch=chosen.config.batch,
        b_small=chosen.config.batch // chunks,
        B_simple_start=start[start.valid].b_simple.median(),
        B_simple_mean=ok.b_simple.mean(),
        B_simple_end=ok.b_simple.iloc[-max(1, n // 20) :].median(),
        loss_start=frame.train_loss.iloc[0],
        loss_end=frame.train_loss.iloc[-1],
        raw_g2_nonpositive=int((frame.g2_est <= 0).sum()),
        unresolved=int((~frame.valid).sum()),
        measurements=n,
    )


def temperature_summary(label: str, result: Any, fr: pd.DataFrame, lr_end: float) -> dict[str, Any]:
    """One row of M-F15's table for a run with the noise instrument (``fr``: its
    ``noise.noise_scale_frame``): B_simple over the window [0.4, 0.5) of its steps (before a
    half-time drop) and over its last quarter, each the ratio of the window's mean estimates
    (mean tr(Sigma) / mean |G|^2), the fraction of raw |G|^2 estimates <= 0 in the last quarter
    and the final training loss."""
    last = fr.step.max()
    half = fr[(fr.step < last / 2) & (fr.step >= 0.4 * last)]
    tail = fr[fr.step >= 0.75 * last]
    loss = result.history[result.history.metric == "train_loss"].value
    return dict(
        run=label,
        lr_end=lr_end,
        B_simple_before=half.trace_est.mean() / half.g2_est.mean(),
        B_simple_last_quarter=tail.trace_est.mean() / tail.g2_est.mean(),
        raw_g2_nonpositive_last_quarter=float((tail.g2_est <= 0).mean()),
        train_loss_end=float(loss.iloc[-1]),
        diverged=result.diverged,
    )
