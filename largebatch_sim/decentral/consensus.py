"""What a decentralised run records at each evaluation: how far the nodes disagree, and how
good their average is.

    consensus distance   (1/n) sum_i ||x_i - x_bar||^2,   x_bar = (1/n) sum_i x_i,

summed over every parameter tensor, and the test loss and accuracy of the average model x_bar
(the model a decentralised run hands over at the end; the nodes' own copies are in the loop's
history as members).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .. import backend
from ..nn.base import Layer
from ..train import Hook, evaluate


def consensus_distance(params: dict[str, Any]) -> float:
    """(1/n) sum_i ||x_i - x_bar||^2 over all tensors (read on the host)."""
    total = 0.0
    for x in params.values():
        d = x - x.mean(axis=0, keepdims=True)
        total += float(backend.to_host((d * d).sum())) / x.shape[0]
    return total


def evaluate_average(model: Layer, x: Any, y: Any) -> dict[str, float]:
    """Test loss and accuracy of the average model x_bar; the nodes' copies are restored."""
    params = model.named_params()
    saved = {name: p.copy() for name, p in params.items()}
    for p in params.values():
        p[...] = p.mean(axis=0, keepdims=True)
    metrics = evaluate(model, x, y)
    for name, p in params.items():
        p[...] = saved[name]
    return {name: float(v[0]) for name, v in metrics.items()}


class ConsensusRecorder(Hook):
    """At every evaluation: the consensus distance and the average model's test metrics."""

    def __init__(self, x_test: Any, y_test: Any) -> None:
        self.x_test, self.y_test = x_test, y_test
        self.rows: list[dict[str, float]] = []

    def at_evaluation(self, step: int, model: Layer, metrics: dict[str, np.ndarray]) -> bool:
        average = evaluate_average(model, self.x_test, self.y_test)
        self.rows.append(
            {
                "step": step + 1,
                "consensus": consensus_distance(model.named_params()),
                "average_test_loss": average["test_loss"],
                "average_test_acc": average["test_acc"],
            }
        )
        return False

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)
