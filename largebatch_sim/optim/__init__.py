"""Optimizers and learning-rate schedules, usable on plain dicts of arrays.

- ``schedules``: pure functions of the iteration (constant, step_decay, poly, cosine, linear,
  warmup, join, LEGW, scaling rules), computed on the host;
- ``SGD``: momentum, Nesterov, weight decay, the rate outside or inside the momentum buffer
  with Goyal et al.'s momentum correction;
- ``LARS``: You et al.'s Algorithm 1, with LARC's clip mode and exclusions by parameter kind;
- ``AdamW`` (decoupled weight decay) and ``LAMB`` (You et al. 2020, Algorithm 2);
- ``transforms``: the small stages every optimizer above is a chain of.
"""

from . import schedules, transforms
from .adamw import AdamW
from .lamb import LAMB
from .lars import LARS
from .schedules import (
    Schedule,
    constant,
    cosine,
    join,
    legw,
    legw_scaling,
    linear,
    poly,
    scale_lr,
    step_decay,
    warmup,
    warmup_steps,
)
from .sgd import SGD

__all__ = [
    "LAMB",
    "LARS",
    "AdamW",
    "SGD",
    "Schedule",
    "constant",
    "cosine",
    "join",
    "legw",
    "legw_scaling",
    "linear",
    "poly",
    "scale_lr",
    "schedules",
    "step_decay",
    "transforms",
    "warmup",
    "warmup_steps",
]
