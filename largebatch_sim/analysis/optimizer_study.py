"""Notebook 05's measurements: optimizers tuned per batch (LAMB-T1), LEGW's rule against fixed
warmups (LEGW-F1), trust ratios over training (LAMB-F1), as tidy tables for the criteria.

Accuracies are test accuracies in percent at the end of training (the median of the last
evaluations, ``outcomes.final_error``); a diverged run reads as 0 % where settings are compared
(``outcomes.scored_error``), so a rule whose runs blow up reads as the worst, not as missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..report.criteria import AllOf
from ..runs import RunConfig, RunResult
from ..runs.recipe import build_schedule
from . import lr_tuning
from .outcomes import scored_error

GROUPING = ("model", "optimizer", "batch")
RULES = ("legw", "linear", "sqrt")  # LEGW-F1's scaling rules


def accuracy_frame(results: Sequence[RunResult]) -> pd.DataFrame:
    """One row per run: its model, optimizer, batch, scaling, warmup, lr, seed, the test
    accuracy (%, 0 for a diverged run) and whether it diverged."""
    return pd.DataFrame(
        [
            {
                "model": r.config.model,
                "optimizer": r.config.optimizer,
                "batch": r.config.batch,
                "scaling": r.config.scaling,
                "warmup_epochs": r.config.warmup_epochs,
                "lr": r.config.lr,
                "seed": r.config.seed,
                "acc": 100.0 - scored_error(r),
                "diverged": bool(r.diverged),
            }
            for r in results
        ]
    )


def tune_then_seed(
    grid: Sequence[RunConfig],
    sweep: Callable[[list[RunConfig]], list[RunResult]],
    seeds: Sequence[int],
    bounds: tuple[float, float] = (1e-6, 1e3),
    max_rounds: int = 2,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Tune the rate of each (model, optimizer, batch) on the grid's seed, extending the grid
    off its edges by octaves (``lr_tuning.tune``), then rerun each best cell on ``seeds``.

    Returns (the tuning frame, the best rates with their edge flags, the per-seed frame)."""
    results, frame = lr_tuning.tune(
        grid, sweep, accuracy_frame, GROUPING, "acc", bounds=bounds, max_rounds=max_rounds
    )
    best = lr_tuning.best_rates(frame, GROUPING, "acc")
    reruns = sweep(lr_tuning.with_seeds(results, frame, best, GROUPING, seeds))
    return frame, best, accuracy_frame(reruns)


def lamb_t1_tables(
    per_seed: pd.DataFrame, small: int, large: int, criterion: AllOf
) -> dict[str, pd.DataFrame]:
    """LAMB-T1's table for each part of its criterion: per model, the (group, seed, value)
    rows of LAMB and AdamW at the ``small`` and ``large`` batch. The part names start with the
    model's name, "mlp: ..."."""
    tables = {}
    for name, _ in criterion.parts:
        model = name.split(":")[0]
        groups = {
            f"{optimizer}_{size}": {"model": model, "optimizer": optimizer, "batch": batch}
            for optimizer in ("lamb", "adamw")
            for size, batch in (("small", small), ("large", large))
        }
        tables[name] = lr_tuning.per_seed(per_seed, groups)
    return tables


def legw_tables(
    per_seed: pd.DataFrame, base_batch: int, criterion: AllOf
) -> dict[str, pd.DataFrame]:
    """LEGW-F1's table for each part of its criterion: the (group, seed, value) rows of the
    base run (k = 1) and of each rule at the largest batch. ``per_seed`` has a ``rule``
    column (legw, linear, sqrt)."""
    largest = per_seed.batch.max()
    groups = {"base": per_seed[per_seed.batch == base_batch].drop_duplicates("seed")}
    for rule in RULES:
        groups[f"{rule}_kmax"] = per_seed[(per_seed.batch == largest) & (per_seed.rule == rule)]
    table = pd.concat(
        [
            pd.DataFrame({"group": g, "seed": rows.seed, "value": rows.acc})
            for g, rows in groups.items()
        ],
        ignore_index=True,
    )
    return {name: table for name, _ in criterion.parts}


def median_trust_ratios(trust: pd.DataFrame) -> pd.DataFrame:
    """Each tensor's median trust ratio over the recorded steps (one member): columns param,
    kind, value, ready for ``Spread``."""
    table = trust.groupby(["param", "kind"], sort=False).value.median().reset_index()
    return table[np.isfinite(table.value)]


