"""Criteria that turn a tidy table of results into a verdict, declared before the runs.

A criterion states its direction (which way the effect must go) and its threshold, in units
of the measured seed-to-seed spread where seeds exist, or as a stated absolute with its reason.
Each reads a tidy table (one row per run or per point) and returns a ``Judgement``:

- ``yes``: the effect is there, beyond the threshold;
- ``partly``: the effect goes the right way but is weaker than the threshold (stated per
  criterion), or one of several parts holds;
- ``no``: the effect is absent or goes the other way;
- ``not resolved``: the data cannot decide at this budget (too few seeds, a gap whose
  uncertainty straddles the tolerance, too few defined points); where it can, the reason names
  the budget that would decide.

Every criterion has a unit test where the phenomenon is absent (it must say no) and one where
it is present (it must say yes): tests/test_criteria.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

VERDICTS = ("yes", "partly", "no", "not resolved")
UNRESOLVED = "not resolved"


@dataclass(frozen=True)
class Judgement:
    """A criterion's verdict on one table, with the numbers it was computed from."""

    verdict: str
    reason: str
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


class Criterion(Protocol):
    """What every criterion offers: a sentence for TARGETS.md and a judge over a table."""

    def describe(self) -> str: ...

    def judge(self, table: pd.DataFrame) -> Judgement: ...


def _require(table: pd.DataFrame, columns: Sequence[str], who: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{who} needs the columns {list(columns)}; missing {missing}")


def _sign(direction: str) -> float:
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}")
    return 1.0 if direction == "greater" else -1.0


def seed_spread(a: np.ndarray, b: np.ndarray) -> float:
    """Pooled seed-to-seed standard deviation of two groups: sqrt((s_a^2 + s_b^2) / 2)."""
    return float(np.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2))


def two_groups(
    table: pd.DataFrame, a: str, b: str, min_seeds: int, who: str
) -> tuple[np.ndarray, np.ndarray] | Judgement:
    """The finite values of groups ``a`` and ``b`` of a (group, seed, value) table, or a
    *not resolved* judgement when either has fewer than ``min_seeds`` of them."""
    _require(table, ("group", "seed", "value"), who)
    groups = {g: table.loc[table.group == g, "value"].to_numpy(float) for g in (a, b)}
    groups = {g: v[np.isfinite(v)] for g, v in groups.items()}
    counts = {g: v.size for g, v in groups.items()}
    if min(counts.values()) < min_seeds:
        return Judgement(
            UNRESOLVED, f"needs {min_seeds} seeds per group, has {counts}", {"n": counts}
        )
    return groups[a], groups[b]


# Beyond this many seeds per group, "not resolved" names no count: a gap that needs more sits on
# the tolerance, and no budget of this toolkit decides it.
BUDGET_SEEDS = 50


