"""The hook that shows a run while it trains: each evaluation's metrics go to a callback (which
redraws the curves), and a stop request ends training at the next evaluation."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..train import Hook

METRICS = ("train_loss", "test_acc")


class LiveCurves(Hook):
    """Collects every evaluation's metrics as a tidy table (member, step, metric, value) and
    hands it to ``on_update`` at most every ``min_interval`` seconds (drawing is slower than a
    small net's evaluation), always at the first evaluation. ``stop`` (a ``threading.Event``)
    set from another thread makes ``at_evaluation`` ask the loop to stop.

    A member that diverges or collapses reads NaN from its stop on (``train.Hook``): its last
    finite step is where the curves mark it."""

    def __init__(
        self,
        on_update: Callable[[pd.DataFrame], None],
        stop: threading.Event | None = None,
        min_interval: float = 0.3,
    ) -> None:
        self.on_update = on_update
        self.stop = stop or threading.Event()
        self.min_interval = min_interval
        self.rows: list[tuple[int, int, str, float]] = []
        self._last_update = -np.inf

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["member", "step", "metric", "value"])

    def select_members(self, keep: np.ndarray) -> None:
        """Nothing per row: the metrics arrive indexed by the original members."""

    def at_evaluation(self, step: int, model: Any, metrics: dict[str, np.ndarray]) -> bool:
        for name in METRICS:
            if name in metrics:
                self.rows += [(m, step + 1, name, float(v)) for m, v in enumerate(metrics[name])]
        now = time.perf_counter()
        if now - self._last_update >= self.min_interval:
            self._last_update = now
            self.on_update(self.frame())
        return self.stop.is_set()
