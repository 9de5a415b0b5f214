"""What one training run leaves behind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .config import RunConfig


@dataclass
class RunResult:
    """One run's history (step, epoch, metric, value), final summary and instrument tables."""

    config: RunConfig
    history: pd.DataFrame
    summary: dict[str, Any]
    instruments: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        return bool(self.summary["diverged"])
