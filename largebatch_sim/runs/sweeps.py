"""Sweeps: many configs, as few ensembles as possible, cached and resumable; tidy tables."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from tqdm.auto import tqdm

from .cache import ResultCache
from .config import RunConfig, group_key
from .recipe import run_ensemble
from .result import RunResult


def sweep(
    configs: Iterable[RunConfig],
    cache: ResultCache | None = None,
    progress: bool = True,
    max_ensemble: int = 64,
) -> list[RunResult]:
    """Run every config, as few ensembles as possible, skipping runs already in the cache.

    Results are stored as each ensemble finishes, so a sweep that is interrupted and started
    again recomputes only what is missing. Returns results in the order of ``configs``.
    """
    configs = list(configs)
    cache = cache or ResultCache()
    results: dict[RunConfig, RunResult] = {}
    groups: dict[RunConfig, list[RunConfig]] = {}
    for config in configs:
        cached = cache.load(config)
        if cached is not None:
            results[config] = cached
        elif config not in results:
            group = groups.setdefault(group_key(config), [])
            if config not in group:
                group.append(config)
    chunks = [
        g[i : i + max_ensemble] for g in groups.values() for i in range(0, len(g), max_ensemble)
    ]
    for chunk in tqdm(chunks, desc="sweep", disable=not progress or len(chunks) < 2):
        for result in run_ensemble(chunk, progress=progress):
            cache.store(result)
            results[result.config] = result
    return [results[c] for c in configs]


def results_frame(results: Iterable[RunResult], metric_table: str = "summary") -> pd.DataFrame:
    """One tidy table over runs, each row carrying its config's fields (ready for seaborn).

    ``metric_table`` is ``summary`` (one row per run), ``history`` (one row per step and
    metric), or the name of an instrument table.
    """
    frames = []
    for run_id, result in enumerate(results):
        if metric_table == "summary":
            table = pd.DataFrame([result.summary])
        elif metric_table == "history":
            table = result.history.copy()
        else:
            table = result.instruments[metric_table].copy()
        for name, value in result.config.to_dict().items():
            table[name] = [value] * len(table)
        table.insert(0, "run", run_id)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)
