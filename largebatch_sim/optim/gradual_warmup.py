"""The PyTorch scheduler users bring with them: ildoonet's GradualWarmupScheduler
(pytorch-gradual-warmup-lr, PyPI ``warmup-scheduler``), as a pure function of the iteration.

Its rate at scheduler counter c (the number of ``scheduler.step()`` calls so far)::

    c <= T:   lr_c = base ((m - 1) c / T + 1)     multiplier m > 1: from base to m base
              lr_c = base c / T                   m = 1: from 0 (its quirk: the first
                                                  counter trains at lr = 0)
    c >  T:   after(c - T - 1), a schedule started at peak m base     (or m base, constant)

So it is ``join([ramp, after], [T + 1])`` in counter units. Stepped once per epoch (as its
README shows) the counter is t // steps_per_epoch: a staircase that holds each rate for a whole
epoch, where Goyal et al. raise the rate by a constant amount every iteration; stepped per
iteration it is t. ``tests/data/gradual_warmup_reference.json`` holds the package's own rates
(recorded with PyTorch) that the tests compare against. Not reproduced: a chainable
``after_scheduler`` (CosineAnnealingLR), which PyTorch evaluates from the rate it finds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..validate import check_callable, check_choice, check_integer, check_number
from .schedules import Schedule, constant, join

STEPPING = ("epoch", "iteration")


def gradual_warmup_scheduler(
    base_lr: float,
    multiplier: float,
    total_epoch: int,
    after: Callable[[float], Schedule] | None = None,
    steps_per_epoch: int = 1,
    stepped_per: str = "epoch",
) -> Schedule:
    """The scheduler's rate at every iteration t.

    ``after`` builds the after_scheduler from its peak rate (m base), in counter units, e.g.
    ``lambda peak: schedules.step_decay(peak, [4, 8])``; None holds m base. With
    ``stepped_per="epoch"`` the counter advances every ``steps_per_epoch`` iterations."""
    base_lr = check_number("base_lr", base_lr, low=0)
    multiplier = check_number("multiplier", multiplier, low=1)
    total = check_integer("total_epoch", total_epoch, low=1)
    per = check_integer("steps_per_epoch", steps_per_epoch, low=1)
    check_choice("stepped_per", stepped_per, STEPPING)
    if after is not None:
        check_callable("after", after, "a function of the peak rate that builds a schedule")
    peak = multiplier * base_lr

    def ramp(c: int | np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=np.float64)
        if multiplier == 1.0:
            return base_lr * c / total
        return base_lr * ((multiplier - 1.0) * c / total + 1.0)

    by_counter = join([ramp, (after or constant)(peak)], [total + 1])

    def schedule(step: int | np.ndarray) -> np.ndarray:
        t = np.asarray(step)
        return by_counter(t // per if stepped_per == "epoch" else t)

    return schedule
