"""The recipe: from a config to a model, an optimizer, a schedule and data, then training.

``run_ensemble`` trains configs that differ only in the ensemble fields as one ensemble of E
members: one batched matmul per layer instead of E runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from ..data import BatchSampler, FreshSampler, load_dataset
from ..instruments import NoiseScale, NormRatios, TrustRatios
from ..loss_trace import LossTrace
from ..nn.losses import scaled_gradient, softmax_cross_entropy
from ..nn.models import build_model
from ..optim import LAMB, LARS, SGD, AdamW, schedules
from ..precise_bn import PreciseBN, has_batch_norm
from ..train import Hook, train
from .config import ENSEMBLE_FIELDS, RunConfig, group_key
from .result import RunResult


@cache
def _dataset(name: str, size: int | None, seed: int) -> Any:
    kwargs = {"seed": seed} | ({} if size is None else {"num_samples": size})
    return load_dataset(name, **kwargs)


def peak_lr(config: RunConfig, lr: Any) -> Any:
    """The rate after warmup at the config's batch: ``lr`` scaled from the base batch."""
    rule = "sqrt" if config.scaling == "legw" else config.scaling
    return schedules.scale_lr(lr, config.batch, config.base_batch, rule)


def warmup_epochs(config: RunConfig) -> float:
    """Warmup length in epochs; LEGW stretches it by k = B / B0."""
    if config.warmup == "none":
        return 0.0
    return config.warmup_epochs * (config.k if config.scaling == "legw" else 1)


def build_schedule(config: RunConfig, lr: Any, steps_per_epoch: int) -> schedules.Schedule:
    """The learning rate of every step: scaling rule, decay, then warmup, as in the config."""
    peak = peak_lr(config, lr)
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
    warmup_steps = round(warmup_epochs(config) * steps_per_epoch)
    if warmup_steps == 0:
        return main
    start = lr if config.warmup_start is None else config.warmup_start
    return schedules.warmup(
        main, config.warmup, warmup_steps, start=start, steps_per_epoch=steps_per_epoch
    )


def describe_schedule(config: RunConfig) -> str:
    """The rate a run trains with, in words and numbers, e.g. "lr 0.1 at batch 32, linear
    scaling -> 0.8 at batch 256, gradual warmup over 2 epochs from 0.1, step decay x0.1 at
    50%, 75% of 10 epochs"."""
    peak = float(peak_lr(config, config.lr))
    parts = [f"lr {config.lr:g} at batch {config.base_batch}"]
    if config.scaling == "none" or config.batch == config.base_batch:
        parts[0] += f", used as is at batch {config.batch}"
    else:
        parts.append(f"{config.scaling} scaling -> {peak:g} at batch {config.batch}")
    if warmup_epochs(config):
        start = config.lr if config.warmup_start is None else config.warmup_start
        parts.append(f"{config.warmup} warmup over {warmup_epochs(config):g} epochs from {start:g}")
    decay = {
        "constant": "then constant",
        "step": "step decay x0.1 at " + ", ".join(f"{m:.0%}" for m in config.milestones),
        "poly": "polynomial decay (power 2) to 0",
        "cosine": "cosine decay to 0",
    }[config.schedule]
    return ", ".join(parts) + f", {decay} over {config.epochs:g} epochs"


def build_optimizer(config: RunConfig) -> Any:
    """The config's optimizer, with its exclusions by parameter kind bound."""
    if config.optimizer == "sgd":
        return SGD(
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
            lr_in_momentum=bool(config.lr_in_momentum),
            momentum_correction=config.momentum_correction,
            exclude_from_weight_decay=config.no_weight_decay_on,
        )
    if config.optimizer == "lars":
        return LARS(
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            trust_coefficient=config.trust_coefficient,
            denominator=config.lars_denominator,
            clip=config.lars_clip,
            zero_norm_ratio=config.lars_zero_norm_ratio,
            exclude_from_adaptation=config.no_adaptation_on,
            exclude_from_weight_decay=config.no_weight_decay_on,
            lr_in_momentum=config.lr_in_momentum is not False,
            nesterov=config.nesterov,
        )
    adam = {"b1": config.adam_b1, "b2": config.adam_b2, "eps": config.adam_eps}
    if config.optimizer == "adamw":
        return AdamW(
            **adam,
            weight_decay=config.weight_decay,
            exclude_from_weight_decay=config.no_weight_decay_on,
        )
    return LAMB(
        **adam,
        weight_decay=config.weight_decay,
        exclude_from_adaptation=config.no_adaptation_on,
        exclude_from_weight_decay=config.no_weight_decay_on,
    )


def run_ensemble(
    configs: Sequence[RunConfig], progress: bool = True, hooks: Sequence[Hook] = ()
) -> list[RunResult]:
    """Train runs that differ only in ``ENSEMBLE_FIELDS`` as one ensemble of E members.

    ``hooks`` act on the training loop after the recipe's own (``train.Hook``): the explorer
    draws curves and stops a run there. A hook that stops training early leaves results that
    are not the config's (shorter than its epochs): never cache those."""
    if not configs:
        raise ValueError("run_ensemble needs at least one config (an ensemble of size 0)")
    shared = {group_key(c) for c in configs}
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
    recipe_hooks = []
    if first.precise_bn_examples and has_batch_norm(model):
        recipe_hooks.append(PreciseBN(_precise_bn_sampler(first, data), _precise_bn_batches(first)))
    lrs = np.array([c.lr for c in configs])
    steps = max(1, round(first.epochs * sampler.steps_per_epoch))
    trace = LossTrace(steps, len(configs)) if first.trace_loss else None
    if trace is not None:
        recipe_hooks.append(trace)
    schedule = build_schedule(first, lrs, sampler.steps_per_epoch)
    optimizer = build_optimizer(first)
    instruments: dict[str, Any] = {}
    if first.trust_ratio_every:
        instruments["trust_ratios"] = TrustRatios(optimizer, every=first.trust_ratio_every)
    if first.norm_ratio_steps:
        instruments["norms"] = NormRatios(first.norm_ratio_steps)
    if first.noise_chunks:
        instruments["noise"] = NoiseScale(first.noise_chunks, first.noise_every, model=model)
    result = train(
        model,
        optimizer,
        schedule(np.arange(steps)),
        sampler,
        (data.x_test, data.y_test),
        eval_every=max(1, steps // first.evals),
        divergence_factor=first.divergence_factor,
        instruments=instruments,
        hooks=[*recipe_hooks, *hooks],
        progress=progress,
        description=f"{first.model} B={first.batch} E={len(configs)}",
        loss_fn=scaled_gradient(softmax_cross_entropy, gradient_scale(first)),
    )
    if trace is not None:
        result.instruments["loss_trace"] = trace.frame()
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


# One stream for the precise-BN batches, the same for every member and apart from the training
# stream: a member trained alone sees the same statistics as inside an ensemble.
PRECISE_BN_SEED = 2**31 - 1


def _precise_bn_batches(config: RunConfig) -> int:
    """Training batches forwarded before each evaluation: precise_bn_examples, at least one."""
    return max(1, -(-config.precise_bn_examples // config.batch))


def _precise_bn_sampler(config: RunConfig, data: Any) -> Any:
    if config.fresh_samples:
        return FreshSampler(data.process, config.batch, [PRECISE_BN_SEED], steps_per_epoch=1)
    return BatchSampler(
        data.x_train, data.y_train, config.batch, seeds=[PRECISE_BN_SEED], workers=config.workers
    )


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
