"""Every criterion says no where the phenomenon is absent and yes where it is present.

The per-target tests build, for each declared target, a synthetic table shaped like its metric
in which the effect is absent (the verdict must be no) and one in which it is present (yes).
"""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.report import criteria as C
from largebatch_sim.report import targets

RNG_SEED = 0


def _groups(values: dict[str, float], spread: float = 0.1, seeds: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(RNG_SEED)
    rows = []
    for group, mean in values.items():
        noise = rng.standard_normal(seeds)
        if seeds > 1:  # exactly this spread
            noise = (noise - noise.mean()) / noise.std(ddof=1) * spread
        rows += [dict(group=group, seed=s, value=mean + noise[s]) for s in range(seeds)]
    return pd.DataFrame(rows)


def synthetic(criterion, present: bool):
    """A table for ``criterion`` with the phenomenon present or absent."""
    if isinstance(criterion, C.AllOf):
        return {name: synthetic(part, present) for name, part in criterion.parts}
    if isinstance(criterion, C.Difference):
        sign = 1 if criterion.direction == "greater" else -1
        effect = max(4 * 0.1, 2 * criterion.floor) if present else 0.0
        return _groups({criterion.a: sign * effect, criterion.b: 0.0})
    if isinstance(criterion, C.Match):
        spread = criterion.tolerance / 4
        gap = criterion.tolerance / 2 if present else criterion.tolerance * 4
        return _groups({criterion.a: gap, criterion.b: 0.0}, spread=spread)
    if isinstance(criterion, C.FlatThenRise):
        batches = [32, 64, 128, 256, 512, 1024]
        rise = criterion.rise * 3
        flat = [2.0, 2.0, 2.1, 2.0, 2.0 + rise, 2.0 + 2 * rise]
        means = flat if present else [2.0 + i * rise for i in range(6)]  # rises at once
        table = _groups({b: m for b, m in zip(batches, means, strict=True)}, spread=0.05)
        return table.rename(columns={"group": "x"})
    if isinstance(criterion, C.TrendPerGroup):
        x = np.linspace(1, 2, 8)
        sign = 1 if criterion.direction == "greater" else -1
        parts = []
        for k, scale in enumerate((1.0, 100.0)):  # two groups on very different scales
            y = scale * np.exp(sign * 3 * x) if present else scale * np.tile([1.0, 3.0], 4)
            parts.append(pd.DataFrame({criterion.group: f"g{k}", criterion.x: x, criterion.y: y}))
        return pd.concat(parts, ignore_index=True)
    if isinstance(criterion, C.Trend):
        x = np.linspace(1, 2, 12)
        sign = 1 if criterion.direction == "greater" else -1
        y = np.exp(sign * 3 * x) if present else np.tile([1.0, 3.0, 2.0, 0.5], 3)
        return pd.DataFrame({criterion.x: x, criterion.y: y})
    if isinstance(criterion, C.WithinFactor):
        a = np.array([10.0, 100.0, 300.0])
        factor = criterion.factor / 2 if present else criterion.factor * 5
        return pd.DataFrame({"a": a, "b": a * factor})
    if isinstance(criterion, C.Ordered):
        n = max(criterion.min_points, 2)
        b = np.linspace(10, 100, n)
        a = b * (criterion.ratio * 2 if present else 1 / 2)
        return pd.DataFrame({"a": a, "b": b})
    if isinstance(criterion, C.Spread):
        v = [1.0, 5.0, criterion.min_ratio * 2] if present else [1.0, 1.1, 1.2]
        return pd.DataFrame({"value": v})
    if isinstance(criterion, C.InRange):
        hi = criterion.hi if np.isfinite(criterion.hi) else criterion.lo + 10
        inside = (criterion.lo + hi) / 2
        width = max(hi - criterion.lo, 1.0)
        outside = criterion.lo - criterion.slack - width
        return pd.DataFrame({"value": [inside if present else outside]})
    raise TypeError(f"no synthetic table for {type(criterion).__name__}")


@pytest.mark.parametrize("target_id", sorted(targets.REGISTRY))
def test_every_target_says_no_without_and_yes_with_its_phenomenon(target_id):
    target = targets.get(target_id)
    assert target.judge(synthetic(target.criterion, present=False)).verdict == "no"
    assert target.judge(synthetic(target.criterion, present=True)).verdict == "yes"


def test_difference_is_blind_to_nothing_the_sign_decides():
    # G-R remark 2 as measured once: correction ON 14.89 %, OFF 2.73 %: the opposite of the claim
    crit = C.Difference("uncorrected", "corrected", "greater", floor=0.5)
    table = _groups({"uncorrected": 2.73, "corrected": 14.89}, spread=0.5)
    assert crit.judge(table).verdict == "no"
    table = _groups({"uncorrected": 14.89, "corrected": 2.73}, spread=0.5)
    assert crit.judge(table).verdict == "yes"


def test_difference_within_the_noise_is_not_yes():
    crit = C.Difference("a", "b", "greater", threshold=2.0)
    assert crit.judge(_groups({"a": 0.15, "b": 0.0}, spread=0.1)).verdict == "partly"
    assert crit.judge(_groups({"a": 0.05, "b": 0.0}, spread=0.1)).verdict == "no"


def test_difference_needs_seeds():
    crit = C.Difference("a", "b", "less")
    judged = crit.judge(_groups({"a": 0.0, "b": 5.0}, seeds=1))
    assert judged.verdict == "not resolved" and "seeds" in judged.reason


def test_match_is_not_resolved_when_the_noise_exceeds_the_tolerance():
    crit = C.Match("a", "b", tolerance=0.5)
    assert crit.judge(_groups({"a": 0.0, "b": 0.0}, spread=2.0)).verdict == "not resolved"
    assert crit.judge(_groups({"a": 0.8, "b": 0.0}, spread=0.1)).verdict == "partly"


def test_a_gap_far_beyond_the_tolerance_is_no_even_with_a_wide_spread():
    # G-F4 as measured: 4.35 points apart, tolerance 0.5, seed spread 2.1: a miss, not a tie
    crit = C.Match("a", "b", tolerance=0.5)
    assert crit.judge(_groups({"a": 4.35, "b": 0.0}, spread=2.1)).verdict == "no"


def test_an_unresolved_match_names_the_seeds_that_would_resolve_it():
    crit = C.Match("a", "b", tolerance=1.0)
    table = _groups({"a": 0.4, "b": 0.0}, spread=0.6)  # interval 0.4 +- 0.98 straddles 1
    judged = crit.judge(table)
    seeds = int(judged.values["seeds_to_resolve"])
    assert judged.verdict == "not resolved" and f"about {seeds} seeds" in judged.reason
    # with that many seeds at the same spread and gap, the interval clears the tolerance
    assert crit.judge(_groups({"a": 0.4, "b": 0.0}, spread=0.6, seeds=seeds)).verdict == "yes"
    assert crit.judge(_groups({"a": 0.4, "b": 0.0}, spread=0.6, seeds=seeds - 2)).verdict == (
        "not resolved"
    )


def test_a_gap_on_the_tolerance_itself_names_no_seed_count():
    crit = C.Match("a", "b", tolerance=1.0)
    judged = crit.judge(_groups({"a": 0.999, "b": 0.0}, spread=0.6))
    assert judged.verdict == "not resolved" and judged.values["seeds_to_resolve"] > 10_000
    assert "sits on the tolerance" in judged.reason and "about" not in judged.reason


def test_flat_then_rise_counts_only_contiguous_flat_points():
    crit = C.FlatThenRise(tolerance=0.5, rise=2.0, min_flat=2)
    table = _groups({32: 2.0, 64: 2.2, 128: 4.0, 256: 9.0}, spread=0.05).rename(
        columns={"group": "x"}
    )
    judged = crit.judge(table)  # one flat point, then a rise
    assert judged.verdict == "partly" and judged.values["flat_points"] == 1
    no_knee = _groups({32: 2.0, 64: 2.2, 128: 2.1}, spread=0.05).rename(columns={"group": "x"})
    assert crit.judge(no_knee).verdict == "partly"  # flat throughout: the knee is off the grid


def test_trend_needs_points_and_sign():
    crit = C.Trend("loss", "b", "less")
    few = pd.DataFrame({"loss": [1.0, 2.0], "b": [2.0, 1.0]})
    assert crit.judge(few).verdict == "not resolved"
    rising = pd.DataFrame({"loss": np.arange(8.0), "b": np.arange(8.0)})
    assert crit.judge(rising).verdict == "no"


def test_trend_per_group_does_not_pool_groups_on_different_scales():
    crit = C.TrendPerGroup("loss", "b", "less", min_points=4)
    # within each task b falls as the loss rises; pooled, the second task's scale would win
    low = pd.DataFrame({"task": "a", "loss": [1.0, 2, 3, 4], "b": [40.0, 30, 20, 10]})
    high = pd.DataFrame({"task": "b", "loss": [10.0, 20, 30, 40], "b": [4e3, 3e3, 2e3, 1e3]})
    table = pd.concat([low, high])
    assert C.Trend("loss", "b", "less", min_points=4).judge(table).verdict == "no"
    assert crit.judge(table).verdict == "yes"
    one_way = pd.concat([low, high.assign(b=high.b[::-1].to_numpy())])
    assert crit.judge(one_way).verdict == "no"  # mean rho 0: one task each way
    assert crit.judge(low.head(3)).verdict == "not resolved"


def test_undefined_values_are_left_out_not_counted():
    crit = C.WithinFactor(factor=3, min_points=3)
    table = pd.DataFrame({"a": [10.0, np.nan, 100.0, 5.0], "b": [12.0, 3.0, -1.0, 6.0]})
    assert crit.judge(table).verdict == "not resolved"  # two defined points only


def test_all_of_is_partly_when_parts_disagree_and_unresolved_when_one_is():
    crit = C.AllOf((("x", C.InRange(0, 1)), ("y", C.InRange(0, 1))))
    inside, outside = pd.DataFrame({"value": [0.5]}), pd.DataFrame({"value": [3.0]})
    assert crit.judge({"x": inside, "y": outside}).verdict == "partly"
    nan = pd.DataFrame({"value": [np.nan]})
    assert crit.judge({"x": inside, "y": nan}).verdict == "not resolved"
    with pytest.raises(ValueError, match="missing"):
        crit.judge({"x": inside})


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="group"):
        C.Difference("a", "b", "greater").judge(pd.DataFrame({"value": [1.0]}))


def test_unknown_target_lists_the_declared_ones():
    with pytest.raises(KeyError, match="G-F1"):
        targets.get("G-F99")


def test_targets_md_is_rendered_from_the_registry():
    from pathlib import Path

    committed = Path(__file__).parents[1] / "TARGETS.md"
    assert committed.read_text() == targets.render_markdown() + "\n", (
        "TARGETS.md is stale: run python -m largebatch_sim.report.targets TARGETS.md"
    )
