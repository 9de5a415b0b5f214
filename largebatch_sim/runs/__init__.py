"""Runs: configs, the recipe that trains them, the result cache and sweeps.

Each run's result is cached under a key made from its config and the library's code version;
an interrupted sweep started again recomputes only the runs whose results are missing.
"""

from .cache import ResultCache, cache_key, code_version
from .config import (
    DTYPES,
    ENSEMBLE_FIELDS,
    KINDS,
    LOSS_NORMALIZERS,
    OPTIMIZERS,
    SCALING_RULES,
    SCHEDULES,
    WARMUPS,
    WIDTH_MODELS,
    RunConfig,
    group_key,
)
from .recipe import build_optimizer, build_schedule, gradient_scale, run_ensemble
from .result import RunResult
from .sweeps import results_frame, sweep

__all__ = [
    "DTYPES",
    "ENSEMBLE_FIELDS",
    "KINDS",
    "LOSS_NORMALIZERS",
    "OPTIMIZERS",
    "SCALING_RULES",
    "SCHEDULES",
    "WARMUPS",
    "WIDTH_MODELS",
    "ResultCache",
    "RunConfig",
    "RunResult",
    "build_optimizer",
    "build_schedule",
    "cache_key",
    "code_version",
    "gradient_scale",
    "group_key",
    "results_frame",
    "run_ensemble",
    "sweep",
]
