"""Training under a gradual warmup and a cosine decay, as the later families' own runs do
(ConAdv's, DecentLaM's): their specs are not ``RunConfig``s, their schedule is this one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..nn.base import Layer
from ..optim import schedules
from ..train import Hook, TrainResult, train


def lr_table(lr: float, epochs: int, warmup_epochs: float, steps_per_epoch: int) -> np.ndarray:
    """Gradual warmup from lr / 10 to lr over ``warmup_epochs``, under a cosine decay to 0 over
    the whole run, one rate per step."""
    steps = epochs * steps_per_epoch
    warm = min(steps - 1, round(warmup_epochs * steps_per_epoch))
    schedule = schedules.warmup(schedules.cosine(lr, steps), "gradual", warm, start=lr / 10)
    return schedule(np.arange(steps))


def train_warm_cosine(
    model: Layer,
    optimizer: Any,
    sampler: Any,
    test_data: tuple[Any, Any],
    lr: float,
    epochs: int,
    warmup_epochs: float,
    evals: int,
    hooks: Sequence[Hook] = (),
) -> TrainResult:
    """``train`` for ``epochs`` epochs of ``sampler`` at ``lr_table``'s rates, evaluated on
    ``test_data`` ``evals`` times, without a progress bar (these runs are cached work units)."""
    table = lr_table(lr, epochs, warmup_epochs, sampler.steps_per_epoch)
    return train(
        model,
        optimizer,
        table,
        sampler,
        test_data,
        eval_every=max(1, len(table) // evals),
        hooks=hooks,
        progress=False,
    )
