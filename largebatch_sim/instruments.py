"""What is measured during training, at steps an instrument chooses.

Norms are computed on the device when wanted and kept there; the tables are built on the host
once, when training ends, so an instrument adds no synchronisation to the steps it watches.
Norms are per parameter tensor and per ensemble member (every axis but the first is reduced).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from . import backend
from .nn.base import Layer


def tensor_norms(arrays: dict[str, Any]) -> dict[str, Any]:
    """||a||_2 of each named array, per ensemble member: name -> (E,)."""
    out = {}
    for name, a in arrays.items():
        xp = backend.get_array_module(a)
        out[name] = xp.sqrt(xp.sum(xp.square(a.reshape(a.shape[0], -1)), axis=1))
    return out


class _AtSteps:
    """Watch the steps in ``steps`` (0 is the first iteration) and, if given, every ``every``."""

    def __init__(self, steps: Iterable[int] = (0,), every: int | None = None) -> None:
        self.steps = frozenset(steps)
        if every is not None and every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every}")
        self.every = every
        self._records: list[tuple[int, str, str, Any]] = []

    def wants(self, step: int) -> bool:
        return step in self.steps or (self.every is not None and step % self.every == 0)

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None:
        """Called after backward, before the optimizer moves the weights."""

    def after_update(self, step: int, model: Layer) -> None:
        """Called after the optimizer step."""

    def frame(self) -> pd.DataFrame:
        """Tidy table: step, param, kind, member, metric, value."""
        rows = []
        for step, name, kind, values in self._records:
            for metric, per_member in values.items():
                host = np.atleast_1d(backend.to_host(per_member))
                rows += [(step, name, kind, e, metric, float(v)) for e, v in enumerate(host)]
        return pd.DataFrame(rows, columns=["step", "param", "kind", "member", "metric", "value"])


class NormRatios(_AtSteps):
    """LARS's per-layer measurement (You et al. 2017, Table 2): ||w||, ||grad w|| and

        ratio = ||w|| / ||grad w||

    per parameter tensor, with the weights as they were when the gradient was computed (before
    the update). A ratio where ||grad w|| = 0 is recorded as inf, not hidden.
    """

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None:
        kinds = model.named_kinds()
        w_norms = tensor_norms(model.named_params())
        g_norms = tensor_norms(grads)
        for name, g_norm in g_norms.items():
            xp = backend.get_array_module(g_norm)
            w_norm = w_norms[name]
            ratio = xp.where(g_norm > 0, w_norm / xp.where(g_norm > 0, g_norm, 1), xp.inf)
            values = {"w_norm": w_norm, "grad_norm": g_norm, "ratio": ratio}
            self._records.append((step, name, kinds[name], values))


class UpdateSizes(_AtSteps):
    """The relative size of each step, ||w_{t+1} - w_t|| / ||w_t||, per parameter tensor."""

    def before_update(self, step: int, model: Layer, grads: dict[str, Any]) -> None:
        self._before = {name: p.copy() for name, p in model.named_params().items()}

    def after_update(self, step: int, model: Layer) -> None:
        kinds = model.named_kinds()
        after = model.named_params()
        deltas = tensor_norms({n: after[n] - w for n, w in self._before.items()})
        norms = tensor_norms(self._before)
        for name, delta in deltas.items():
            xp = backend.get_array_module(delta)
            norm = norms[name]
            relative = xp.where(norm > 0, delta / xp.where(norm > 0, norm, 1), xp.inf)
            values = {"update_norm": delta, "relative_update": relative}
            self._records.append((step, name, kinds[name], values))
        self._before = {}
