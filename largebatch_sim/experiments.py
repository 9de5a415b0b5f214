"""Runs described by configs, grouped into ensembles, cached on disk, resumable.

A ``RunConfig`` is one training run of one model. Runs that differ only in the learning rate
and the seed (``ENSEMBLE_FIELDS``) share everything else, batch size included, so ``sweep``
trains them together as one ensemble: one batched matmul per layer instead of E runs. Each run's
result is cached under a key made from its config and the library's code version; an
interrupted sweep started again recomputes only the runs whose results are missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .atomic import atomic_write
from .data import DATASETS, BatchSampler, FreshSampler, load_dataset
from .data.registry import SYNTHETIC
from .data.sampler import WORKER_SHUFFLES
from .instruments import NoiseScale, NormRatios
from .nn.losses import scaled_gradient, softmax_cross_entropy
from .nn.models import MODELS, build_model
from .optim import LARS, SGD, schedules
from .train import train

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


# Modules that only read or present results (or model what is never trained): editing them
# must not invalidate the cached runs.
PRESENTATION_MODULES = frozenset(
    {"plots.py", "scorecard.py", "notebook.py", "cli.py", "stability.py", "comm.py"}
)


@cache
def code_version() -> str:
    """A hash of the sources that compute results: changing any of them invalidates the cache."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        if path.name not in PRESENTATION_MODULES:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_key(config: RunConfig) -> str:
    payload = json.dumps(config.to_dict(), sort_keys=True) + code_version()
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@dataclass
class RunResult:
    """One run's history (step, epoch, metric, value), final summary and instrument tables."""

    config: RunConfig
    history: pd.DataFrame
    summary: dict[str, Any]
    instruments: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        return bool(self.summary["diverged"])


class ResultCache:
    """Results on disk, one pickle per run, keyed by config and code version.

    Writes are atomic, so two processes filling the same cache corrupt nothing (the last
    complete write wins) and an interrupted run leaves no partial file.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        default = Path(os.environ.get("LBSIM_CACHE", Path.home() / ".cache" / "largebatch_sim"))
        self.root = Path(root) if root is not None else default / "runs"

    def path(self, config: RunConfig) -> Path:
        return self.root / f"{cache_key(config)}.pkl"

    def load(self, config: RunConfig) -> RunResult | None:
        path = self.path(config)
        if not path.exists():
            return None
        with open(path, "rb") as f:
            return pickle.load(f)

    def store(self, result: RunResult) -> None:
        atomic_write(self.path(result.config), lambda f: pickle.dump(result, f))


@cache
def _dataset(name: str, size: int | None, seed: int) -> Any:
    kwargs = {"seed": seed} | ({} if size is None else {"num_samples": size})
    return load_dataset(name, **kwargs)


def build_schedule(config: RunConfig, lr: Any, steps_per_epoch: int) -> schedules.Schedule:
    """The learning rate of every step: scaling rule, decay, then warmup, as in the config."""
    rule = "sqrt" if config.scaling == "legw" else config.scaling
    peak = schedules.scale_lr(lr, config.batch, config.base_batch, rule)
    total = max(1, round(config.epochs * steps_per_epoch))
    if config.schedule == "constant":
        main = schedules.constant(peak)
    elif config.schedule == "step":
        milestones = sorted({max(1, round(m * total)) for m in config.milestones})
        main = schedules.step_decay(peak, milestones, factor=0.1)
    elif config.schedule == "poly":
        main = schedules.poly(peak, total, power=2.0)
    else:
        main = schedules.cosine(peak, total)
    warmup_epochs = config.warmup_epochs * (config.k if config.scaling == "legw" else 1)
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    if config.warmup == "none" or warmup_steps == 0:
        return main
    start = lr if config.warmup_start is None else config.warmup_start
    return schedules.warmup(main, config.warmup, warmup_steps, start=start)


def build_optimizer(config: RunConfig) -> Any:
    if config.optimizer == "sgd":
        return SGD(
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
            lr_in_momentum=bool(config.lr_in_momentum),
            momentum_correction=config.momentum_correction,
            exclude_from_weight_decay=config.no_weight_decay_on,
        )
    return LARS(
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        trust_coefficient=config.trust_coefficient,
        denominator=config.lars_denominator,
        clip=config.lars_clip,
        exclude_from_adaptation=config.no_adaptation_on,
        exclude_from_weight_decay=config.no_weight_decay_on,
        lr_in_momentum=config.lr_in_momentum is not False,
    )


def run_ensemble(configs: Sequence[RunConfig], progress: bool = True) -> list[RunResult]:
    """Train runs that differ only in ``ENSEMBLE_FIELDS`` as one ensemble of E members."""
    if not configs:
        raise ValueError("run_ensemble needs at least one config (an ensemble of size 0)")
    shared = {_group_key(c) for c in configs}
    if len(shared) > 1:
        raise ValueError(f"an ensemble's configs may differ only in {ENSEMBLE_FIELDS}")
    first = configs[0]
    data = _dataset(first.data, first.data_size, first.data_seed)
    if first.batch > len(data.y_train) and not first.fresh_samples:
        raise ValueError(
            f"batch ({first.batch}) exceeds the {len(data.y_train)} training examples of "
            f"{first.data!r}; choose a smaller batch or a larger data_size"
        )
    model = build_model(first.model, data.in_shape, data.classes, **_model_kwargs(first))
    model.init([c.seed for c in configs], dtype=np.dtype(first.dtype))
    model.set_workers(first.workers)
    seeds = [c.seed for c in configs]
    if first.fresh_samples:
        nominal_epoch = max(1, len(data.y_train) // first.batch)
        sampler = FreshSampler(data.process, first.batch, seeds, steps_per_epoch=nominal_epoch)
    else:
        sampler = BatchSampler(
            data.x_train,
            data.y_train,
            first.batch,
            seeds=seeds,
            workers=first.workers,
            worker_shuffle=first.worker_shuffle,
        )
    lrs = np.array([c.lr for c in configs])
    steps = max(1, round(first.epochs * sampler.steps_per_epoch))
    schedule = build_schedule(first, lrs, sampler.steps_per_epoch)
    instruments: dict[str, Any] = {}
    if first.norm_ratio_steps:
        instruments["norms"] = NormRatios(first.norm_ratio_steps)
    if first.noise_chunks:
        instruments["noise"] = NoiseScale(first.noise_chunks, first.noise_every, model=model)
    result = train(
        model,
        build_optimizer(first),
        schedule(np.arange(steps)),
        sampler,
        (data.x_test, data.y_test),
        eval_every=max(1, steps // first.evals),
        divergence_factor=first.divergence_factor,
        instruments=instruments,
        progress=progress,
        description=f"{first.model} B={first.batch} E={len(configs)}",
        loss_fn=scaled_gradient(softmax_cross_entropy, gradient_scale(first)),
    )
    results = []
    for member, config in enumerate(configs):
        history = result.history[result.history.member == member].drop(columns="member")
        summary = result.summary.iloc[member].drop("member").to_dict()
        tables = {
            name: table[table.member == member].drop(columns="member")
            for name, table in result.instruments.items()
        }
        results.append(RunResult(config, history.reset_index(drop=True), summary, tables))
    return results


def gradient_scale(config: RunConfig) -> float:
    """The factor on the loss's gradient: ``loss_scale``, times k for per-worker normalisation."""
    return config.loss_scale * (config.workers if config.loss_normalizer == "worker" else 1)


