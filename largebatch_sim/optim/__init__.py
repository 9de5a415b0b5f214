"""Optimizers and learning-rate schedules, usable on plain dicts of arrays.

- ``schedules``: pure functions of the iteration (constant, step_decay, poly, cosine, warmup,
  LEGW, scaling rules), computed on the host;
- ``SGD``: momentum, Nesterov, weight decay, the rate outside or inside the momentum buffer
  with Goyal et al.'s momentum correction;
- ``LARS``: You et al.'s Algorithm 1, with LARC's clip mode and exclusions by parameter kind.
"""

from . import schedules
from .lars import LARS
from .schedules import (
    Schedule,
    constant,
    cosine,
    legw,
    legw_scaling,
    poly,
    scale_lr,
    step_decay,
    warmup,
    warmup_steps,
)
from .sgd import SGD

__all__ = [
    "LARS",
    "SGD",
    "Schedule",
    "constant",
    "cosine",
    "legw",
    "legw_scaling",
    "poly",
    "scale_lr",
    "schedules",
    "step_decay",
    "warmup",
    "warmup_steps",
]
