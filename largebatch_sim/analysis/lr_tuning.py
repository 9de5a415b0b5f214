"""The best learning rate of each cell of a grid, and grids extended off their edges.

docs/DESIGN.md, "Grids": a best rate at the edge of its grid is not a best rate; the grid is
extended by an octave in that direction (up to a stated cap) and the cap is said where it is
reached. The same holds for a stability threshold: a row where every tried rate is stable has its
threshold above the grid, one where the smallest rate already fails has it below.

``best_rates`` reads a tidy frame (one row per run: the grouping columns, ``lr`` and the value,
NaN for a failed run); ``extensions`` says which rates to try next; ``tune`` runs that loop
through any sweep function; ``with_seeds`` turns the best cells into their reruns on more seeds
(tune on one seed, judge on three).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from ..runs import RunConfig, RunResult

EDGES = ("low", "high", "")


def best_rates(
    frame: pd.DataFrame, by: Sequence[str], value: str = "acc", maximize: bool = True
) -> pd.DataFrame:
    """Per group of ``by``: the best ``value`` over the rates tried, its rate, and where it sits.

    Columns: ``by``, ``best_lr``, ``best_value`` (NaN when no run of the group has a finite
    value), ``edge`` ("low" / "high" when the best is the smallest / largest rate tried, "" when
    inside or undefined; a grid of one rate is at both edges: "low"), ``lrs_tried``, ``defined``.
    """
    rows = []
    for key, g in frame.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        ok = g[np.isfinite(g[value].to_numpy(float))]
        lrs = np.sort(g.lr.unique())
        row = dict(zip(by, key, strict=True))
        if len(ok) == 0:
            rows.append({**row, "best_lr": np.nan, "best_value": np.nan, "edge": ""})
        else:
            i = ok[value].idxmax() if maximize else ok[value].idxmin()
            lr = float(ok.loc[i, "lr"])
            edge = "low" if lr == lrs[0] else "high" if lr == lrs[-1] else ""
            rows.append({**row, "best_lr": lr, "best_value": float(ok.loc[i, value]), "edge": edge})
        rows[-1].update(lrs_tried=len(lrs), defined=len(ok))
    return pd.DataFrame(rows)


def extensions(
    frame: pd.DataFrame,
    by: Sequence[str],
    value: str = "acc",
    unstable: str | None = None,
    factor: float = 2.0,
    bounds: tuple[float, float] = (0.0, np.inf),
) -> pd.DataFrame:
    """The rates to try next, one row per group (``by`` columns and ``lr``).

    A group whose best ``value`` sits at the lowest (highest) rate gets the rate ``factor``
    below (above) it. With ``unstable`` (a boolean column), a group whose every rate is stable
    also gets a rate above its largest, and one whose smallest rate is unstable a rate below
    (so its largest stable rate is bracketed). Rates outside ``bounds`` (the caps) are not
    proposed; a group at a cap is left as it is.
    """
    best = best_rates(frame, by, value)
    rows = []
    for b in best.itertuples(index=False):
        key = {k: getattr(b, k) for k in by}
        g = frame.loc[(frame[list(by)] == pd.Series(key)).all(axis=1)]
        lrs = np.sort(g.lr.unique())
        new = set()
        if b.edge == "low" and b.lrs_tried > 1:
            new.add(lrs[0] / factor)
        if b.edge == "high" and b.lrs_tried > 1:
            new.add(lrs[-1] * factor)
        if unstable is not None:
            order = g.sort_values("lr")
            flags = order[unstable].to_numpy(bool)
            if not flags.any():
                new.add(lrs[-1] * factor)
            elif flags[0]:
                new.add(lrs[0] / factor)
        for lr in sorted(new):
            if bounds[0] <= lr <= bounds[1] and not np.isclose(lrs, lr).any():
                rows.append({**key, "lr": float(lr)})
    return pd.DataFrame(rows, columns=[*by, "lr"])


def tune(
    configs: Sequence[RunConfig],
    sweep: Callable[[list[RunConfig]], list[RunResult]],
    frame_of: Callable[[list[RunResult]], pd.DataFrame],
    by: Sequence[str],
    value: str = "acc",
    unstable: str | None = None,
    factor: float = 2.0,
    bounds: tuple[float, float] = (0.0, np.inf),
    max_rounds: int = 2,
) -> tuple[list[RunResult], pd.DataFrame]:
    """Run a grid, then extend it off its edges (``extensions``) for up to ``max_rounds``.

    ``frame_of`` turns results into a frame with one row per result, in order, holding the
    ``by`` columns, ``lr``, ``value`` (and ``unstable``). A new rate copies the config of its
    group's first run with ``lr`` replaced. Returns every result and the final frame.
    """
    results = list(sweep(list(configs)))
    frame = frame_of(results)
    for _ in range(max_rounds):
        new = extensions(frame, by, value, unstable, factor, bounds)
        if new.empty:
            break
        added = []
        for row in new.itertuples(index=False):
            key = {k: getattr(row, k) for k in by}
            first = int(np.flatnonzero((frame[list(by)] == pd.Series(key)).all(axis=1))[0])
            added.append(dataclasses.replace(results[first].config, lr=row.lr))
        results += list(sweep(added))
        frame = frame_of(results)
    return results, frame


def with_seeds(
    results: Sequence[RunResult],
    frame: pd.DataFrame,
    best: pd.DataFrame,
    by: Sequence[str],
    seeds: Sequence[int],
) -> list[RunConfig]:
    """Configs that rerun each best cell of ``best`` (``best_rates`` over ``by``) on ``seeds``.

    ``frame`` is ``results``' frame (one row per result, in order); groups without a best rate
    are skipped.
    """
    configs = []
    for b in best.dropna(subset=["best_lr"]).itertuples(index=False):
        mask = np.isclose(frame.lr.to_numpy(float), b.best_lr)
        for k in by:
            mask &= (frame[k] == getattr(b, k)).to_numpy()
        template = results[int(np.flatnonzero(mask)[0])].config
        configs += [dataclasses.replace(template, seed=s) for s in seeds]
    return configs


def per_seed(frame: pd.DataFrame, groups: dict[str, dict], value: str = "acc") -> pd.DataFrame:
    """The (group, seed, value) table of ``Difference`` / ``Match``: for each named group, the
    rows of ``frame`` that match its column values (a dict), one per seed."""
    parts = []
    for name, where in groups.items():
        mask = np.ones(len(frame), bool)
        for k, v in where.items():
            col = frame[k].to_numpy()
            mask &= np.isclose(col.astype(float), v) if k == "lr" else col == v
        rows = frame[mask]
        parts.append(pd.DataFrame({"group": name, "seed": rows.seed, "value": rows[value]}))
    return pd.concat(parts, ignore_index=True)


def paired_drop(table: pd.DataFrame, small: str, large: str, name: str) -> pd.DataFrame:
    """Per seed, ``small`` minus ``large`` (rows of a (group, seed, value) table, paired by
    seed): the drop from the small to the large batch, as group ``name`` (L-T1's "drops less")."""
    wide = table.pivot_table(index="seed", columns="group", values="value", dropna=False)
    drop = wide[small] - wide[large]
    return pd.DataFrame({"group": name, "seed": drop.index, "value": drop.to_numpy()})
