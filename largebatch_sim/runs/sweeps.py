"""Sweeps: many configs, as few ensembles as possible, cached and resumable; tidy tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ..validate import ParameterError, check_bool, check_integer, check_string
from .cache import ResultCache
from .config import RunConfig, group_key
from .recipe import run_ensemble
from .result import RunResult


def sweep(
    configs: Iterable[RunConfig],
    cache: ResultCache | None = None,
    progress: bool = True,
    max_ensemble: int = 64,
    executor: Any = None,
) -> list[RunResult]:
    """Run every config, as few ensembles as possible, skipping runs already in the cache.

    Results are stored as each ensemble finishes, so a sweep that is interrupted and started
    again recomputes only what is missing. Returns results in the order of ``configs``.
    ``executor`` None trains the ensembles here, one after another; an executor from
    ``runs.executors`` (``as_executor("local")``, a Dask cluster) spreads them over workers.
    """
    configs = _checked_list("configs", configs, RunConfig)
    if cache is not None and not isinstance(cache, ResultCache):
        raise ParameterError("cache", cache, "None or a ResultCache (ResultCache(folder))")
    check_bool("progress", progress)
    max_ensemble = check_integer("max_ensemble", max_ensemble, low=1)
    if executor is not None and not callable(getattr(executor, "run_units", None)):
        allowed = "None (in process) or an executor: runs.executors.as_executor(...)"
        raise ParameterError("executor", executor, allowed)
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
    run_units = _in_process if executor is None else executor.run_units
    for result in run_units(chunks, cache, progress):
        results[result.config] = result
    return [results[c] for c in configs]


def _in_process(
    chunks: list[list[RunConfig]], cache: ResultCache, progress: bool
) -> Iterator[RunResult]:
    for chunk in tqdm(chunks, desc="sweep", disable=not progress or len(chunks) < 2):
        for result in run_ensemble(chunk, progress=progress):
            cache.store(result)
            yield result


def _checked_list(name: str, items: Any, kind: type) -> list[Any]:
    """An iterable of ``kind`` instances as a list (a list, even of one, not one alone)."""
    if isinstance(items, kind | str | bytes) or not isinstance(items, Iterable):
        raise ParameterError(name, items, f"an iterable of {kind.__name__} (a list, even of one)")
    items = list(items)
    for i, item in enumerate(items):
        if not isinstance(item, kind):
            raise ParameterError(f"{name}[{i}]", item, f"a {kind.__name__}")
    return items


def results_frame(results: Iterable[RunResult], metric_table: str = "summary") -> pd.DataFrame:
    """One tidy table over runs, each row carrying its config's fields (ready for seaborn).

    ``metric_table`` is ``summary`` (one row per run), ``history`` (one row per step and
    metric), or the name of an instrument table.
    """
    results = _checked_list("results", results, RunResult)
    if not results:
        raise ParameterError("results", results, "at least one RunResult")
    check_string("metric_table", metric_table)
    if metric_table not in ("summary", "history"):
        tables = set.intersection(*(set(r.instruments) for r in results))
        if metric_table not in tables:
            allowed = f"'summary', 'history' or a table every result has {sorted(tables)}"
            raise ParameterError("metric_table", metric_table, allowed)
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
