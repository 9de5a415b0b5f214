"""The target registry: every table and figure we reproduce, declared before the runs.

A target holds the paper's claim, the paper's numbers, the metric we compute from our runs and
the criterion (``report.criteria``) that turns that metric into yes / partly / no / not
resolved. Notebooks compute the metric's table and call ``judge``; the scorecard records the
judgement beside the declaration, so no verdict is decided in a notebook.

``python -m largebatch_sim.report.targets FILE`` renders the registry as TARGETS.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from ..criteria import Criterion, Judgement


@dataclass(frozen=True)
class Target:
    """One reproduction target: what the paper claims and how we decide whether we see it."""

    id: str
    source: str  # the paper and its table or figure, "paper: section"
    claim: str  # the phenomenon, in one sentence
    paper: str  # the paper's numbers (or "qualitative")
    metric: str  # what we compute from our runs, and from which runs
    criterion: Criterion
    notebook: str

    def judge(self, table: pd.DataFrame | Mapping[str, pd.DataFrame]) -> Judgement:
        """The criterion's verdict on the metric's table."""
        return self.criterion.judge(table)


def family(paper: str, notebook: str) -> Callable[..., Target]:
    """The constructor of one paper's targets: ``target(id, section, claim, numbers, metric,
    criterion)`` with ``paper`` prefixed to the section and ``notebook`` filled in."""

    def target(
        id: str, section: str, claim: str, numbers: str, metric: str, criterion: Criterion
    ) -> Target:
        return Target(id, f"{paper}: {section}", claim, numbers, metric, criterion, notebook)

    return target


def _collect() -> dict[str, Target]:
    from . import beyond, critical_batch, decentral, goyal, lars, mccandlish, nqm

    targets: dict[str, Target] = {}
    for family in (goyal, lars, mccandlish, critical_batch, nqm, beyond, decentral):
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


CALIBRATION = """## Where the phenomena show in miniature (calibration)

A prototype outside this project (PyTorch, 2 CPU threads) was run once to find where each
phenomenon shows at laptop scale; these are starting points for the notebooks' sizes, not
results. Setting: MNIST-1D, 10,240 examples (8,192 train, 2,048 test), a 1-D CNN of 16
channels with batch norm over chunks of 32, SGD with momentum 0.9 and weight decay 5e-4, 20
epochs, the rate cut 10x at 50 % and 75 % of training, base batch 32 at lr 0.05, linear
scaling, gradual warmup over 2 epochs.

- Linear scaling (G-F1): test error about 2 % up to batch 512 (k = 16), then 21-25 % at 1024
  and 60-90 % at 2048-4096, where the largest batches get too few steps.
- Warmup (G-F2): at batch 512, constant warmup (0.05 for 2 epochs, then 0.8) spiked when it
  ended (training loss 1.2 -> 2.7 -> 3.9) and ended at 15-22 % error; gradual 3 %, none 3-4 %.
- Divergence (L-T1, L-DIV): without batch norm the largest stable rate stayed near 0.2 at every
  batch, so large batches underfit; with batch norm it grew (0.8 at 128, 1.6 at 512). A net
  that fails often sits at loss ln(10) instead of producing NaN: that counts as diverged.
- LARS (L-T3): at batch 512 without batch norm, LARS (trust coefficient 0.001, poly(2) decay,
  warmup from 0) reached 4.7 % error against plain SGD's best 12 %, and never blew up for global
  rates up to 100. At 2048-4096 every method underfit in 20 epochs: the largest batch needs
  about 150 steps or more (20,480 examples, or 40-60 epochs).
- Norm ratios (L-T2): after one step the ratios spread about 100x across layers, biases below
  their weights, and grow with the batch. Biases in front of a batch norm get zero gradient.
- Costs there: the BN CNN took 25 s at batch 32 and 6-8 s at batch 512 and above for 20 epochs;
  an MLP under 6 s.
"""


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
        "seeds, or a gap whose uncertainty straddles the tolerance; the reason then names the",
        "seeds that would decide). Generated from",
        "`largebatch_sim/report/targets/` by `python -m largebatch_sim.report.targets TARGETS.md`;",
        "the verdicts themselves are in [figures/SUMMARY.md](figures/SUMMARY.md).",
        "",
    ]
    source = None
    for t in targets:
        paper, section = t.source.split(": ", 1)
        if paper != source:
            lines += [f"## {paper}", ""]
            source = paper
        lines += [
            f'<a id="{t.id.lower()}"></a>',
            "",
            f"### {t.id}: {section}",
            "",
            f"- **Claim.** {t.claim}",
            f"- **Paper.** {t.paper}",
            f"- **Metric.** {t.metric}",
            f"- **Criterion.** {t.criterion.describe()}.",
            f"- **Notebook.** `notebooks/{t.notebook}.ipynb`",
            "",
        ]
    return "\n".join(lines) + "\n" + CALIBRATION.rstrip()
