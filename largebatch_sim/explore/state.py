"""A pane's state as text to paste elsewhere: Python that builds its RunConfigs, the ``lbsim
train`` command that trains them, and papermill parameters (YAML, for ``papermill -f``).

Only the fields that differ from ``RunConfig``'s defaults are written; the ensemble fields
(``lr``, ``seed``) are written as lists, as ``lbsim train --lr a b`` and config files take them.
Each text builds the same configs, in the order ``lbsim train`` trains them (every lr, then
every seed).
"""

from __future__ import annotations

import dataclasses
import itertools
import shlex
from collections.abc import Sequence
from typing import Any

import yaml

from ..runs.config import ENSEMBLE_FIELDS, RunConfig, group_key
from ..validate import ParameterError

_DEFAULTS = RunConfig()


def ensemble_configs(
    common: RunConfig, lrs: Sequence[float], seeds: Sequence[int] = (0,)
) -> list[RunConfig]:
    """One config per (lr, seed), lr major: what ``lbsim train --lr ... --seed ...`` trains."""
    if not lrs:
        raise ParameterError("lrs", list(lrs), "at least one learning rate")
    return [dataclasses.replace(common, lr=lr, seed=s) for lr, s in itertools.product(lrs, seeds)]


def _split(configs: Sequence[RunConfig]) -> tuple[dict[str, Any], list[float], list[int]]:
    """The non-default shared fields, and the lrs and seeds in the order they first appear."""
    if not configs:
        raise ParameterError("configs", list(configs), "at least one RunConfig")
    if len({group_key(c) for c in configs}) > 1:
        raise ParameterError(
            "configs",
            f"{len(configs)} runs",
            f"one ensemble (runs that differ only in {ENSEMBLE_FIELDS})",
        )
    lrs = list(dict.fromkeys(c.lr for c in configs))
    seeds = list(dict.fromkeys(c.seed for c in configs))
    if configs != ensemble_configs(configs[0], lrs, seeds):
        raise ParameterError("configs", f"{len(configs)} runs", "every (lr, seed) pair, lr major")
    shared = {
        f.name: getattr(configs[0], f.name)
        for f in dataclasses.fields(RunConfig)
        if f.name not in ("lr", "seed")  # the ensemble's axes here; the rest is shared
        and getattr(configs[0], f.name) != getattr(_DEFAULTS, f.name)
    }
    return shared, lrs, seeds


def as_python(configs: Sequence[RunConfig]) -> str:
    """Python that rebuilds ``configs``."""
    shared, lrs, seeds = _split(configs)
    fields = "".join(f"    {name}={value!r},\n" for name, value in shared.items())
    return (
        "from largebatch_sim.runs import RunConfig\n\n"
        f"common = dict(\n{fields})\n"
        "configs = [\n"
        f"    RunConfig(**common, lr=lr, seed=seed) for lr in {lrs!r} for seed in {seeds!r}\n"
        "]\n"
    )


def as_command(configs: Sequence[RunConfig]) -> str:
    """The ``lbsim train`` command that trains ``configs`` (as one ensemble)."""
    shared, lrs, seeds = _split(configs)
    words = ["lbsim", "train"]
    for name, value in shared.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            words += [flag, *map(str, value)]
        else:
            words += [flag, str(value)]
    words += ["--lr", *map(str, lrs), "--seed", *map(str, seeds)]
    return shlex.join(words)


def as_papermill(configs: Sequence[RunConfig]) -> str:
    """Papermill parameters (``papermill in.ipynb out.ipynb -f this.yaml``); as JSON, the same
    table is a config file for ``lbsim train --config``."""
    shared, lrs, seeds = _split(configs)
    plain = {k: list(v) if isinstance(v, tuple) else v for k, v in shared.items()}
    return yaml.safe_dump({**plain, "lr": lrs, "seed": seeds}, sort_keys=False)
