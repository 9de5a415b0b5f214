"""An adaptive batch size, B = sqrt(r B_noise) (McCandlish et al. 2018, Fig. 16), cached.

Training runs in phases of ``phase`` steps; each phase measures B_simple (the stand-in for
B_noise) with the noise instrument as the ratio of the phase's mean estimates, and the next
phase uses B = sqrt(r B_simple) rounded to a power of two in [b_min, b_max], at the rate
eps_max B / (B* + B) of a fitted best-rate curve. An unresolved estimate (mean |G|^2 <= 0)
keeps the batch. The run stops at the first record (every ``every`` steps) whose training loss
is at or below the target. Results are cached on disk, keyed by the config, this module's
source and the training code's version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import DATASETS, GENERATED
from ..nn.models import MODELS
from ..validate import ParameterError, check_choice, check_integer, check_number, is_real
from . import pickle_cache


@dataclass(frozen=True)
class AdaptiveConfig:
    """One adaptive-batch run: data, model, the exchange rate r, the target, the rate rule."""

    data: str
    data_size: int | None
    model: str
    r: float  # a step is worth r examples: cost S + E / r
    target: float  # training loss (window mean) that ends the run
    eps_max: float  # rate rule eps_max B / (B* + B); NaN: use lr_fallback
    b_star: float
    lr_fallback: float
    seed: int = 0
    phase: int = 25
    every: int = 5
    chunks: int = 8
    b_min: int = 16
    b_max: int = 1024
    max_phases: int = 400

    def __post_init__(self) -> None:
        """Check every field before any compute; the values are kept as given (they are
        part of the cache key)."""
        check_choice("data", self.data, DATASETS)
        if self.data_size is not None:
            check_integer("data_size", self.data_size, low=1)
            if self.data not in GENERATED:
                raise ParameterError(
                    "data_size", self.data_size, f"None for {self.data!r} (not one of {GENERATED})"
                )
        check_choice("model", self.model, MODELS)
        check_number("r", self.r, low=0, low_open=True)
        check_number("target", self.target, low=0)
        for name in ("eps_max", "b_star"):  # NaN: no fit, the rate is lr_fallback
            value = getattr(self, name)
            if not (is_real(value) and math.isnan(value)):
                check_number(name, value, low=0)
        check_number("lr_fallback", self.lr_fallback, low=0)
        check_integer("seed", self.seed)
        for name in ("phase", "every", "b_min", "max_phases"):
            check_integer(name, getattr(self, name), low=1)
        check_integer("chunks", self.chunks, low=2)
        check_integer("b_max", self.b_max, low=self.b_min)
        if self.b_min % self.chunks:  # the first phase splits b_min into chunks
            raise ParameterError("chunks", self.chunks, f"a divisor of b_min ({self.b_min})")

    def lr(self, batch: int) -> float:
        """The rate for ``batch``: the fitted rule, or the fallback where the fit failed."""
        if np.isfinite(self.eps_max) and np.isfinite(self.b_star):
            return float(self.eps_max * batch / (self.b_star + batch))
        return float(self.lr_fallback)


@dataclass(frozen=True)
class AdaptiveResult:
    """Per phase: batch, lr, steps before it, last loss, B_simple; and the totals."""

    config: AdaptiveConfig
    phases: pd.DataFrame
    steps: int
    examples: int
    reached: bool


def run_adaptive(config: AdaptiveConfig) -> AdaptiveResult:
    """Train one adaptive-batch run (not cached: see ``cached_adaptive``)."""
    from ..analysis import noise
    from ..analysis.noise_trends import window_b_simple
    from ..data import BatchSampler, load_dataset
    from ..instruments import NoiseScale
    from ..nn.models import build_model
    from ..optim import SGD
    from ..train import train

    kwargs = {} if config.data_size is None else dict(num_samples=config.data_size)
    data = load_dataset(config.data, seed=0, **kwargs)
    model = build_model(config.model, data.in_shape, data.classes).init([config.seed])
    opt = SGD(momentum=0.0, weight_decay=0.0)
    batch, steps, examples, rows = config.b_min, 0, 0, []
    for phase in range(config.max_phases):
        lr = config.lr(batch)
        sampler = BatchSampler(
            data.x_train, data.y_train, batch, seeds=[1000 * config.seed + phase]
        )
        result = train(
            model,
            opt,
            np.full(config.phase, lr),
            sampler,
            eval_every=config.every,
            instruments={"noise": NoiseScale(config.chunks, 1, model=model)},
            progress=False,
        )
        loss = result.history[result.history.metric == "train_loss"]
        hit = loss[loss.value <= config.target]
        done = int(hit.step.iloc[0]) if len(hit) else config.phase
        b_simple = window_b_simple(noise.noise_scale_frame(result.instruments["noise"]))
        rows.append(
            dict(
                seed=config.seed,
                phase=phase,
                batch=batch,
                lr=lr,
                steps_before=steps,
                loss=float(loss.value.iloc[-1]),
                B_simple=b_simple,
            )
        )
        steps, examples = steps + done, examples + done * batch
        if len(hit):
            return AdaptiveResult(config, pd.DataFrame(rows), steps, examples, True)
        if np.isfinite(b_simple):  # unresolved: keep the batch
            wanted = np.sqrt(config.r * b_simple)
            batch = int(np.clip(2 ** round(np.log2(wanted)), config.b_min, config.b_max))
    return AdaptiveResult(config, pd.DataFrame(rows), steps, examples, False)


def cached_adaptive(config: AdaptiveConfig, root: str | Path | None = None) -> AdaptiveResult:
    """``run_adaptive`` through a pickle cache in the folder ``root`` (default:
    $LBSIM_CACHE/adaptive), keyed by the config and everything this module imports (the noise
    estimators too), itself included."""
    if not isinstance(config, AdaptiveConfig):
        raise ParameterError("config", config, "an AdaptiveConfig")
    return pickle_cache.cached(
        "adaptive", config, "runs/adaptive.py", lambda: run_adaptive(config), root
    )