def legw_configs(
    base: RunConfig, ks: Sequence[int], seeds: Sequence[int]
) -> dict[str, list[RunConfig]]:
    """The three rules of LEGW-F1 from one tuned base config (rate and warmup at B0): at
    batch k B0, LEGW (rate x sqrt(k), warmup epochs x k), linear scaling with the base warmup,
    and sqrt scaling with the base warmup; k = 1 is the same run for every rule."""
    return {
        rule: [
            dataclasses.replace(base, batch=base.base_batch * k, scaling=rule, seed=seed)
            for k in ks
            for seed in seeds
        ]
        for rule in RULES
    }


def rule_frame(results: Mapping[str, Sequence[RunResult]]) -> pd.DataFrame:
    """``accuracy_frame`` of each rule's runs with a ``rule`` and a ``k`` column."""
    frames = []
    for rule, runs in results.items():
        frame = accuracy_frame(runs).assign(rule=rule)
        frames.append(frame.assign(k=frame.batch / runs[0].config.base_batch))
    return pd.concat(frames, ignore_index=True)


# GW-F1's four warmups, as RunConfig fields over a gradual-warmup base run
WARMUP_SETTINGS = {
    "gradual": {},
    "staircase": {"warmup": "staircase"},
    "staircase_from_0": {"warmup": "staircase", "warmup_start": 0.0},
    "shifted_from_0": {"warmup": "staircase_shifted", "warmup_start": 0.0},
}


def warmup_runs(
    base: RunConfig, seeds: Sequence[int], sweep: Callable[[list[RunConfig]], list[RunResult]]
) -> dict[str, list[RunResult]]:
    """GW-F1's runs: each of ``WARMUP_SETTINGS`` on ``base``, one run per seed."""
    return {
        name: sweep([dataclasses.replace(base, seed=s, **options) for s in seeds])
        for name, options in WARMUP_SETTINGS.items()
    }


def warmup_rates(
    runs: Mapping[str, Sequence[RunResult]], steps: int, steps_per_epoch: int
) -> dict[str, np.ndarray]:
    """The rate of each warmup over its first ``steps`` steps, from its first run's config."""
    return {
        name: build_schedule(r[0].config, r[0].config.lr, steps_per_epoch)(np.arange(steps))
        for name, r in runs.items()
    }


def gw_f1_summary(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean and seed spread of every group of GW-F1's tables (loss drops and accuracies)."""
    groups = pd.concat(list(tables.values())).drop_duplicates(["group", "seed"])
    return groups.groupby("group").value.agg(["mean", "std"])


def first_epoch_drop(result: RunResult, steps_per_epoch: int, window: int = 4) -> float:
    """The training loss's fall over the first epoch, from the loss trace: the first step's
    loss minus the mean of the epoch's last ``window`` steps (NaN for a diverged run)."""
    if result.diverged:
        return np.nan
    trace = result.instruments["loss_trace"].set_index("step").value
    return float(trace.loc[1] - trace.loc[steps_per_epoch - window + 1 : steps_per_epoch].mean())


def gw_f1_tables(
    runs: Mapping[str, Sequence[RunResult]], steps_per_epoch: int, criterion: AllOf
) -> dict[str, pd.DataFrame]:
    """GW-F1's (group, seed, value) tables: the first-epoch loss drop of the ramp
    (``gradual``), the scheduler from 0 and the one stepped once first; the final accuracy of
    the ramp and the staircase from the small-batch rate. ``runs`` maps those four settings'
    names (gradual, staircase, staircase_from_0, shifted_from_0) to their seeds' runs."""
    drops = pd.DataFrame(
        [
            {"group": name, "seed": r.config.seed, "value": first_epoch_drop(r, steps_per_epoch)}
            for name in ("gradual", "staircase_from_0", "shifted_from_0")
            for r in runs[name]
        ]
    )
    accuracy = pd.DataFrame(
        [
            {"group": f"{name}_acc", "seed": r.config.seed, "value": 100.0 - scored_error(r)}
            for name in ("gradual", "staircase")
            for r in runs[name]
        ]
    )
    names = [name for name, _ in criterion.parts]
    return {names[0]: drops, names[1]: drops, names[2]: accuracy}
