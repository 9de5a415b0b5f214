"""The target registry: every table and figure we reproduce, declared before the runs.

A target holds the paper's claim, the paper's numbers, the metric we compute from our runs and
the criterion (``report.criteria``) that turns that metric into yes / partly / no / not
resolved. Notebooks compute the metric's table and call ``judge``; the scorecard records the
judgement beside the declaration, so no verdict is decided in a notebook.

``python -m largebatch_sim.report.targets FILE`` renders the registry as TARGETS.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from ..criteria import Criterion, Judgement


@dataclass(frozen=True)
class Target:
    """One reproduction target: what the paper claims and how we decide whether we see it."""

    id: str
    source: str  # the paper and its table or figure
    claim: str  # the phenomenon, in one sentence
    paper: str  # the paper's numbers (or "qualitative")
    metric: str  # what we compute from our runs, and from which runs
    criterion: Criterion
    notebook: str

    def judge(self, table: pd.DataFrame | Mapping[str, pd.DataFrame]) -> Judgement:
        """The criterion's verdict on the metric's table."""
        return self.criterion.judge(table)


def _collect() -> dict[str, Target]:
    from . import goyal, lars, mccandlish, nqm

    targets: dict[str, Target] = {}
    for family in (goyal, lars, mccandlish, nqm):
        for target in family.TARGETS:
            if target.id in targets:
                raise ValueError(f"target {target.id} is declared twice")
            targets[target.id] = target
    return targets


REGISTRY: dict[str, Target] = _collect()


def get(target_id: str) -> Target:
    """The declared target ``target_id`` (a clear error for an unknown id)."""
    try:
        return REGISTRY[target_id]
    except KeyError:
        raise KeyError(
            f"unknown target {target_id!r}; declared: {', '.join(sorted(REGISTRY))}"
        ) from None


def judge(target_id: str, table: pd.DataFrame | Mapping[str, pd.DataFrame]) -> Judgement:
    """Judge ``table`` by the criterion declared for ``target_id``."""
    return get(target_id).judge(table)


def render_markdown(targets: Iterable[Target] | None = None) -> str:
    """TARGETS.md: every target with its claim, the paper's numbers, metric and criterion."""
    targets = list(REGISTRY.values() if targets is None else targets)
    lines = [
        "# Reproduction targets",
        "",
        "Every table and figure of the papers that this project reproduces in miniature, with",
        "the criterion that decides, before the runs, whether our data show the paper's",
        "phenomenon. Verdicts: **yes** (beyond the threshold), **partly** (the right way but",
        "weaker, or some parts), **no**, **not resolved** (the budget cannot decide: too few",
        "seeds, or a seed spread wider than the tolerance). Generated from",
        "`largebatch_sim/report/targets/` by `python -m largebatch_sim.report.targets TARGETS.md`;",
        "the verdicts themselves are in [figures/SUMMARY.md](figures/SUMMARY.md).",
        "",
    ]
    source = None
    for t in targets:
        paper = t.source.split(",")[0]
        if paper != source:
            lines += [f"## {paper}", ""]
            source = paper
        lines += [
            f'<a id="{t.id.lower()}"></a>',
            "",
            f"### {t.id}: {t.source.split(',', 1)[-1].strip()}",
            "",
            f"- **Claim.** {t.claim}",
            f"- **Paper.** {t.paper}",
            f"- **Metric.** {t.metric}",
            f"- **Criterion.** {t.criterion.describe()}.",
            f"- **Notebook.** `notebooks/{t.notebook}.ipynb`",
            "",
        ]
    return "\n".join(lines)