def _model_kwargs(config: RunConfig) -> dict[str, Any]:
    if config.model == "cnn_bn":
        return {"width": config.width}
    if config.model.startswith("alexnet"):
        return {"dropout": config.dropout, "width": config.width}
    if config.model == "resnet":
        return {"zero_init_last_bn": config.zero_init_last_bn}
    return {}


def _group_key(config: RunConfig) -> RunConfig:
    return dataclasses.replace(config, **{name: 0 for name in ENSEMBLE_FIELDS})


def sweep(
    configs: Iterable[RunConfig],
    cache: ResultCache | None = None,
    progress: bool = True,
    max_ensemble: int = 64,
) -> list[RunResult]:
    """Run every config, as few ensembles as possible, skipping runs already in the cache.

    Results are stored as each ensemble finishes, so a sweep that is interrupted and started
    again recomputes only what is missing. Returns results in the order of ``configs``.
    """
    configs = list(configs)
    cache = cache or ResultCache()
    results: dict[RunConfig, RunResult] = {}
    groups: dict[RunConfig, list[RunConfig]] = {}
    for config in configs:
        cached = cache.load(config)
        if cached is not None:
            results[config] = cached
        elif config not in results:
            group = groups.setdefault(_group_key(config), [])
            if config not in group:
                group.append(config)
    chunks = [
        g[i : i + max_ensemble] for g in groups.values() for i in range(0, len(g), max_ensemble)
    ]
    for chunk in tqdm(chunks, desc="sweep", disable=not progress or len(chunks) < 2):
        for result in run_ensemble(chunk, progress=progress):
            cache.store(result)
            results[result.config] = result
    return [results[c] for c in configs]


def results_frame(results: Iterable[RunResult], metric_table: str = "summary") -> pd.DataFrame:
    """One tidy table over runs, each row carrying its config's fields (ready for seaborn).

    ``metric_table`` is ``summary`` (one row per run), ``history`` (one row per step and
    metric), or the name of an instrument table.
    """
    frames = []
    for run_id, result in enumerate(results):
        if metric_table == "summary":
            table = pd.DataFrame([result.summary])
        elif metric_table == "history":
            table = result.history.copy()
        else:
            table = result.instruments[metric_table].copy()
        for name, value in result.config.to_dict().items():
            table[name] = [value] * len(table)
        table.insert(0, "run", run_id)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)
