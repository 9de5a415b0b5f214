"""A training run described by a frozen config, and the vocabularies its fields accept.

Runs that differ only in ``ENSEMBLE_FIELDS`` (learning rate, seed) share everything else, batch
size included, so they can train together as one ensemble (``group_key``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..data import DATASETS
from ..data.registry import SYNTHETIC
from ..data.sampler import WORKER_SHUFFLES
from ..nn.models import MODELS
from ..optim.lars import ZERO_NORM_RATIOS

SCALING_RULES = ("none", "linear", "sqrt", "legw")
SCHEDULES = ("constant", "step", "poly", "cosine")
WARMUPS = ("none", "constant", "gradual")
OPTIMIZERS = ("sgd", "lars")
KINDS = ("weight", "bias", "norm")
DTYPES = ("float32", "float64")
LOSS_NORMALIZERS = ("global", "worker")
WIDTH_MODELS = ("cnn_bn", "alexnet_lrn", "alexnet_bn")  # the builders that take ``width``
ENSEMBLE_FIELDS = ("lr", "seed")


@dataclass(frozen=True)
class RunConfig:
    """One training run; every field has the paper-faithful or laptop-sized default.

    The learning rate used at batch B is ``lr`` scaled from ``base_batch`` by ``scaling``:
    linear eta = lr B / B0 (Goyal), sqrt eta = lr sqrt(B / B0), legw = sqrt with the warmup
    epochs also multiplied by k = B / B0 (You et al. 2019). Warmup (Goyal) starts at
    ``warmup_start`` (default: the unscaled ``lr``, the small-batch rate) and reaches the scaled
    rate after ``warmup_epochs``. ``workers`` = k splits the global batch into k chunks of
    n = batch / k examples for batch-norm statistics. ``noise_chunks`` > 0 attaches the
    ``NoiseScale`` instrument (table "noise") with its own split of the batch into that many
    chunks (B_small = batch / noise_chunks), recorded every ``noise_every`` steps.
    ``lr_in_momentum`` None keeps each optimizer's paper form: outside the buffer for SGD
    (Goyal eq. 10), inside for LARS (Algorithm 1).

    Goyal et al.'s pitfalls (section 3), each off by default: ``loss_scale`` multiplies the
    loss's gradient, not the weight decay (remark 1); ``momentum_correction=False`` drops the
    factor lr_t / lr_{t-1} on the buffer when the lr sits inside it (remark 2);
    ``loss_normalizer="worker"`` normalises each worker's loss by its n examples and sums the k
    workers' gradients, k times the mean (remark 3); ``worker_shuffle="independent"`` gives each
    worker its own shuffle of the whole data set instead of one shared shuffle per epoch
    (remark 4). ``fresh_samples`` draws every training batch new from a synthetic set's process
    (McCandlish et al.'s infinite-data regime; epochs then count data_size * 0.8 examples, and
    the test split is the set's own). ``width`` scales the channels of ``cnn_bn`` and the AlexNets.

    Evaluation of a net with batch norm uses precise BN (``largebatch_sim.precise_bn``): before
    each evaluation the running statistics are recomputed over ``precise_bn_examples`` training
    examples (whole batches of ``batch``, at least one, split into the run's worker chunks), so
    test metrics use statistics that match the current weights; 0 keeps the EMA statistics.
    ``trace_loss`` keeps the training loss of every step (table "loss_trace").
    """

    data: str = "digits"
    data_size: int | None = None
    fresh_samples: bool = False
    model: str = "alexnet_bn"
    batch: int = 128
    workers: int = 1
    lr: float = 0.1
    base_batch: int = 32
    scaling: str = "linear"
    schedule: str = "step"
    milestones: tuple[float, ...] = (0.5, 0.75)
    warmup: str = "none"
    warmup_epochs: float = 0.0
    warmup_start: float | None = None
    epochs: float = 10.0
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    no_weight_decay_on: tuple[str, ...] = ()
    lr_in_momentum: bool | None = None
    trust_coefficient: float = 0.001
    lars_denominator: str = "paper"
    lars_clip: bool = False
    lars_zero_norm_ratio: float = 1.0
    no_adaptation_on: tuple[str, ...] = ()
    momentum_correction: bool = True
    loss_scale: float = 1.0
    loss_normalizer: str = "global"
    worker_shuffle: str = "shared"
    width: float = 1.0
    dropout: float = 0.0
    zero_init_last_bn: bool = True
    seed: int = 0
    data_seed: int = 0
    norm_ratio_steps: tuple[int, ...] = ()
    noise_chunks: int = 0
    noise_every: int = 1
    evals: int = 20
    precise_bn_examples: int = 2048
    trace_loss: bool = False
    divergence_factor: float = 10.0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _check_choice("data", self.data, DATASETS)
        _check_choice("model", self.model, MODELS)
        _check_choice("scaling", self.scaling, SCALING_RULES)
        _check_choice("schedule", self.schedule, SCHEDULES)
        _check_choice("warmup", self.warmup, WARMUPS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("dtype", self.dtype, DTYPES)
        _check_choice("lars_zero_norm_ratio", self.lars_zero_norm_ratio, ZERO_NORM_RATIOS)
        _check_choice("loss_normalizer", self.loss_normalizer, LOSS_NORMALIZERS)
        _check_choice("worker_shuffle", self.worker_shuffle, WORKER_SHUFFLES)
        for name in ("no_weight_decay_on", "no_adaptation_on"):
            for kind in getattr(self, name):
                _check_choice(name, kind, KINDS)
        for name in ("lr", "momentum", "weight_decay", "warmup_epochs", "trust_coefficient"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.warmup_start is not None and not (
            math.isfinite(self.warmup_start) and self.warmup_start >= 0
        ):
            raise ValueError(f"warmup_start must be finite and >= 0, got {self.warmup_start!r}")
        for name in ("batch", "workers", "base_batch", "evals"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.batch % self.workers:
            raise ValueError(
                f"batch ({self.batch}) must be divisible by workers ({self.workers}): "
                "each worker holds batch / workers examples"
            )
        if not (isinstance(self.noise_chunks, int) and self.noise_chunks >= 0):
            raise ValueError(
                f"noise_chunks must be 0 (off) or an int >= 2, got {self.noise_chunks!r}"
            )
        if self.noise_chunks == 1:
            raise ValueError(
                "noise_chunks must be 0 (off) or >= 2: with 1 chunk B_small = B_big and the "
                "noise scale is undefined"
            )
        if self.noise_chunks and self.batch % self.noise_chunks:
            raise ValueError(
                f"batch ({self.batch}) must be divisible by noise_chunks ({self.noise_chunks}): "
                "the noise-scale instrument splits the batch into chunks of batch / noise_chunks"
            )
        if not (
            isinstance(self.precise_bn_examples, int)
            and not isinstance(self.precise_bn_examples, bool)
            and self.precise_bn_examples >= 0
        ):
            raise ValueError(
                f"precise_bn_examples must be 0 (off) or a positive integer, got "
                f"{self.precise_bn_examples!r}"
            )
        if not (isinstance(self.noise_every, int) and self.noise_every >= 1):
            raise ValueError(f"noise_every must be a positive integer, got {self.noise_every!r}")
        if not (math.isfinite(self.epochs) and self.epochs > 0):
            raise ValueError(f"epochs must be a positive number, got {self.epochs!r}")
        for name in ("loss_scale", "width"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.fresh_samples and self.data not in SYNTHETIC:
            raise ValueError(
                f"fresh_samples needs a synthetic data set {SYNTHETIC}, not {self.data!r}: "
                "a fixed set has no process to draw from"
            )
        if self.fresh_samples and self.worker_shuffle != "shared":
            raise ValueError("fresh_samples draws new batches: worker_shuffle does not apply")
        if self.width != 1 and self.model not in WIDTH_MODELS:
            raise ValueError(
                f"width scales cnn_bn and the AlexNets only; model {self.model!r} needs width=1"
            )
        if self.momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if any(not 0 < m < 1 for m in self.milestones):
            raise ValueError(
                f"milestones are fractions of training in (0, 1), got {self.milestones}"
            )

    @property
    def k(self) -> float:
        """How many times the base batch this run's batch is."""
        return self.batch / self.base_batch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_choice(name: str, value: Any, accepted: Sequence[str]) -> None:
    if value not in accepted:
        raise ValueError(f"{name} must be one of {tuple(accepted)}, got {value!r}")


def group_key(config: RunConfig) -> RunConfig:
    """The config with its ensemble fields blanked: runs with equal keys share one ensemble."""
    return dataclasses.replace(config, **{name: 0 for name in ENSEMBLE_FIELDS})
