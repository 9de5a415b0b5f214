"""Notebook 05's batch-augmentation measurements (Hoffer et al. 2020; BA-F1, BA-F2): accuracy
against steps for M copies per example, the steps to reach the single copy's final accuracy,
and the gradient noise per unique example, as tidy tables for the criteria.

Accuracies are test accuracies in percent; a diverged run reads as 0 % (``scored_error``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..runs import RunConfig, RunResult
from .noise import noise_scale_frame
from .outcomes import scored_error

ONE, MOST = "one_copy", "most_copies"  # the criterion's groups: M = 1 and the largest M


def copies_configs(
    base: RunConfig, copies: Sequence[int], seeds: Sequence[int]
) -> dict[int, list[RunConfig]]:
    """BA-F1's runs: ``base`` with each number of copies M, one run per seed (an ensemble)."""
    return {m: [dataclasses.replace(base, augment_copies=m, seed=s) for s in seeds] for m in copies}


def accuracy_curves(runs: Mapping[int, Sequence[RunResult]]) -> pd.DataFrame:
    """Test accuracy (%) at every evaluation: columns copies, seed, step, acc."""
    frames = []
    for m, results in runs.items():
        for r in results:
            h = r.history[r.history.metric == "test_acc"]
            frames.append(
                pd.DataFrame(
                    {"copies": m, "seed": r.config.seed, "step": h.step, "acc": 100 * h.value}
                )
            )
    return pd.concat(frames, ignore_index=True)


def steps_to_reach(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per (copies, seed): the first evaluated step whose accuracy reaches ``target``, as a
    fraction of the run's steps; a run that never reaches it counts as the whole run (1, a
    bound that favours it). Columns copies, seed, fraction."""
    rows = []
    for (m, seed), g in curves.groupby(["copies", "seed"]):
        reached = g.step[g.acc >= target]
        first = reached.min() if len(reached) else g.step.max()
        rows.append({"copies": m, "seed": seed, "fraction": first / g.step.max()})
    return pd.DataFrame(rows)


def final_accuracy(runs: Mapping[int, Sequence[RunResult]]) -> pd.DataFrame:
    """Per (copies, seed): the final test accuracy (%, median of the last evaluations)."""
    return pd.DataFrame(
        [
            {"copies": m, "seed": r.config.seed, "acc": 100.0 - scored_error(r)}
            for m, results in runs.items()
            for r in results
        ]
    )


def noise_per_unique_example(runs: Mapping[int, Sequence[RunResult]]) -> pd.DataFrame:
    """Per (copies, seed), from the noise instrument: tr(Sigma) and B_simple per *unique*
    example, averaged over the recorded steps (average each, then divide).

    The instrument counts the M copies in its batch sizes; a chunk of b copies holds b / M
    unique examples with all their copies, so the per-unique-example tr(Sigma) (the variance
    of an example's gradient averaged over its copies) and B_simple are the instrument's
    divided by M. Columns copies, seed, trace, g2, b_simple."""
    rows = []
    for m, results in runs.items():
        for r in results:
            frame = noise_scale_frame(r.instruments["noise"])
            trace, g2 = frame.trace_est.mean() / m, frame.g2_est.mean()
            rows.append({"copies": m, "seed": r.config.seed, "trace": trace, "g2": g2,
                         "b_simple": trace / g2 if g2 > 0 else np.nan})  # fmt: skip
    return pd.DataFrame(rows)


def ba_f1_tables(
    finals: pd.DataFrame, reach: pd.DataFrame, names: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """BA-F1's (group, seed, value) tables for its two parts ``names``: the final accuracy and
    the fraction of the run needed to reach M = 1's mean final accuracy, at M = 1 and the
    largest M."""
    most = finals.copies.max()

    def groups(frame: pd.DataFrame, column: str) -> pd.DataFrame:
        rows = frame[frame.copies.isin([1, most])]
        group = np.where(rows.copies == 1, ONE, MOST)
        return pd.DataFrame({"group": group, "seed": rows.seed, "value": rows[column]})

    return {names[0]: groups(finals, "acc"), names[1]: groups(reach, "fraction")}


def ba_f2_tables(noise: pd.DataFrame, names: Sequence[str]) -> dict[str, pd.DataFrame]:
    """BA-F2's (group, seed, value) tables: tr(Sigma) and B_simple per unique example at M = 1
    and the largest M, each relative to M = 1's mean (so the criterion's floor is a fraction)."""
    most = noise.copies.max()
    rows = noise[noise.copies.isin([1, most])]
    group = np.where(rows.copies == 1, ONE, MOST)
    tables = {}
    for name, column in zip(names, ("trace", "b_simple"), strict=True):
        reference = noise.loc[noise.copies == 1, column].mean()
        tables[name] = pd.DataFrame(
            {"group": group, "seed": rows.seed, "value": rows[column] / reference}
        )
    return tables
