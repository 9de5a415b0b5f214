"""CA-T1's runs: plain training, synchronous adversarial (tau = 0) and ConAdv (tau >= 1).

One run is one ensemble: the seeds are its members (each its own initial weights and batch
order), so a comparison across seeds costs one training loop per method. Cached per spec and
code version (``runs.memo``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import BatchSampler, load_dataset
from ..nn.models import build_model
from ..optim import LAMB, LARS
from ..runs.memo import memoised
from ..runs.warm_cosine import train_warm_cosine
from ..validate import ParameterError, check_choice, check_integer, check_number, check_sequence
from .conadv import ConAdvSampler
from .fgsm import check_eps
from .stale import check_tau

OPTIMIZERS = ("lamb", "lars")


@dataclass(frozen=True)
class ConAdvSpec:
    """``adversarial`` False: plain training on the clean batch of ``batch``; True: the clean
    batch and its FGSM copy (radius ``eps``) from weights ``tau`` steps stale. LAMB or LARS at
    peak rate ``lr`` with a gradual warmup and a cosine decay (``runs.warm_cosine``)."""

    adversarial: bool = True
    tau: int = 1
    eps: float = 0.1
    batch: int = 1024
    lr: float = 0.05
    optimizer: str = "lamb"
    weight_decay: float = 0.01
    epochs: int = 20
    warmup_epochs: float = 2.0
    data: str = "mnist1d"
    data_size: int = 20480
    model: str = "mlp"
    evals: int = 10
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        if not isinstance(self.adversarial, bool):
            raise ParameterError("adversarial", self.adversarial, "True or False")
        check_tau(self.tau)
        check_eps(self.eps)
        check_integer("batch", self.batch, low=1)
        check_number("lr", self.lr, low=0, low_open=True)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_number("weight_decay", self.weight_decay, low=0)
        check_integer("epochs", self.epochs, low=1)
        check_number("warmup_epochs", self.warmup_epochs, low=0)
        seeds = check_sequence("seeds", self.seeds, lambda n, v: check_integer(n, v, low=0))
        object.__setattr__(self, "seeds", tuple(seeds))

    @property
    def method(self) -> str:
        """plain, adv_tau0 (synchronous) or conadv_tau<k>."""
        if not self.adversarial:
            return "plain"
        return "adv_tau0" if self.tau == 0 else f"conadv_tau{self.tau}"


def run_conadv(spec: ConAdvSpec) -> pd.DataFrame:
    """Train; one row per seed: method, tau, batch, test accuracy (%), diverged."""
    data = load_dataset(spec.data, num_samples=spec.data_size, seed=0)
    model = build_model(spec.model, data.in_shape, data.classes).init(list(spec.seeds))
    sampler = BatchSampler(data.x_train, data.y_train, spec.batch, seeds=list(spec.seeds))
    if spec.adversarial:
        sampler = ConAdvSampler(sampler, model, spec.eps, spec.tau)
    if spec.optimizer == "lamb":
        optimizer = LAMB(weight_decay=spec.weight_decay)
    else:
        optimizer = LARS(weight_decay=spec.weight_decay)
    test_data = (data.x_test, data.y_test)
    result = train_warm_cosine(
        model, optimizer, sampler, test_data, spec.lr, spec.epochs, spec.warmup_epochs, spec.evals
    )
    summary = result.summary
    return pd.DataFrame(
        {
            "method": spec.method,
            "tau": spec.tau if spec.adversarial else -1,
            "batch": spec.batch,
            "seed": list(spec.seeds),
            "acc": 100 * summary.final_test_acc.to_numpy(np.float64),
            "diverged": summary.diverged.to_numpy(),
        }
    )


def cached_conadv(spec: ConAdvSpec) -> pd.DataFrame:
    """``run_conadv`` through the pickle cache."""
    return memoised(spec, "adversarial/run.py", run_conadv)
