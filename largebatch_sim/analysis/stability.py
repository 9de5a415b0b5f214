"""The largest stable learning rate per batch size, from a tidy grid of runs.

You, Gitman and Ginsburg (2017) read their divergence thresholds off (batch, lr) grids: the
learning rate above which training diverges, per batch size. This module does that reading
with one stated rule, on a table with one row per run (``results_frame(results, "summary")``
has the columns it needs).

**When a run is unstable.** A run is unstable when it ``diverged`` (non-finite loss or a loss
above ``divergence_factor`` times its initial loss, see ``train.py``), or ``collapsed`` (stuck
at chance level, the failure that often replaces NaN in small nets), or, only if
``loss_threshold`` is given, when its final loss is not finite or above ``loss_threshold``.
The trainer flags ``collapsed`` as soon as the loss has sat at chance for a few evaluations,
which a slow start also does (a small rate at a large batch, or a warmup from 0). With
``chance_loss`` given (ln(classes) for cross-entropy), a collapsed run is unstable only when it
also *ended* at chance: its final loss is not finite or at least ``chance_loss -
chance_tolerance``. A run that sat at chance early and then trained counts as stable.
A learning rate tried with several runs (seeds) at one batch size is stable only when every
one of its runs is.

**What "largest stable" means.** Instability need not be monotone in the learning rate (a run
at a high rate can survive by luck where a lower one blew up). Per batch size, with the tried
rates sorted, the *largest stable learning rate* is the largest tried rate such that it and
every smaller tried rate are stable: the top of the stable run of rates that starts at the
smallest one. It is NaN when the smallest tried rate is already unstable (no stable rate), and
it equals the largest tried rate when nothing is unstable (then ``censored`` is True: the true
threshold lies above the grid). ``largest_stable_any_lr`` (the largest stable rate anywhere)
and ``non_monotone`` (a stable rate above an unstable one) show where the rule mattered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

RESULT_COLUMNS = (
    "batch",
    "largest_stable_lr",
    "first_unstable_lr",
    "largest_stable_any_lr",
    "lrs_tried",
    "lrs_stable",
    "censored",
    "non_monotone",
)


def unstable_runs(
    grid: pd.DataFrame,
    *,
    diverged: str = "diverged",
    collapsed: str | None = "collapsed",
    loss: str = "final_train_loss",
    loss_threshold: float | None = None,
    chance_loss: float | None = None,
    chance_tolerance: float = 0.05,
) -> pd.Series:
    """A boolean Series, one per row of ``grid``: True where that run is unstable.

    Unstable = ``diverged``, or ``collapsed`` (skipped when ``collapsed`` is None; when
    ``chance_loss`` is given, only if the final ``loss`` is not finite or
    >= ``chance_loss - chance_tolerance``), or, when ``loss_threshold`` is given, a final
    ``loss`` that is not finite or above it.
    """
    if not isinstance(grid, pd.DataFrame):
        raise TypeError(f"grid must be a pandas DataFrame, got {type(grid).__name__}")
    flags = [diverged] + ([collapsed] if collapsed is not None else [])
    uses_loss = loss_threshold is not None or (chance_loss is not None and collapsed is not None)
    needed = flags + ([loss] if uses_loss else [])
    missing = [c for c in needed if c not in grid.columns]
    if missing:
        raise ValueError(f"grid lacks the column(s) {missing}; it has {list(grid.columns)}")
    if loss_threshold is not None and not (
        isinstance(loss_threshold, int | float)
        and math.isfinite(loss_threshold)
        and loss_threshold > 0
    ):
        raise ValueError(f"loss_threshold must be a finite number > 0, got {loss_threshold!r}")
    for name, value in (("chance_loss", chance_loss), ("chance_tolerance", chance_tolerance)):
        if value is not None and not (
            isinstance(value, int | float) and math.isfinite(value) and value >= 0
        ):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    values = pd.to_numeric(grid[loss], errors="coerce").to_numpy(dtype=float) if uses_loss else None
    bad = _as_flag(grid[diverged], diverged).to_numpy()
    if collapsed is not None:
        stuck = _as_flag(grid[collapsed], collapsed).to_numpy()
        if chance_loss is not None:
            ended_at_chance = ~np.isfinite(values) | (values >= chance_loss - chance_tolerance)
            stuck = stuck & ended_at_chance
        bad = bad | stuck
    if loss_threshold is not None:
        bad = bad | ~np.isfinite(values) | (values > loss_threshold)
    return pd.Series(bad, index=grid.index)


def largest_stable_lr(
    grid: pd.DataFrame,
    *,
    batch: str = "batch",
    lr: str = "lr",
    diverged: str = "diverged",
    collapsed: str | None = "collapsed",
    loss: str = "final_train_loss",
    loss_threshold: float | None = None,
    chance_loss: float | None = None,
    chance_tolerance: float = 0.05,
) -> pd.DataFrame:
    """Per batch size: the largest stable learning rate (see the module docstring).

    ``grid`` has one row per run with the columns named by ``batch``, ``lr``, ``diverged``,
    ``collapsed`` (None to ignore collapse) and, when ``loss_threshold`` or ``chance_loss`` is
    given, ``loss``; those three arguments mean what they mean in ``unstable_runs``.
    Returns one row per batch size, sorted, with the columns ``RESULT_COLUMNS``:

    - ``largest_stable_lr``: the top of the stable run of rates from the smallest (NaN if the
      smallest is unstable);
    - ``first_unstable_lr``: the smallest unstable rate (NaN if none);
    - ``largest_stable_any_lr``: the largest stable rate anywhere in the grid (NaN if none);
    - ``lrs_tried``, ``lrs_stable``: counts of distinct rates;
    - ``censored``: every tried rate is stable (the threshold lies above the grid);
    - ``non_monotone``: some rate above the first unstable one is stable.

    Raises TypeError/ValueError on a grid that is not a DataFrame, is empty, lacks a column,
    or has a non-positive or non-finite batch or learning rate, or flags that are not booleans.
    """
    bad = unstable_runs(
        grid,
        diverged=diverged,
        collapsed=collapsed,
        loss=loss,
        loss_threshold=loss_threshold,
        chance_loss=chance_loss,
        chance_tolerance=chance_tolerance,
    )
    missing = [c for c in (batch, lr) if c not in grid.columns]
    if missing:
        raise ValueError(f"grid lacks the column(s) {missing}; it has {list(grid.columns)}")
    if grid.empty:
        raise ValueError("grid is empty: no runs to read a learning-rate threshold from")
    for name in (batch, lr):
        values = pd.to_numeric(grid[name], errors="coerce").to_numpy(dtype=float)
        if not (np.all(np.isfinite(values)) and np.all(values > 0)):
            raise ValueError(f"column {name!r} must hold finite numbers > 0")
    per_lr = (
        pd.DataFrame({"batch": grid[batch].to_numpy(), "lr": grid[lr].to_numpy(dtype=float)})
        .assign(unstable=bad.to_numpy())
        .groupby(["batch", "lr"], sort=True)
        .unstable.any()  # an lr is stable only if all of its runs (seeds) are
        .reset_index()
    )
    rows = []
    for b, group in per_lr.groupby("batch", sort=True):
        rows.append({"batch": b, **_read_threshold(group.lr.to_numpy(), group.unstable.to_numpy())})
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def thresholds_by_setting(
    grid: pd.DataFrame, setting: str = "setting", **rule: Any
) -> pd.DataFrame:
    """``largest_stable_lr`` of each ``setting``'s rows (in order of appearance), with the
    setting as a column; ``rule`` goes to ``largest_stable_lr`` (``chance_loss`` etc.). Rows of
    several seeds at one rate pool as that function says: the rate is stable when all are."""
    return pd.concat(
        [
            largest_stable_lr(g, **rule).assign(**{setting: name})
            for name, g in grid.groupby(setting, sort=False)
        ],
        ignore_index=True,
    )


def with_plain_rows(
    grid: pd.DataFrame, batch: int, plain_of: dict[str, str], setting: str = "setting"
) -> pd.DataFrame:
    """``grid`` where each setting of ``plain_of`` takes, at ``batch``, the rows of its plain
    counterpart ``plain_of[name]`` (replacing any it had there): SGD + warmup at the reference
    batch is plain SGD, so the two share their runs there."""
    at = grid.batch == batch
    keep = grid[~(at & grid[setting].isin(list(plain_of)))]
    copies = [
        grid[at & (grid[setting] == plain)].assign(**{setting: name})
        for name, plain in plain_of.items()
    ]
    return pd.concat([keep, *copies], ignore_index=True)


def boundary_lrs(thresholds: pd.DataFrame) -> np.ndarray:
    """The rates that decide the thresholds of ``largest_stable_lr``'s rows: each row's largest
    stable rate and its first unstable one, where they exist: the two rates nearest the
    threshold, where another seed is likeliest to move it (a rate further below seldom fails
    where the one at the threshold held; rates above the first failure cannot raise it)."""
    rates = thresholds[["largest_stable_lr", "first_unstable_lr"]].to_numpy(float).ravel()
    return rates[np.isfinite(rates)]


def _read_threshold(lrs: Sequence[float], unstable: Sequence[bool]) -> dict[str, object]:
    """The threshold columns for one batch size; ``lrs`` sorted ascending, distinct."""
    lrs = np.asarray(lrs, dtype=float)
    unstable = np.asarray(unstable, dtype=bool)
    stable = ~unstable
    first_bad = int(np.argmax(unstable)) if unstable.any() else len(lrs)
    return {
        "largest_stable_lr": float(lrs[first_bad - 1]) if first_bad > 0 else math.nan,
        "first_unstable_lr": float(lrs[first_bad]) if first_bad < len(lrs) else math.nan,
        "largest_stable_any_lr": float(lrs[stable].max()) if stable.any() else math.nan,
        "lrs_tried": len(lrs),
        "lrs_stable": int(stable.sum()),
        "censored": bool(not unstable.any()),
        "non_monotone": bool(stable[first_bad:].any()),
    }


def _as_flag(column: pd.Series, name: str) -> pd.Series:
    """A status column as booleans; NaN or values other than booleans/0/1 are an error."""
    if column.isna().any():
        raise ValueError(f"column {name!r} has missing values; a run's status must be known")
    values = set(pd.unique(column))
    if not values <= {True, False}:  # 0 and 1 compare equal to these
        raise ValueError(
            f"column {name!r} must hold booleans (or 0/1), got {sorted(map(repr, values))}"
        )
    return column.astype(bool)
