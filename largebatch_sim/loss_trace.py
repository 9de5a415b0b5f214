"""The training loss of every step, kept on the device and fetched once at the end.

Evaluations average the training loss over the steps since the last one; a spike that lasts a
few steps (the end of constant warmup, Goyal et al.'s Figure 2) needs the loss of each step.
``LossTrace`` is a training hook (``train.Hook``) that writes each step's loss into a device
buffer of shape (steps, E): no host read inside a step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import backend
from .nn.base import Layer
from .train import Hook
from .validate import check_integer


class LossTrace(Hook):
    """Record L_t per member for every step t of a run of ``steps`` steps."""

    def __init__(self, steps: int, ensemble: int) -> None:
        steps = check_integer("steps", steps, low=1)
        ensemble = check_integer("ensemble", ensemble, low=1)
        xp = backend.get_backend()
        self.losses = xp.full((steps, ensemble), np.nan)
        self.columns = xp.arange(ensemble)  # the member each row of the ensemble is
        self.last = -1

    def after_step(self, step: int, model: Layer, loss: Any) -> None:
        self.losses[step, self.columns] = loss
        self.last = step

    def select_members(self, keep: np.ndarray) -> None:
        self.columns = self.columns[backend.asarray(keep)]

    def frame(self) -> pd.DataFrame:
        """Tidy table: step (1-based, as the history's), member, value."""
        host = backend.to_host(self.losses)[: self.last + 1]
        steps, members = np.meshgrid(np.arange(1, len(host) + 1), np.arange(host.shape[1]))
        return pd.DataFrame(
            {"step": steps.T.ravel(), "member": members.T.ravel(), "value": host.ravel()}
        )
