"""A training run described by a frozen config, and the vocabularies its fields accept.

Runs that differ only in ``ENSEMBLE_FIELDS`` (learning rate, seed, and the scalar
hyperparameters that change no array's shape: momentum, weight decay, trust coefficient, warmup
length, Adam's betas) share everything else, batch size included, so they can train together
as one ensemble (``group_key``): each member gets its own value.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import DATASETS
from ..data.augment import AUGMENTABLE
from ..data.mnist1d import check_num_samples
from ..data.registry import GENERATED, SYNTHETIC, TRAIN_FRACTION
from ..data.sampler import WORKER_SHUFFLES
from ..nn.models import MODELS
from ..optim.lars import DENOMINATORS, ZERO_NORM_RATIOS
from ..validate import (
    ParameterError,
    check_bool,
    check_choice,
    check_integer,
    check_number,
    check_sequence,
)

AUTO_WARMUP_READS = 3  # AutoWU's patience: three loss reads in a row decide the switch
SCALING_RULES = ("none", "linear", "sqrt", "legw")
SCHEDULES = ("constant", "step", "poly", "cosine")
WARMUPS = ("none", "constant", "gradual", "staircase", "staircase_shifted", "auto")
OPTIMIZERS = ("sgd", "lars", "adamw", "lamb")
KINDS = ("weight", "bias", "norm")
DTYPES = ("float32", "float64")
LOSS_NORMALIZERS = ("global", "worker")
WIDTH_MODELS = ("cnn_bn", "alexnet_lrn", "alexnet_bn")  # the builders that take ``width``
ENSEMBLE_FIELDS = (
    "lr",
    "seed",
    "momentum",
    "weight_decay",
    "trust_coefficient",
    "warmup_epochs",
    "adam_b1",
    "adam_b2",
    "augment_strength",
)


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
    (Goyal eq. 10), inside for LARS (Algorithm 1). ``adamw`` and ``lamb`` use Adam's moments
    (``adam_b1``, ``adam_b2``, ``adam_eps``) with decoupled weight decay; ``lamb`` adds the
    layer-wise trust ratio (You et al. 2020), excluding ``no_adaptation_on`` kinds from it.

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
    ``trace_loss`` keeps the training loss of every step (table "loss_trace");
    ``trust_ratio_every`` > 0 records LARS's or LAMB's per-layer trust ratios every that many
    steps (table "trust_ratios").

    ``augment_copies`` M > 1 puts M augmented copies of each of the ``batch`` unique examples
    into one batch of M x batch (Hoffer et al. 2020; ``data.augment``), steps per epoch
    unchanged; ``augment_strength`` (per member, 0 = none, 1 = the declared ranges) scales the
    transformations, and with M = 1 gives plain augmentation. ``warmup="auto"`` is AutoWU
    (Kim et al. 2021; ``auto_warmup``): an exponential warmup from ``warmup_start`` (default
    1e-4 x the scaled lr) towards the scaled lr over at most ``warmup_epochs``, switched by the
    training loss read every ``auto_warmup_every`` steps (0: once per epoch, the authors'
    cadence), then the cosine decay (table "auto_warmup").
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
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-8
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
    trust_ratio_every: int = 0
    evals: int = 20
    precise_bn_examples: int = 2048
    trace_loss: bool = False
    divergence_factor: float = 10.0
    dtype: str = "float32"
    augment_copies: int = 1
    augment_strength: float = 0.0
    auto_warmup_every: int = 0

    def __post_init__(self) -> None:
        """Check every field before any compute (``ParameterError`` names the field); sequences
        may come as lists or arrays and are stored as tuples, so configs stay hashable."""
        canonical = {f.name: _CHECKS[f.name](f.name, getattr(self, f.name)) for f in _FIELDS}
        for name, value in canonical.items():
            object.__setattr__(self, name, value)
        self._check_relations()

    def _check_relations(self) -> None:
        """The rules that tie fields together."""
        if self.batch % self.workers:
            raise ParameterError(
                "batch",
                self.batch,
                f"divisible by workers ({self.workers}): each worker holds "
                "batch / workers examples",
            )
        if self.noise_chunks and self.batch % self.noise_chunks:
            raise ParameterError(
                "noise_chunks",
                self.noise_chunks,
                f"a divisor of batch ({self.batch}): the "
                "noise-scale instrument splits the batch into chunks of batch / noise_chunks",
            )
        if self.data_size is not None and self.data not in GENERATED:
            raise ParameterError(
                "data_size",
                self.data_size,
                f"None for {self.data!r}: only the generated sets "
                f"{GENERATED} have a size to choose",
            )
        if self.data == "mnist1d" and self.data_size is not None:
            check_num_samples("data_size", self.data_size)
        train_examples = None if self.data_size is None else int(self.data_size * TRAIN_FRACTION)
        if train_examples is not None and not self.fresh_samples and self.batch > train_examples:
            raise ParameterError(
                "batch",
                self.batch,
                f"at most the {train_examples} training examples of data_size {self.data_size}",
            )
        if self.fresh_samples and self.data not in SYNTHETIC:
            raise ParameterError(
                "fresh_samples",
                True,
                f"False for {self.data!r}: only the synthetic sets "
                f"{SYNTHETIC} have a process to draw new samples from",
            )
        if self.fresh_samples and self.worker_shuffle != "shared":
            raise ParameterError(
                "worker_shuffle",
                self.worker_shuffle,
                "'shared' with fresh_samples (new batches are drawn, nothing is shuffled)",
            )
        if self.width != 1 and self.model not in WIDTH_MODELS:
            raise ParameterError(
                "width", self.width, f"1 for model {self.model!r} (width scales {WIDTH_MODELS})"
            )
        if self.trust_ratio_every and self.optimizer not in ("lars", "lamb"):
            raise ParameterError(
                "trust_ratio_every",
                self.trust_ratio_every,
                f"0 for optimizer {self.optimizer!r}: only LARS and LAMB apply a trust ratio",
            )
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ParameterError("milestones", self.milestones, "increasing fractions of training")
        augments = self.augment_copies > 1 or self.augment_strength > 0
        if augments and self.data not in AUGMENTABLE:
            raise ParameterError(
                "augment_copies" if self.augment_copies > 1 else "augment_strength",
                self.augment_copies if self.augment_copies > 1 else self.augment_strength,
                f"1 (and strength 0) for {self.data!r}: only {AUGMENTABLE} have transformations",
            )
        if self.warmup == "auto":
            self._check_auto_warmup()
        if self.warmup != "none" and self.warmup_epochs > self.epochs:
            raise ParameterError(
                "warmup_epochs", self.warmup_epochs, f"at most the training ({self.epochs} epochs)"
            )

    def _check_auto_warmup(self) -> None:
        """AutoWU switches after three loss reads in a row: read once per epoch, a warmup of
        fewer epochs would never read enough loss to decide (a cadence in steps is checked
        by the controller, which knows the epoch's steps)."""
        if self.auto_warmup_every == 0 and self.warmup_epochs < AUTO_WARMUP_READS:
            raise ParameterError(
                "warmup_epochs",
                self.warmup_epochs,
                f">= {AUTO_WARMUP_READS} with warmup='auto' read once per epoch (the controller "
                f"needs {AUTO_WARMUP_READS} reads of the training loss to switch)",
            )
        if self.schedule != "cosine":
            raise ParameterError(
                "schedule", self.schedule, "'cosine' with warmup='auto' (its decay phase)"
            )
        if self.warmup_start == 0:
            raise ParameterError(
                "warmup_start", 0.0, "> 0 or None with warmup='auto' (an exponential warmup)"
            )

    @property
    def k(self) -> float:
        """How many times the base batch this run's batch is."""
        return self.batch / self.base_batch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _optional(check: Callable[..., Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: None if value is None else check(name, value)


def _choice(accepted: Sequence[Any]) -> Callable[[str, Any], Any]:
    return lambda name, value: check_choice(name, value, accepted)


def _kinds(name: str, value: Any) -> tuple[str, ...]:
    return check_sequence(name, value, _choice(KINDS))


def _at_least(low: int) -> Callable[[str, Any], int]:
    return lambda name, value: check_integer(name, value, low=low)


def _number(**bounds: Any) -> Callable[[str, Any], float]:
    return lambda name, value: check_number(name, value, **bounds)


def _noise_chunks(name: str, value: Any) -> int:
    chunks = check_integer(name, value, low=0)
    if chunks == 1:  # B_small = B_big: the noise scale is undefined
        raise ParameterError(name, value, "0 (off) or at least 2")
    return chunks


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "data": _choice(DATASETS),
    "data_size": _optional(_at_least(2)),
    "fresh_samples": check_bool,
    "model": _choice(MODELS),
    "batch": _at_least(1),
    "workers": _at_least(1),
    "lr": _number(low=0),
    "base_batch": _at_least(1),
    "scaling": _choice(SCALING_RULES),
    "schedule": _choice(SCHEDULES),
    "milestones": lambda name, value: check_sequence(
        name, value, _number(low=0, high=1, low_open=True, high_open=True)
    ),
    "warmup": _choice(WARMUPS),
    "warmup_epochs": _number(low=0),
    "warmup_start": _optional(_number(low=0)),
    "epochs": _number(low=0, low_open=True),
    "optimizer": _choice(OPTIMIZERS),
    "momentum": _number(low=0, high=1, high_open=True),
    "nesterov": check_bool,
    "weight_decay": _number(low=0),
    "no_weight_decay_on": _kinds,
    "lr_in_momentum": _optional(check_bool),
    "trust_coefficient": _number(low=0),
    "lars_denominator": _choice(DENOMINATORS),
    "lars_clip": check_bool,
    "lars_zero_norm_ratio": _choice(ZERO_NORM_RATIOS),
    "no_adaptation_on": _kinds,
    "adam_b1": _number(low=0, high=1, high_open=True),
    "adam_b2": _number(low=0, high=1, high_open=True),
    "adam_eps": _number(low=0),
    "momentum_correction": check_bool,
    "loss_scale": _number(low=0, low_open=True),
    "loss_normalizer": _choice(LOSS_NORMALIZERS),
    "worker_shuffle": _choice(WORKER_SHUFFLES),
    "width": _number(low=0, low_open=True),
    "dropout": _number(low=0, high=1, high_open=True),
    "zero_init_last_bn": check_bool,
    "seed": _at_least(0),
    "data_seed": _at_least(0),
    "norm_ratio_steps": lambda name, value: check_sequence(name, value, _at_least(0)),
    "noise_chunks": _noise_chunks,
    "noise_every": _at_least(1),
    "trust_ratio_every": _at_least(0),
    "evals": _at_least(1),
    "precise_bn_examples": _at_least(0),
    "trace_loss": check_bool,
    "divergence_factor": _number(low=1, low_open=True),
    "dtype": _choice(DTYPES),
    "augment_copies": _at_least(1),
    "augment_strength": _number(low=0),
    "auto_warmup_every": _at_least(0),
}
_FIELDS = dataclasses.fields(RunConfig)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """RunConfig fields from a TOML or JSON file (``lr`` and ``seed`` may be lists: an
    ensemble). Unknown keys are refused; the values are checked when the configs are built."""
    path = Path(path)
    if path.suffix not in (".toml", ".json"):
        raise ParameterError("config", str(path), "a .toml or .json file")
    if not path.is_file():
        raise ParameterError("config", str(path), "an existing file")
    try:
        text = path.read_text()
        values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ParameterError(
            "config", str(path), f"a readable {path.suffix} file ({error})"
        ) from None
    if not isinstance(values, dict):
        raise ParameterError("config", str(path), "a table of RunConfig fields")
    fields = {f.name for f in _FIELDS}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ParameterError("config", str(path), f"a file of RunConfig fields ({unknown} are not)")
    return values


def group_key(config: RunConfig) -> RunConfig:
    """The config with its ensemble fields blanked: runs with equal keys share one ensemble.

    AutoWU's controller has one warmup length for all its members, so there the warmup
    length is not an ensemble field."""
    fields = [
        name
        for name in ENSEMBLE_FIELDS
        if not (name == "warmup_epochs" and config.warmup == "auto")
    ]
    return dataclasses.replace(config, **dict.fromkeys(fields, 0))