@dataclass(frozen=True)
class Difference:
    """Group ``a`` differs from group ``b`` in ``direction`` by more than the seed noise.

    Table: columns ``group``, ``seed``, ``value``. With the effect
    d = sign * (mean_a - mean_b) and the pooled seed spread s:
    yes if d >= threshold * s and d >= floor; partly if d >= threshold * s / 2 and d >= floor / 2;
    no otherwise; not resolved with fewer than ``min_seeds`` finite values in a group.
    ``floor`` (absolute, in the metric's unit) keeps a tiny spread from making a negligible
    effect significant.
    """

    a: str
    b: str
    direction: str
    threshold: float = 2.0
    floor: float = 0.0
    min_seeds: int = 3
    unit: str = ""

    def __post_init__(self) -> None:
        _sign(self.direction)

    def describe(self) -> str:
        way = "above" if self.direction == "greater" else "below"
        return (
            f"mean of '{self.a}' {way} '{self.b}' by >= {self.threshold:g} seed spreads "
            f"(and >= {self.floor:g}{self.unit}); half of that: partly; >= {self.min_seeds} seeds"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        values = two_groups(table, self.a, self.b, self.min_seeds, "Difference")
        if isinstance(values, Judgement):
            return values
        a, b = values
        effect = _sign(self.direction) * (a.mean() - b.mean())
        spread = seed_spread(a, b)
        values = {"mean_a": a.mean(), "mean_b": b.mean(), "effect": effect, "spread": spread}
        in_spreads = (
            effect / spread if spread > 0 else (np.inf if effect else 0.0) * np.sign(effect)
        )
        text = (
            f"{self.a} {a.mean():.3g} vs {self.b} {b.mean():.3g}{self.unit}: "
            f"effect {effect:+.3g}{self.unit} = {in_spreads:+.2g} seed spreads"
        )
        if effect >= self.threshold * spread and effect >= self.floor and effect > 0:
            return Judgement("yes", text + f" (needs {self.threshold:g})", values)
        if effect >= self.threshold * spread / 2 and effect >= self.floor / 2 and effect > 0:
            return Judgement("partly", text + f" (yes needs {self.threshold:g})", values)
        return Judgement("no", text + f" (needs {self.threshold:g} in that direction)", values)


@dataclass(frozen=True)
class Match:
    """Group ``a`` matches group ``b``: |mean_a - mean_b| <= ``tolerance`` (absolute, stated).

    Table: columns ``group``, ``seed``, ``value``. The gap g = |mean_a - mean_b| is known to
    within its standard error se = sqrt(s_a^2 / n_a + s_b^2 / n_b), so it lies in
    [g - z se, g + z se] (z = ``z``, 2 by default). The verdict is the band that interval lies in:
    yes if it lies within the tolerance; partly if above the tolerance but within twice it; no
    if wholly above the tolerance otherwise. An interval that straddles the tolerance cannot
    decide: not resolved, with the seeds per group that would shrink z se below the distance
    |g - tolerance| at the measured spread (se falls as 1 / sqrt(n)). Not resolved also with
    fewer than ``min_seeds`` finite values per group.
    """

    a: str
    b: str
    tolerance: float
    min_seeds: int = 3
    unit: str = ""
    z: float = 2.0

    def describe(self) -> str:
        return (
            f"|mean '{self.a}' - mean '{self.b}'| <= {self.tolerance:g}{self.unit} within "
            f"{self.z:g} standard errors (wholly above the tolerance but within 2x: partly; above: "
            f"no; straddling it: not resolved, with the seeds that would resolve it); "
            f">= {self.min_seeds} seeds"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        values = two_groups(table, self.a, self.b, self.min_seeds, "Match")
        if isinstance(values, Judgement):
            return values
        a, b = values
        gap = abs(a.mean() - b.mean())
        spread = seed_spread(a, b)
        se = float(np.sqrt(np.var(a, ddof=1) / a.size + np.var(b, ddof=1) / b.size))
        low, high = max(gap - self.z * se, 0.0), gap + self.z * se
        values = {
            "mean_a": a.mean(),
            "mean_b": b.mean(),
            "gap": gap,
            "spread": spread,
            "standard_error": se,
        }
        text = (
            f"{self.a} {a.mean():.3g} vs {self.b} {b.mean():.3g}{self.unit}: gap {gap:.3g} "
            f"(+- {self.z:g} se: {low:.3g} to {high:.3g}), tolerance {self.tolerance:g}"
        )
        if high <= self.tolerance:
            return Judgement("yes", text, values)
        if low > self.tolerance:
            return Judgement("partly" if high <= 2 * self.tolerance else "no", text, values)
        seeds = self.seeds_to_resolve(gap, se, min(a.size, b.size))
        values["seeds_to_resolve"] = seeds
        if seeds <= BUDGET_SEEDS:
            need = f"about {seeds:.0f} seeds per group would resolve it"
        else:  # thousands of seeds say only that the gap is about the tolerance itself
            need = f"the gap sits on the tolerance: more than {BUDGET_SEEDS} seeds per group"
        return Judgement(UNRESOLVED, text + f" (straddles the tolerance; {need})", values)

    def seeds_to_resolve(self, gap: float, se: float, seeds: int) -> float:
        """Seeds per group at which z se < |gap - tolerance|, the spread staying as measured."""
        margin = abs(gap - self.tolerance)
        if margin == 0:
            return np.inf
        return float(max(seeds + 1, np.ceil(seeds * (self.z * se / margin) ** 2)))


@dataclass(frozen=True)
class FlatThenRise:
    """A metric stays at its value at the smallest x, then rises: G-F1's knee.

    Table: columns ``x``, ``seed``, ``value``. Per x, the mean over seeds. Flat points: the
    contiguous run of x above the smallest whose mean is within ``tolerance`` of the smallest
    x's mean. Rise: some x after the flat run whose mean exceeds the base by more than
    ``rise`` (absolute). yes if there are >= ``min_flat`` flat points and a rise; partly with
    >= ``min_flat`` flat points and no rise (the knee lies beyond the grid) or with some but
    fewer flat points; no without a flat point (the metric moves at once). Not resolved with
    fewer than ``min_seeds`` seeds at the base.
    """

    tolerance: float
    rise: float
    min_flat: int = 2
    min_seeds: int = 3
    unit: str = ""

    def describe(self) -> str:
        return (
            f">= {self.min_flat} points past the smallest x within {self.tolerance:g}{self.unit} "
            f"of it, then a point more than {self.rise:g}{self.unit} above it; no rise, or fewer "
            f"flat points: partly; no flat point: no; >= {self.min_seeds} seeds at the base"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        _require(table, ("x", "seed", "value"), "FlatThenRise")
        means = table.groupby("x")["value"].mean().sort_index()
        base_x = means.index[0]
        n_base = int(np.isfinite(table.loc[table.x == base_x, "value"]).sum())
        if n_base < self.min_seeds:
            return Judgement(UNRESOLVED, f"needs {self.min_seeds} seeds at the base, has {n_base}")
        base = means.iloc[0]
        flat = 0
        for value in means.iloc[1:]:
            if not abs(value - base) <= self.tolerance:
                break
            flat += 1
        after = means.iloc[1 + flat :]
        rises = bool((after > base + self.rise).any())
        last_flat = means.index[flat] if flat else None
        values = {"base": base, "flat_points": flat, "last_flat_x": last_flat, "rises": rises}
        text = (
            f"base {base:.3g}{self.unit} at x = {base_x:g}; {flat} flat point(s)"
            + (f" up to x = {last_flat:g}" if flat else "")
            + (
                f"; rises to {after.max():.3g}{self.unit} by x = {after.idxmax():g}"
                if rises
                else "; no rise"
            )
        )
        verdict = "yes" if flat >= self.min_flat and rises else "partly" if flat else "no"
        return Judgement(verdict, text + f" (needs {self.min_flat} flat and a rise)", values)


def _rank_correlation(table: pd.DataFrame, x: str, y: str) -> tuple[float, int]:
    """Spearman's rho over the rows where ``x`` and ``y`` are both finite, and their count
    (rho NaN below two rows)."""
    pairs = table[[x, y]].astype(float)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if len(pairs) < 2:
        return float("nan"), len(pairs)
    return float(spearmanr(pairs[x], pairs[y]).statistic), len(pairs)


@dataclass(frozen=True)
class Trend:
    """``y`` moves with ``x`` in ``direction``: Spearman's rank correlation rho.

    Table: columns named by ``x`` and ``y``. yes if sign * rho >= ``min_rho``; partly if
    sign * rho >= min_rho / 2; no otherwise; not resolved with fewer than ``min_points``
    finite pairs.
    """

    x: str
    y: str
    direction: str
    min_rho: float = 0.6
    min_points: int = 5

    def __post_init__(self) -> None:
        _sign(self.direction)

    def describe(self) -> str:
        way = "rises" if self.direction == "greater" else "falls"
        return (
            f"'{self.y}' {way} with '{self.x}': Spearman rho >= {self.min_rho:g} in that "
            f"direction (half: partly); >= {self.min_points} points"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        _require(table, (self.x, self.y), "Trend")
        rho, points = _rank_correlation(table, self.x, self.y)
        if points < self.min_points:
            return Judgement(UNRESOLVED, f"needs {self.min_points} defined points, has {points}")
        signed = _sign(self.direction) * rho
        text = f"Spearman rho({self.x}, {self.y}) = {rho:+.2f} over {points} points"
        values = {"rho": rho, "points": points}
        if signed >= self.min_rho:
            return Judgement("yes", text + f" (needs {self.min_rho:g})", values)
        if signed >= self.min_rho / 2:
            return Judgement("partly", text + f" (yes needs {self.min_rho:g})", values)
        return Judgement("no", text + f" (needs {self.min_rho:g} in that direction)", values)


@dataclass(frozen=True)
class TrendPerGroup:
    """``y`` moves with ``x`` in ``direction`` within each group (a task): Spearman's rho per
    group, so that groups on different scales are not pooled into one ranking.

    Table: columns ``group``, ``x`` and ``y`` (named by the fields). Groups with fewer than
    ``min_points`` finite pairs are left out. yes if every judged group has sign * rho >=
    ``min_rho``; partly if the mean of sign * rho over the groups is >= min_rho / 2; no
    otherwise; not resolved when no group has ``min_points`` pairs.
    """

    x: str
    y: str
    direction: str
    group: str = "task"
    min_rho: float = 0.6
    min_points: int = 5

    def __post_init__(self) -> None:
        _sign(self.direction)

    def describe(self) -> str:
        way = "rises" if self.direction == "greater" else "falls"
        return (
            f"within each '{self.group}', '{self.y}' {way} with '{self.x}': Spearman rho >= "
            f"{self.min_rho:g} in that direction in every {self.group} (mean over them >= "
            f"{self.min_rho / 2:g}: partly); >= {self.min_points} points per {self.group}"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        _require(table, (self.group, self.x, self.y), "TrendPerGroup")
        rhos = {}
        for name, g in table.groupby(self.group, sort=False):
            rho, points = _rank_correlation(g, self.x, self.y)
            if points >= self.min_points:
                rhos[name] = rho
        if not rhos:
            return Judgement(
                UNRESOLVED, f"needs {self.min_points} defined points in some {self.group}"
            )
        signed = {k: _sign(self.direction) * v for k, v in rhos.items()}
        text = f"Spearman rho({self.x}, {self.y}) per {self.group}: " + ", ".join(
            f"{k} {v:+.2f}" for k, v in rhos.items()
        )
        values = {"rho": rhos}
        if min(signed.values()) >= self.min_rho:
            return Judgement("yes", text + f" (needs {self.min_rho:g} in each)", values)
        if np.nanmean(list(signed.values())) >= self.min_rho / 2:
            return Judgement("partly", text + f" (yes needs {self.min_rho:g} in each)", values)
        return Judgement("no", text + f" (needs {self.min_rho:g} in that direction)", values)


@dataclass(frozen=True)
class WithinFactor:
    """Two estimates of one quantity agree within a factor: max(a/b, b/a) <= ``factor``.

    Table: columns ``a`` and ``b``, one row per point (task, target). yes if every defined
    point is within the factor; partly if at least half are; no otherwise; not resolved with
    fewer than ``min_points`` points where both are finite and positive.
    """

    factor: float
    min_points: int = 3

    def describe(self) -> str:
        return (
            f"every point within a factor {self.factor:g} (at least half: partly); "
            f">= {self.min_points} defined points"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        _require(table, ("a", "b"), "WithinFactor")
        a, b = table["a"].to_numpy(float), table["b"].to_numpy(float)
        ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
        if ok.sum() < self.min_points:
            return Judgement(UNRESOLVED, f"needs {self.min_points} defined points, has {ok.sum()}")
        ratio = np.exp(np.abs(np.log(a[ok] / b[ok])))
        inside = float(np.mean(ratio <= self.factor))
        text = (
            f"{int(inside * ok.sum())} of {ok.sum()} points within x{self.factor:g} "
            f"(largest factor {ratio.max():.2g})"
        )
        values = {"fraction_inside": inside, "largest_factor": float(ratio.max())}
        verdict = "yes" if inside == 1 else "partly" if inside >= 0.5 else "no"
        return Judgement(verdict, text, values)


@dataclass(frozen=True)
class Ordered:
    """In every row, ``a`` exceeds ``b`` by at least the factor ``ratio``: a > ratio * b.

    Table: columns ``a`` and ``b``, one row per pair that the claim orders (for example B_crit
    with momentum against B_crit without). yes if every defined row holds; partly if at least
    half do; no otherwise; not resolved with fewer than ``min_points`` defined rows.
    """

    ratio: float = 1.0
    min_points: int = 1

    def describe(self) -> str:
        return (
            f"a > {self.ratio:g} x b in every row (at least half: partly); "
            f">= {self.min_points} defined rows"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        _require(table, ("a", "b"), "Ordered")
        a, b = table["a"].to_numpy(float), table["b"].to_numpy(float)
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < self.min_points:
            return Judgement(UNRESOLVED, f"needs {self.min_points} defined rows, has {ok.sum()}")
        holds = a[ok] > self.ratio * b[ok]
        labels = table["pair"].to_numpy()[ok] if "pair" in table else np.arange(ok.sum())
        failed = [str(label) for label, h in zip(labels, holds, strict=True) if not h]
        text = f"{int(holds.sum())} of {holds.size} rows with a > {self.ratio:g} b" + (
            f" (fails: {', '.join(failed)})" if failed else ""
        )
        fraction = float(holds.mean())
        verdict = "yes" if fraction == 1 else "partly" if fraction >= 0.5 else "no"
        return Judgement(verdict, text, {"fraction": fraction})


@dataclass(frozen=True)
class Spread:
    """Values spread over a wide range: max / min >= ``min_ratio`` (for example L-T2's
    per-layer ratios). Table: column ``value``. partly if max / min >= sqrt(min_ratio)."""

    min_ratio: float
    min_points: int = 3

    def describe(self) -> str:
        return (
            f"max / min of the values >= {self.min_ratio:g} (>= its square root: partly); "
            f">= {self.min_points} defined positive values"
        )

    def judge(self, table: pd.DataFrame) -> Judgement:
        _require(table, ("value",), "Spread")
        v = table["value"].to_numpy(float)
        v = v[np.isfinite(v) & (v > 0)]
        if v.size < self.min_points:
            return Judgement(UNRESOLVED, f"needs {self.min_points} defined values, has {v.size}")
        ratio = float(v.max() / v.min())
        text = f"max / min = {ratio:.3g} over {v.size} values (needs {self.min_ratio:g})"
        values = {"ratio": ratio}
        verdict = (
            "yes"
            if ratio >= self.min_ratio
            else "partly"
            if ratio >= np.sqrt(self.min_ratio)
            else "no"
        )
        return Judgement(verdict, text, values)


@dataclass(frozen=True)
class InRange:
    """A single measured number lies in [lo, hi] (a slope, a factor): yes inside; partly
    inside the range widened by ``slack`` on both sides; no outside. Table: column ``value``
    with one finite row (several rows: their mean); not resolved without a finite value."""

    lo: float
    hi: float
    slack: float = 0.0
    name: str = "value"

    def describe(self) -> str:
        part = f" (within {self.slack:g} of it: partly)" if self.slack else ""
        return f"{self.name} in [{self.lo:g}, {self.hi:g}]{part}"

    def judge(self, table: pd.DataFrame) -> Judgement:
        _require(table, ("value",), "InRange")
        v = table["value"].to_numpy(float)
        v = v[np.isfinite(v)]
        if v.size == 0:
            return Judgement(UNRESOLVED, f"{self.name} undefined")
        value = float(v.mean())
        text = f"{self.name} = {value:.3g} (range [{self.lo:g}, {self.hi:g}])"
        if self.lo <= value <= self.hi:
            return Judgement("yes", text, {"value": value})
        if self.lo - self.slack <= value <= self.hi + self.slack:
            return Judgement("partly", text, {"value": value})
        return Judgement("no", text, {"value": value})


@dataclass(frozen=True)
class AllOf:
    """Several named parts, each a criterion on its own table: yes when every part says yes,
    no when every part says no, not resolved when any part is, partly otherwise.

    ``judge`` takes a dict {part name: table}; a bare table is given to every part."""

    parts: tuple[tuple[str, Criterion], ...]

    def describe(self) -> str:
        return "; ".join(f"({name}) {c.describe()}" for name, c in self.parts) + (
            ". All yes: yes; all no: no; otherwise partly"
        )

    def judge(self, table: pd.DataFrame | dict[str, pd.DataFrame]) -> Judgement:
        tables = table if isinstance(table, dict) else {name: table for name, _ in self.parts}
        missing = [name for name, _ in self.parts if name not in tables]
        if missing:
            raise ValueError(f"AllOf needs a table for each part; missing {missing}")
        judged = [(name, c.judge(tables[name])) for name, c in self.parts]
        verdicts = [j.verdict for _, j in judged]
        reason = "; ".join(f"({name}) {j.verdict}: {j.reason}" for name, j in judged)
        values = {name: j.values for name, j in judged}
        if UNRESOLVED in verdicts:
            return Judgement(UNRESOLVED, reason, values)
        if all(v == "yes" for v in verdicts):
            return Judgement("yes", reason, values)
        if all(v == "no" for v in verdicts):
            return Judgement("no", reason, values)
        return Judgement("partly", reason, values)
