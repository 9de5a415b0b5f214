"""What a run's history says, as numbers a criterion can judge: final errors, curve gaps,
the loss spike at the end of warmup, weight norms.

Every function reads ``RunResult`` objects (``runs.sweep``); the tables come out tidy, one row
per run (per seed), so the registry's criteria (``report.criteria``) read them directly:
``per_seed`` turns {group: runs} into the (group, seed, value) table of ``Difference`` and
``Match``. Errors are in percent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..runs import RunResult

LAST_EVALUATIONS = 3  # the paper reports the median of the last 5 epochs; we take 3 evaluations


def final_error(result: RunResult, last: int = LAST_EVALUATIONS) -> float:
    """Median test error (%) of the last ``last`` evaluations; NaN for a diverged run."""
    if result.diverged:
        return np.nan
    acc = result.history[result.history.metric == "test_acc"].value.to_numpy()
    return float(100 * (1 - np.median(acc[-last:])))


DIVERGED_ERROR = 100.0  # what a diverged run counts as where a verdict compares settings


def scored_error(result: RunResult, diverged_as: float = DIVERGED_ERROR) -> float:
    """``final_error`` for a verdict that compares settings: a diverged run counts as
    ``diverged_as`` (100 %) rather than dropping out, so that a setting whose runs blow up
    reads as the worst, not as "too few seeds". Figures still mark such runs, never draw them.
    """
    return diverged_as if result.diverged else final_error(result)


def failed(result: RunResult) -> bool:
    """Diverged, or collapsed to chance."""
    return bool(result.diverged or result.summary.get("collapsed", False))


def error_table(results: Iterable[RunResult], workers_of: int = 1, **labels: Any) -> pd.DataFrame:
    """One row per run: batch, k = batch / ``workers_of``, lr, seed, final error, status."""
    rows = [
        dict(
            batch=r.config.batch,
            k=r.config.batch // workers_of,
            lr=r.config.lr,
            seed=r.config.seed,
            error=final_error(r),
            diverged=r.diverged,
            collapsed=bool(r.summary.get("collapsed", False)),
            **labels,
        )
        for r in results
    ]
    return pd.DataFrame(rows)


def curves(results: Iterable[RunResult], metric: str, **labels: Any) -> pd.DataFrame:
    """One history metric over training, tidy (step, epoch, value, batch, seed); accuracies
    become errors in percent."""
    frames = []
    for r in results:
        h = r.history[r.history.metric == metric][["step", "epoch", "value"]].copy()
        if metric.endswith("_acc"):
            h["value"] = 100 * (1 - h.value)
        frames.append(h.assign(batch=r.config.batch, seed=r.config.seed, **labels))
    return pd.concat(frames, ignore_index=True)


def per_seed(
    groups: Mapping[str, Sequence[RunResult]], value: Callable[[RunResult], float]
) -> pd.DataFrame:
    """The (group, seed, value) table of ``Difference`` / ``Match``: ``value`` of each run."""
    rows = [
        dict(group=g, seed=r.config.seed, value=value(r)) for g, rs in groups.items() for r in rs
    ]
    return pd.DataFrame(rows, columns=["group", "seed", "value"])


def knee_table(errors: pd.DataFrame) -> pd.DataFrame:
    """``FlatThenRise``'s table (x, seed, value) from ``error_table`` rows: x is the batch.
    A diverged run counts at 100 % error (it reached no error at all)."""
    return pd.DataFrame(
        {"x": errors.batch, "seed": errors.seed, "value": errors.error.fillna(DIVERGED_ERROR)}
    )


def mean_error_before(result: RunResult, epoch: float, metric: str = "train_acc") -> float:
    """Mean error (%) of the evaluations up to ``epoch`` (the early shape of a curve)."""
    c = curves([result], metric)
    return float(c[c.epoch <= epoch].value.mean())


def error_at(result: RunResult, epoch: float, metric: str = "test_acc") -> float:
    """Error (%) at the last evaluation at or before ``epoch``; NaN if diverged by then."""
    c = curves([result], metric)
    c = c[c.epoch <= epoch + 1e-9]
    return float(c.value.iloc[-1]) if len(c) else np.nan


def curve_gap(
    result: RunResult, base: Sequence[RunResult], metric: str = "train_acc", start: float = 0.5
) -> float:
    """Mean gap (points) between a run's error curve and the mean curve of ``base`` over the
    evaluations from fraction ``start`` of training on, matched by fraction of training."""

    def by_fraction(rs: Sequence[RunResult]) -> pd.Series:
        c = curves(rs, metric)
        c["fraction"] = (c.epoch / c.epoch.max()).round(2)
        return c.groupby("fraction").value.mean()

    ours, reference = by_fraction([result]), by_fraction(base)
    joined = pd.concat([ours.rename("ours"), reference.rename("base")], axis=1).dropna()
    joined = joined[joined.index >= start]
    return float((joined.ours - joined.base).mean()) if len(joined) else np.nan


def warmup_spike(
    result: RunResult, end_step: int, before: int = 5, after: int = 20, smooth: int = 3
) -> float:
    """How far the training loss rises when warmup ends at ``end_step``.

    From the per-step loss (``trace_loss``): the largest ``smooth``-step moving average within
    the ``after`` steps that follow ``end_step``, minus the mean loss of the ``before`` steps
    that end there. Positive: a spike; a loss that keeps falling gives a negative number.
    """
    trace = result.instruments.get("loss_trace")
    if trace is None:
        raise ValueError("warmup_spike needs the per-step loss: train with trace_loss=True")
    loss = trace.set_index("step").value
    pre = loss[(loss.index > end_step - before) & (loss.index <= end_step)]
    post = loss[(loss.index > end_step) & (loss.index <= end_step + after)]
    if result.diverged and (len(post) < after or not np.isfinite(post).all()):
        return np.inf  # it blew up at the jump
    return float(post.rolling(smooth).mean().max() - pre.mean())


def weight_norm(result: RunResult) -> float:
    """||w|| over all weight tensors (not biases or BN parameters) at the last norms record;
    NaN when no weight norm was recorded (the run ended before the requested step)."""
    t = result.instruments.get("norms")
    if t is None:
        return np.nan
    t = t[(t.metric == "w_norm") & (t.kind == "weight")]
    if t.empty:
        return np.nan
    t = t[t.step == t.step.max()]
    return float(np.sqrt((t.value**2).sum()))
