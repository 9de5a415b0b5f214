"""Every way into the library refuses bad input early, naming the parameter (one table).

Each row is a way in (a constructor, a function, a method that configures a model, an
environment variable), a call with one bad argument, and the parameter the error must name.
Every row asserts that the call raises ``ParameterError`` whose ``parameter`` and message
name that parameter, and that nothing was computed or written: no file appears under the
test's folder, no training starts (``run_ensemble`` and ``run_adaptive`` are replaced by a
tripwire), the plot style and the backend are untouched.

``test_every_parameter_has_a_row`` reads the signature of every way in: a parameter added
without a bad-input row here fails it.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from largebatch_sim import backend
from largebatch_sim.auto_warmup import AutoWarmup
from largebatch_sim.data import cache_dir, data_dir
from largebatch_sim.data.augment import AugmentedSampler
from largebatch_sim.instruments import NoiseScale, NormRatios, TrustRatios, UpdateSizes
from largebatch_sim.loss_trace import LossTrace
from largebatch_sim.nn.activations import Dropout, Flatten, ReLU
from largebatch_sim.nn.base import Layer, Sequential
from largebatch_sim.nn.batchnorm import BatchNorm
from largebatch_sim.nn.conv import Conv2d
from largebatch_sim.nn.linear import Linear
from largebatch_sim.nn.losses import scaled_gradient, softmax_cross_entropy, worker_sum_loss
from largebatch_sim.nn.lrn import LocalResponseNorm
from largebatch_sim.nn.models import alexnet_mini, build_model, cnn_mini, mlp, resnet_mini
from largebatch_sim.nn.pool import AvgPool2d, GlobalAvgPool, MaxPool2d
from largebatch_sim.nn.residual import BasicBlock
from largebatch_sim.optim import LAMB, LARS, SGD, AdamW, schedules
from largebatch_sim.optim.gradual_warmup import gradual_warmup_scheduler
from largebatch_sim.optim.transforms import (
    AddDecayedWeights,
    Chain,
    ScaleByAdam,
    ScaleByLearningRate,
    ScaleByTrustRatio,
    Stage,
    Trace,
)
from largebatch_sim.precise_bn import PreciseBN
from largebatch_sim.report import notebook
from largebatch_sim.runs import RunConfig, RunResult, adaptive, sweeps
from largebatch_sim.runs.adaptive import AdaptiveConfig, cached_adaptive
from largebatch_sim.runs.cache import ResultCache
from largebatch_sim.validate import ParameterError

NAN, INF = float("nan"), float("inf")
DIGITS = (1, 8, 8)
SIZES = {"smoke": {}, "quick": {}, "full": {}}


class Computed(Exception):
    """Raised by the tripwires that stand in for training and plotting."""


@dataclass
class Ctx:
    """What a row may use: a scratch folder (which must stay as it was) and the environment."""

    tmp: Path
    env: pytest.MonkeyPatch

    @property
    def file(self) -> Path:
        """An existing file, where a folder is wanted."""
        return self.tmp / "a_file.txt"


@dataclass(frozen=True)
class Row:
    way: str  # a key of WAYS
    param: str  # the parameter of that way's signature this row reaches
    call: Callable[[Ctx], Any]
    named: str = ""  # the name the error must give, when not ``param``

    @property
    def expected(self) -> str:
        return self.named or self.param


def _params() -> dict[str, np.ndarray]:
    return {"fc.w": np.ones((2, 3, 4)), "fc.b": np.ones((2, 4))}


def _step(optimizer: Any, **bad: Any) -> None:
    """One optimizer step with one bad argument; the parameters must not move."""
    params = _params()
    before = {k: v.copy() for k, v in params.items()}
    args = dict(params=params, grads=_params(), lr=0.1, kinds=None, active=None) | bad
    try:
        optimizer.step(**args)
    finally:
        for name, value in before.items():
            np.testing.assert_array_equal(params[name], value)


def _result() -> RunResult:
    history = pd.DataFrame({"step": [1], "epoch": [1.0], "metric": ["train_loss"], "value": [1.0]})
    return RunResult(RunConfig(), history, {"diverged": False})


def _adaptive(**bad: Any) -> AdaptiveConfig:
    args = dict(
        data="mnist1d",
        data_size=None,
        model="mlp",
        r=128.0,
        target=0.5,
        eps_max=NAN,
        b_star=NAN,
        lr_fallback=0.1,
    )
    return AdaptiveConfig(**(args | bad))


def _prune(ctx: Ctx, **bad: Any) -> int:
    """Prune a cache that holds one run of an older code version: it must stay."""
    old = ctx.tmp / "cache" / "runs" / "0ld" / "run.pkl"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"")
    try:
        return ResultCache().prune(**bad)
    finally:
        assert old.exists()
        for path in (old, old.parent, old.parent.parent, old.parent.parent.parent):
            path.unlink() if path.is_file() else path.rmdir()


def _setup(ctx: Ctx, **bad: Any) -> Any:
    args = dict(profile="smoke", backend_name="numpy", seed=0, out_dir=ctx.tmp / "out", sizes=SIZES)
    return notebook.setup(**(args | bad))


def _import_backend(ctx: Ctx, value: str) -> None:
    """Import backend.py afresh, as a separate module, with ``LBSIM_BACKEND=value``."""
    ctx.env.setenv("LBSIM_BACKEND", value)
    spec = importlib.util.spec_from_file_location("largebatch_sim._probe", backend.__file__)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def _with_env(ctx: Ctx, name: str, value: Any, call: Callable[[], Any]) -> Any:
    ctx.env.setenv(name, str(value))
    return call()


def _kwarg_rows(way: str, build: Callable[..., Any], cases: dict[str, list[Any]]) -> list[Row]:
    """Rows ``build(param=bad)`` for every bad value of every parameter in ``cases``."""
    return [
        Row(way, param, lambda ctx, p=param, v=value: build(**{p: v}))
        for param, values in cases.items()
        for value in values
    ]


ROWS: list[Row] = [
    # -- layers ----------------------------------------------------------------------------
    Row("Layer", "name", lambda c: Layer(3)),
    Row("ReLU", "name", lambda c: ReLU(name=None)),
    Row("Flatten", "name", lambda c: Flatten(name=["f"])),
    Row("GlobalAvgPool", "name", lambda c: GlobalAvgPool(name=1.5)),
    *_kwarg_rows("Dropout", Dropout, {"p": [-0.1, 1.0, NAN, "0.5", True], "name": [7]}),
    *_kwarg_rows(
        "Linear",
        lambda **k: Linear(**({"in_features": 4, "out_features": 3} | k)),
        {
            "in_features": [0, 2.5, "4", True],
            "out_features": [-1, None],
            "name": [0],
            "bias": ["no", 1],
            "bias_init": [NAN, INF, "0.1"],
            "gain": [0.0, -2.0, NAN],
        },
    ),
    *_kwarg_rows(
        "Conv2d",
        lambda **k: Conv2d(**({"in_channels": 2, "out_channels": 3, "kernel_size": 3} | k)),
        {
            "in_channels": [0, np.float64(2.0)],
            "out_channels": [True, "3"],
            "kernel_size": [0, (1, 2, 3), "3", (3, 2.5), np.array([[3, 3]])],
            "stride": [0, (1, 0), None],
            "padding": [-1, (0, -1), 0.5],
            "name": [{}],
            "bias": ["yes"],
            "bias_init": [NAN],
            "gain": [0, INF],
            "input_size": [(8,), (0, 8), "8x8"],
        },
    ),
    *_kwarg_rows(
        "BatchNorm",
        lambda **k: BatchNorm(**({"num_features": 3} | k)),
        {
            "num_features": [0, 3.0, "3"],
            "name": [3],
            "workers": [0, 2.0, True],
            "momentum": [1.5, -0.1, NAN, "0.9"],
            "eps": [0.0, -1e-5, INF, NAN],
            "gamma_init": [NAN, INF, "1"],
        },
    ),
    *_kwarg_rows(
        "LocalResponseNorm",
        LocalResponseNorm,
        {
            "size": [0, 2.5, True],
            "alpha": [-1.0, NAN],
            "beta": [-0.75, INF],
            "k": [0.0, NAN, "2"],
            "name": [None],
        },
    ),
    *_kwarg_rows(
        "MaxPool2d",
        MaxPool2d,
        {"kernel_size": [0, (2, 2, 2), 1.5], "stride": [0, (1, 2, 3), "2"], "name": [2]},
    ),
    *_kwarg_rows("AvgPool2d", AvgPool2d, {"kernel_size": [(2,), -1, None], "name": [()]}),
    *_kwarg_rows(
        "BasicBlock",
        lambda **k: BasicBlock(**({"in_channels": 2, "out_channels": 2} | k)),
        {
            "in_channels": [0],
            "out_channels": [2.0],
            "stride": [0, (2, 2)],
            "name": [5],
            "zero_init_last_bn": ["no"],
            "input_size": [(8,), (8, 0)],
        },
    ),
    Row("Sequential", "layers", lambda c: Sequential([Linear(2, 2), "relu"])),
    Row("Sequential", "layers", lambda c: Sequential(Linear(2, 2))),
    Row("Sequential", "layers", lambda c: Sequential("fc")),
    Row("Sequential", "name", lambda c: Sequential([], name=0)),
    # -- configuring a built model ---------------------------------------------------------
    Row("Layer.init", "seeds", lambda c: Linear(2, 2).init(-1)),
    Row("Layer.init", "seeds", lambda c: Linear(2, 2).init([])),
    Row("Layer.init", "seeds", lambda c: Linear(2, 2).init("0")),
    Row("Layer.init", "seeds", lambda c: Linear(2, 2).init([0, 1.5])),
    Row("Layer.init", "dtype", lambda c: Linear(2, 2).init(0, dtype="int32")),
    Row("Layer.init", "dtype", lambda c: Linear(2, 2).init(0, dtype="no such type")),
    Row("Layer.init", "flat", lambda c: Linear(2, 2).init(0, flat="yes")),
    Row("Layer.set_workers", "workers", lambda c: Linear(2, 2).set_workers(0)),
    Row("Layer.set_workers", "workers", lambda c: Linear(2, 2).set_workers(2.0)),
    Row("Layer.set_grad_chunks", "chunks", lambda c: Linear(2, 2).set_grad_chunks(0)),
    Row("Layer.set_grad_chunks", "chunks", lambda c: Linear(2, 2).set_grad_chunks("4")),
    Row("Layer.train", "mode", lambda c: Linear(2, 2).train("no")),
    # -- losses ------------------------------------------------------------------------------
    Row("scaled_gradient", "loss_fn", lambda c: scaled_gradient(None, 2.0)),
    Row("scaled_gradient", "factor", lambda c: scaled_gradient(softmax_cross_entropy, NAN)),
    Row("scaled_gradient", "factor", lambda c: scaled_gradient(softmax_cross_entropy, 0)),
    Row("scaled_gradient", "factor", lambda c: scaled_gradient(softmax_cross_entropy, "2")),
    Row("worker_sum_loss", "loss_fn", lambda c: worker_sum_loss("mse", 2)),
    Row("worker_sum_loss", "workers", lambda c: worker_sum_loss(softmax_cross_entropy, 0)),
    Row("worker_sum_loss", "workers", lambda c: worker_sum_loss(softmax_cross_entropy, 2.0)),
    # -- model builders ----------------------------------------------------------------------
    *_kwarg_rows(
        "mlp",
        lambda **k: mlp(**({"sizes": (64, 10)} | k)),
        {
            "sizes": [(64,), (64, 0), 64, "64,10", (64, 2.5), np.array([[64, 10]])],
            "name_prefix": [3],
            "bias_init": [NAN],
        },
    ),
    *_kwarg_rows(
        "alexnet_mini",
        alexnet_mini,
        {
            "in_shape": [(8, 8), (1, 0, 8), "1x8x8", (1, 8, 8.0)],
            "classes": [0, 10.0],
            "norm": ["gn", None],
            "dropout": [1.0, -0.5, NAN],
            "width": [0, -1.0, NAN, INF],
        },
    ),
    *_kwarg_rows(
        "cnn_mini",
        cnn_mini,
        {
            "in_shape": [(1, 40)],
            "classes": [-1],
            "channels": [0, 16.0],
            "width": [0.0, NAN],
        },
    ),
    *_kwarg_rows(
        "resnet_mini",
        resnet_mini,
        {
            "in_shape": [(1, 0, 8)],
            "classes": [True],
            "blocks_per_stage": [0, 1.5],
            "zero_init_last_bn": ["no", None],
        },
    ),
    Row("build_model", "name", lambda c: build_model("vgg", DIGITS, 10)),
    Row("build_model", "in_shape", lambda c: build_model("mlp", (64,), 10)),
    Row("build_model", "in_shape", lambda c: build_model("cnn_bn", None, 10)),
    Row("build_model", "classes", lambda c: build_model("mlp", DIGITS, 0)),
    Row("build_model", "classes", lambda c: build_model("resnet", DIGITS, "10")),
    Row("build_model", "hidden", lambda c: build_model("mlp", DIGITS, 10, hidden=0)),
    Row("build_model", "hidden", lambda c: build_model("mlp", DIGITS, 10, hidden="128")),
    Row("build_model", "hidden", lambda c: build_model("mlp", DIGITS, 10, hidden=(128, -1))),
    Row("build_model", "name_prefix", lambda c: build_model("mlp", DIGITS, 10, name_prefix=1)),
    Row("build_model", "bias_init", lambda c: build_model("mlp", DIGITS, 10, bias_init=INF)),
    Row("build_model", "norm", lambda c: build_model("alexnet_bn", DIGITS, 10, norm="lrn")),
    Row("build_model", "dropout", lambda c: build_model("alexnet_bn", DIGITS, 10, dropout=1.0)),
    Row("build_model", "width", lambda c: build_model("alexnet_lrn", DIGITS, 10, width=NAN)),
    Row("build_model", "width", lambda c: build_model("mlp", DIGITS, 10, width=2.0)),
    Row("build_model", "channels", lambda c: build_model("cnn_bn", DIGITS, 10, channels=0)),
    Row(
        "build_model",
        "blocks_per_stage",
        lambda c: build_model("resnet", DIGITS, 10, blocks_per_stage=0),
    ),
    Row(
        "build_model",
        "zero_init_last_bn",
        lambda c: build_model("resnet", DIGITS, 10, zero_init_last_bn="yes"),
    ),
    Row("build_model", "hidden", lambda c: build_model("resnet", DIGITS, 10, hidden=(8,))),
    # -- optimizers --------------------------------------------------------------------------
    *_kwarg_rows(
        "SGD",
        SGD,
        {
            "momentum": [-0.1, 1.0, NAN, "0.9", [0.5, 1.0], [[0.9]]],
            "nesterov": ["no", 1],  # the example: "no" was taken as True
            "weight_decay": [-1e-4, NAN, INF],
            "lr_in_momentum": ["yes"],
            "momentum_correction": [None],
            "exclude_from_weight_decay": [("bn",), 3, ("norm", 1)],
            "fused": ["yes"],
        },
    ),
    *_kwarg_rows(
        "LARS",
        LARS,
        {
            "momentum": [1.0, INF],
            "weight_decay": [-1.0, NAN],
            "trust_coefficient": [0.0, -1.0, NAN],
            "eps": [-1e-9, INF],
            "denominator": ["lamb", None],
            "clip": ["yes"],
            "exclude_from_adaptation": [("biases",), 0],
            "exclude_from_weight_decay": [["weights"]],
            "lr_in_momentum": ["no"],
            "zero_norm_ratio": [0.5, True],
            "nesterov": ["yes", None],
            "fused": [1],
        },
    ),
    *_kwarg_rows(
        "AdamW",
        AdamW,
        {
            "b1": [1.0, -0.1, NAN],
            "b2": [1.5, "0.999"],
            "eps": [-1e-8, INF],
            "weight_decay": [-0.01, NAN],
            "exclude_from_weight_decay": [("norms",), 1],
            "fused": [None],
        },
    ),
    *_kwarg_rows(
        "LAMB",
        LAMB,
        {
            "b1": [INF],
            "b2": [1.0],
            "eps": [NAN],
            "weight_decay": [-1],
            "exclude_from_adaptation": [("layer",), "layers"],
            "exclude_from_weight_decay": [[None]],
            "zero_norm_ratio": [0.5],
            "fused": ["no"],
        },
    ),
    # -- the transforms optimizers are chains of ---------------------------------------------
    Row("Stage", "skip", lambda c: Stage(skip=("bn",))),
    Row("ScaleByLearningRate", "skip", lambda c: ScaleByLearningRate(skip=3)),
    *_kwarg_rows(
        "AddDecayedWeights",
        lambda **k: AddDecayedWeights(**({"weight_decay": 0.1} | k)),
        {"weight_decay": [-0.1, NAN, "0"], "skip": [("weights",)]},
    ),
    *_kwarg_rows(
        "Trace",
        lambda **k: Trace(**({"momentum": 0.9} | k)),
        {"momentum": [1.0, NAN], "nesterov": ["no"], "correction": [1]},
    ),
    *_kwarg_rows(
        "ScaleByTrustRatio",
        lambda **k: ScaleByTrustRatio(**({"trust_coefficient": 0.001} | k)),
        {
            "trust_coefficient": [0, NAN],
            "denominator": ["lamb"],
            "eps": [-1.0],
            "clip": ["no"],
            "zero_norm_ratio": [0.25],
            "weight_decay": [INF],
            "no_decay_on": [("bn",)],
            "skip": ["bn"],
        },
    ),
    *_kwarg_rows("ScaleByAdam", ScaleByAdam, {"b1": [1.0], "b2": [-0.5], "eps": [NAN]}),
    Row("Chain", "stages", lambda c: Chain([Trace(0.9), "sgd"])),
    Row("Chain", "stages", lambda c: Chain(Trace(0.9))),
    Row("Chain", "fused", lambda c: Chain([Trace(0.9)], fused="no")),
    *[
        Row(f"{name}.step", param, lambda c, o=make, p=param, v=value: _step(o(), **{p: v}))
        for name, make in (
            ("SGD", lambda: SGD(momentum=0.9, weight_decay=0.1)),
            ("LARS", LARS),
            ("AdamW", lambda: AdamW(weight_decay=0.1)),
            ("LAMB", LAMB),
        )
        for param, values in {
            "lr": [NAN, INF, -0.1, "0.1", True],  # SGD(lr=nan) in the issue: lr goes to step
            "params": [[np.ones(3)], None],
            "grads": [None, "g"],
            "kinds": [["weight"], "weight"],
            "active": ["yes", [1, 0]],
        }.items()
        for value in values
    ],
    # -- schedules ---------------------------------------------------------------------------
    *_kwarg_rows("constant", schedules.constant, {"lr": [NAN, -0.1, "0.1", True, np.ones((2, 2))]}),
    *_kwarg_rows(
        "step_decay",
        lambda **k: schedules.step_decay(**({"lr": 0.1, "milestones": (5, 8)} | k)),
        {
            "lr": [INF],
            "milestones": [(5, 3), (-1,), 5, (2.5,), "5"],
            "factor": [0, NAN, [0.1, -0.1]],
        },
    ),
    *_kwarg_rows(
        "poly",
        lambda **k: schedules.poly(**({"lr": 0.1, "total_steps": 10} | k)),
        {
            "lr": [[0.1, NAN]],
            "total_steps": [0, 10.0, "10"],
            "power": [0, NAN, [1.0, 2.0]],
            "end": [-1.0, NAN],
        },
    ),
    *_kwarg_rows(
        "gradual_warmup_scheduler",
        lambda **k: gradual_warmup_scheduler(
            **({"base_lr": 0.1, "multiplier": 2.0, "total_epoch": 5} | k)
        ),
        {
            "base_lr": [-1.0, NAN],
            "multiplier": [0.5, "2"],
            "total_epoch": [0, 2.5],
            "after": ["cosine", 3],
            "steps_per_epoch": [0],
            "stepped_per": ["batch"],
        },
    ),
    *_kwarg_rows(
        "cosine",
        lambda **k: schedules.cosine(**({"lr": 0.1, "total_steps": 10} | k)),
        {"lr": [-1], "total_steps": [-3, 2.5], "end": [INF, "0"]},
    ),
    *_kwarg_rows(
        "warmup",
        lambda **k: schedules.warmup(
            **({"schedule": schedules.constant(0.1), "kind": "gradual", "steps": 5} | k)
        ),
        {
            "schedule": [0.1, None],
            "kind": ["linear", None],
            "steps": [-1, 2.5, "5"],
            "start": [-1.0, NAN, "0"],
        },
    ),
    *_kwarg_rows(
        "warmup",
        lambda **k: schedules.warmup(
            **(
                {"schedule": schedules.constant(0.1), "kind": "staircase", "steps": 6}
                | {"steps_per_epoch": 3}
                | k
            )
        ),
        {"steps_per_epoch": [0, None, 2.5]},
    ),
    *_kwarg_rows(
        "warmup_steps",
        lambda **k: schedules.warmup_steps(**({"epochs": 1.0, "steps_per_epoch": 10} | k)),
        {"epochs": [-1, NAN, "1"], "steps_per_epoch": [0, 2.5]},
    ),
    *_kwarg_rows(
        "scale_lr",
        lambda **k: schedules.scale_lr(
            **({"base_lr": 0.1, "batch": 512, "base_batch": 256, "rule": "linear"} | k)
        ),
        {
            "base_lr": [NAN, -0.1],
            "batch": [0, 512.0],
            "base_batch": [True, -256],
            "rule": ["cubic", None],
        },
    ),
    *_kwarg_rows(
        "legw_scaling",
        lambda **k: schedules.legw_scaling(
            **({"base_lr": 0.1, "base_warmup_epochs": 1, "k": 4} | k)
        ),
        {"base_lr": [-1], "base_warmup_epochs": [NAN, -1], "k": [0, INF]},
    ),
    *_kwarg_rows(
        "legw",
        lambda **k: schedules.legw(
            **({"base_lr": 0.1, "base_warmup_epochs": 1, "k": 4, "steps_per_epoch": 10} | k)
        ),
        {
            "base_lr": [NAN],
            "base_warmup_epochs": [-0.5],
            "k": [-2],
            "steps_per_epoch": [0, 10.5],
            "decay": ["constant", None],
            "start": [NAN, -1],
        },
    ),
    *_kwarg_rows(
        "linear",
        lambda **k: schedules.linear(**({"start": 0.1, "end": 0.8, "total_steps": 10} | k)),
        {"start": [NAN, -0.1], "end": [[0.8, INF]], "total_steps": [0, 5.0]},
    ),
    *_kwarg_rows(
        "join",
        lambda **k: schedules.join(
            **({"schedules": [schedules.constant(0.1)] * 2, "boundaries": [5]} | k)
        ),
        {
            "schedules": [[], [schedules.constant(0.1), 0.2], schedules.constant(0.1)],
            "boundaries": [[], [0], [5, 5], 5, [2.5]],
        },
    ),
    Row("schedule", "step", lambda c: schedules.constant(0.1)(-1)),
    Row("schedule", "step", lambda c: schedules.poly(0.1, 10)(np.array([0, NAN]))),
    Row("schedule", "step", lambda c: schedules.step_decay(0.1, [5])("3")),
    Row("schedule", "step", lambda c: schedules.cosine(0.1, 10)(True)),
    # -- instruments and hooks ---------------------------------------------------------------
    *_kwarg_rows(
        "NormRatios",
        NormRatios,
        {
            "steps": [5, (-1,), (0.5,), "0"],
            "every": [0, 2.5, "2"],
            "gradient_floor": [-1.0, NAN, INF],
        },
    ),
    *_kwarg_rows("UpdateSizes", UpdateSizes, {"steps": [[1.5], None], "every": [-1]}),
    *_kwarg_rows(
        "TrustRatios",
        lambda **k: TrustRatios(**({"optimizer": LARS()} | k)),
        {"optimizer": [SGD(), "lars"], "steps": [(-1,)], "every": [0]},
    ),
    *_kwarg_rows(
        "NoiseScale",
        lambda **k: NoiseScale(**({"chunks": 4} | k)),
        {
            "chunks": [1, 4.0, True],
            "every": [0, "1"],
            "steps": [(-1,), 3],
            "model": ["mlp"],
        },
    ),
    Row("PreciseBN", "sampler", lambda c: PreciseBN(None, 2)),
    Row("PreciseBN", "sampler", lambda c: PreciseBN([np.zeros(3)], 2)),
    Row("PreciseBN", "batches", lambda c: PreciseBN(_FixedBatches(), 0)),
    Row("PreciseBN", "batches", lambda c: PreciseBN(_FixedBatches(), 2.0)),
    Row("LossTrace", "steps", lambda c: LossTrace(0, 2)),
    Row("LossTrace", "steps", lambda c: LossTrace(10.0, 2)),
    Row("LossTrace", "ensemble", lambda c: LossTrace(10, 0)),
    Row("LossTrace", "ensemble", lambda c: LossTrace(10, 1.5)),
    Row("AugmentedSampler", "sampler", lambda c: AugmentedSampler(None, 2, [1.0], [0], "digits")),
    Row("AugmentedSampler", "copies", lambda c: _augmented(copies=0)),
    Row("AugmentedSampler", "copies", lambda c: _augmented(copies=2.5)),
    Row("AugmentedSampler", "strengths", lambda c: _augmented(strengths=[-1.0])),
    Row("AugmentedSampler", "strengths", lambda c: _augmented(strengths=[1.0, 1.0])),
    Row("AugmentedSampler", "seeds", lambda c: _augmented(seeds=[-1])),
    Row("AugmentedSampler", "kind", lambda c: _augmented(kind="cifar10")),
    Row("AutoWarmup", "lr_min", lambda c: _auto_warmup(lr_min=0.0)),
    Row("AutoWarmup", "lr_min", lambda c: _auto_warmup(lr_min=[1e-3, 1e-3, 1e-3])),
    Row("AutoWarmup", "lr_max", lambda c: _auto_warmup(lr_max=1e-4)),
    Row("AutoWarmup", "lr_max", lambda c: _auto_warmup(lr_max=NAN)),
    Row("AutoWarmup", "warmup_steps", lambda c: _auto_warmup(warmup_steps=0)),
    Row("AutoWarmup", "warmup_steps", lambda c: _auto_warmup(warmup_steps=200)),
    Row("AutoWarmup", "steps", lambda c: _auto_warmup(steps=0)),
    Row("AutoWarmup", "every", lambda c: _auto_warmup(every=0)),
    Row("AutoWarmup", "every", lambda c: _auto_warmup(every=30)),  # fewer than 3 loss reads
    Row("AutoWarmup", "members", lambda c: _auto_warmup(members=0)),
    Row("AutoWarmup", "dtype", lambda c: _auto_warmup(dtype="int32")),
    # -- runs: sweeps, the result cache, the adaptive-batch runs -----------------------------
    Row("sweep", "configs", lambda c: sweeps.sweep(RunConfig(), progress=False)),
    Row("sweep", "configs", lambda c: sweeps.sweep([RunConfig(), {"lr": 0.1}], progress=False)),
    Row("sweep", "configs", lambda c: sweeps.sweep("digits", progress=False)),
    Row("sweep", "executor", lambda c: sweeps.sweep([RunConfig()], executor=4, progress=False)),
    Row("sweep", "cache", lambda c: sweeps.sweep([RunConfig()], cache=str(c.tmp / "cache"))),
    Row("sweep", "progress", lambda c: sweeps.sweep([RunConfig()], progress="no")),
    Row("sweep", "max_ensemble", lambda c: sweeps.sweep([RunConfig()], max_ensemble=0)),
    Row("sweep", "max_ensemble", lambda c: sweeps.sweep([RunConfig()], max_ensemble=2.5)),
    Row("results_frame", "results", lambda c: sweeps.results_frame([])),
    Row("results_frame", "results", lambda c: sweeps.results_frame([RunConfig()])),
    Row("results_frame", "results", lambda c: sweeps.results_frame(_result())),
    Row("results_frame", "metric_table", lambda c: sweeps.results_frame([_result()], "norms")),
    Row("results_frame", "metric_table", lambda c: sweeps.results_frame([_result()], 3)),
    Row("ResultCache", "root", lambda c: ResultCache(c.file)),
    Row("ResultCache", "root", lambda c: ResultCache(c.file / "runs")),
    Row("ResultCache", "root", lambda c: ResultCache(3)),
    Row("ResultCache", "root", lambda c: ResultCache("")),
    Row("ResultCache.prune", "older_than_days", lambda c: _prune(c, older_than_days=-1)),
    Row("ResultCache.prune", "older_than_days", lambda c: _prune(c, older_than_days=NAN)),
    Row("ResultCache.prune", "other_versions", lambda c: _prune(c, other_versions="yes")),
    Row("cached_adaptive", "config", lambda c: cached_adaptive(RunConfig(), c.tmp / "a")),
    Row("cached_adaptive", "root", lambda c: cached_adaptive(_adaptive(), c.file)),
    Row("cached_adaptive", "root", lambda c: cached_adaptive(_adaptive(), 3)),
    *_kwarg_rows(
        "AdaptiveConfig",
        _adaptive,
        {
            "data": ["imagenet"],
            "data_size": [0, 20480.0],
            "model": ["vgg"],
            "r": [0.0, NAN],
            "target": [NAN, -1.0],
            "eps_max": [-0.1, INF],
            "b_star": [-1.0, "1"],
            "lr_fallback": [NAN, -0.1],
            "seed": [-1, 0.5],
            "phase": [0],
            "every": [0],
            "chunks": [1, 3],
            "b_min": [0],
            "b_max": [8],
            "max_phases": [0],
        },
    ),
    # -- the notebooks' parameters -----------------------------------------------------------
    Row("setup", "profile", lambda c: _setup(c, profile="huge")),
    Row("setup", "profile", lambda c: _setup(c, profile=None)),
    Row("setup", "backend_name", lambda c: _setup(c, backend_name="tpu"), named="backend"),
    Row("setup", "seed", lambda c: _setup(c, seed="zero")),
    Row("setup", "seed", lambda c: _setup(c, seed=-1)),
    Row("setup", "seed", lambda c: _setup(c, seed=True)),
    Row("setup", "out_dir", lambda c: _setup(c, out_dir=3)),
    Row("setup", "out_dir", lambda c: _setup(c, out_dir=c.file)),
    Row("setup", "out_dir", lambda c: _setup(c, out_dir=c.file / "figures")),
    Row("setup", "sizes", lambda c: _setup(c, sizes={"smoke": {}})),
    Row("set_backend", "name", lambda c: backend.set_backend("tpu"), named="backend"),
    # -- the environment variables -----------------------------------------------------------
    Row("environment", "LBSIM_BACKEND", lambda c: _import_backend(c, "tpu")),
    Row("environment", "LBSIM_BACKEND", lambda c: _import_backend(c, "CuPy")),
    Row(
        "environment",
        "LBSIM_CACHE",
        lambda c: _with_env(c, "LBSIM_CACHE", c.file, lambda: ResultCache()),
    ),
    Row(
        "environment",
        "LBSIM_CACHE",
        lambda c: _with_env(c, "LBSIM_CACHE", c.file / "sub", cache_dir),
    ),
    Row(
        "environment",
        "LBSIM_CACHE",
        lambda c: _with_env(c, "LBSIM_CACHE", c.file, lambda: cached_adaptive(_adaptive())),
    ),
    Row(
        "environment",
        "LBSIM_CACHE",
        lambda c: _with_env(c, "LBSIM_CACHE", c.file, lambda: sweeps.sweep([RunConfig()])),
    ),
    Row(
        "environment",
        "LBSIM_DATA",
        lambda c: _with_env(c, "LBSIM_DATA", c.file, lambda: data_dir("mnist")),
    ),
]


def _augmented(**bad: Any) -> AugmentedSampler:
    args = dict(sampler=_FixedBatches(), copies=2, strengths=[1.0], seeds=[0], kind="digits")
    return AugmentedSampler(**(args | bad))


def _auto_warmup(**bad: Any) -> AutoWarmup:
    args = dict(lr_min=1e-3, lr_max=1.0, warmup_steps=60, steps=100, every=10, members=2)
    return AutoWarmup(**(args | bad))


class _FixedBatches:
    steps_per_epoch = 1

    def next(self) -> tuple[np.ndarray, None]:
        return np.zeros((1, 4, 3)), None


# Every way in, by the name the rows use, with the callable whose signature lists its
# parameters. ``build_model``'s keywords are those of the builders it forwards to.
WAYS: dict[str, Callable[..., Any]] = {
    "Layer": Layer,
    "ReLU": ReLU,
    "Flatten": Flatten,
    "GlobalAvgPool": GlobalAvgPool,
    "Dropout": Dropout,
    "Linear": Linear,
    "Conv2d": Conv2d,
    "BatchNorm": BatchNorm,
    "LocalResponseNorm": LocalResponseNorm,
    "MaxPool2d": MaxPool2d,
    "AvgPool2d": AvgPool2d,
    "BasicBlock": BasicBlock,
    "Sequential": Sequential,
    "Layer.init": Layer.init,
    "Layer.set_workers": Layer.set_workers,
    "Layer.set_grad_chunks": Layer.set_grad_chunks,
    "Layer.train": Layer.train,
    "scaled_gradient": scaled_gradient,
    "worker_sum_loss": worker_sum_loss,
    "mlp": mlp,
    "alexnet_mini": alexnet_mini,
    "cnn_mini": cnn_mini,
    "resnet_mini": resnet_mini,
    "build_model": build_model,
    "SGD": SGD,
    "LARS": LARS,
    "SGD.step": SGD.step,
    "LARS.step": LARS.step,
    "AdamW": AdamW,
    "LAMB": LAMB,
    "AdamW.step": AdamW.step,
    "LAMB.step": LAMB.step,
    "Stage": Stage,
    "AddDecayedWeights": AddDecayedWeights,
    "ScaleByLearningRate": ScaleByLearningRate,
    "Trace": Trace,
    "ScaleByTrustRatio": ScaleByTrustRatio,
    "ScaleByAdam": ScaleByAdam,
    "Chain": Chain,
    "constant": schedules.constant,
    "step_decay": schedules.step_decay,
    "poly": schedules.poly,
    "cosine": schedules.cosine,
    "gradual_warmup_scheduler": gradual_warmup_scheduler,
    "linear": schedules.linear,
    "join": schedules.join,
    "warmup": schedules.warmup,
    "warmup_steps": schedules.warmup_steps,
    "scale_lr": schedules.scale_lr,
    "legw_scaling": schedules.legw_scaling,
    "legw": schedules.legw,
    "schedule": schedules.constant(0.1),
    "NormRatios": NormRatios,
    "UpdateSizes": UpdateSizes,
    "TrustRatios": TrustRatios,
    "NoiseScale": NoiseScale,
    "PreciseBN": PreciseBN,
    "LossTrace": LossTrace,
    "AugmentedSampler": AugmentedSampler,
    "AutoWarmup": AutoWarmup,
    "sweep": sweeps.sweep,
    "results_frame": sweeps.results_frame,
    "ResultCache": ResultCache,
    "ResultCache.prune": ResultCache.prune,
    "cached_adaptive": cached_adaptive,
    "AdaptiveConfig": AdaptiveConfig,
    "setup": notebook.setup,
    "set_backend": backend.set_backend,
}
ENVIRONMENT = {"LBSIM_BACKEND", "LBSIM_CACHE", "LBSIM_DATA"}
BUILDERS = (mlp, alexnet_mini, cnn_mini, resnet_mini)


def parameters(way: str) -> set[str]:
    """The parameters of a way in, from its signature (``self`` and ``**kwargs`` aside)."""
    if way == "environment":
        return set(ENVIRONMENT)
    target = WAYS[way]
    if way == "AdaptiveConfig":
        return {f.name for f in fields(AdaptiveConfig)}
    plain = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    names = {
        p.name
        for p in inspect.signature(target).parameters.values()
        if p.kind not in plain and p.name != "self"
    }
    if way == "build_model":  # its keywords go on to the builders, plus mlp's ``hidden``
        forwarded = {p for b in BUILDERS for p in inspect.signature(b).parameters}
        names |= (forwarded - {"in_shape", "classes", "sizes"}) | {"hidden", "norm"}
    return names


def test_every_parameter_has_a_row():
    assert {row.way for row in ROWS} == set(WAYS) | {"environment"}
    missing = {
        way: sorted(parameters(way) - {row.param for row in ROWS if row.way == way})
        for way in [*WAYS, "environment"]
    }
    assert not {way: names for way, names in missing.items() if names}
    unknown = [(row.way, row.param) for row in ROWS if row.param not in parameters(row.way)]
    assert not unknown


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ctx:
    """A scratch folder holding one file, a private result cache, and tripwires on every
    computation a bad input could start."""

    def tripwire(*args: Any, **kwargs: Any) -> Any:
        raise Computed("a computation started")

    (tmp_path / "a_file.txt").write_text("not a folder")
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LBSIM_DATA", raising=False)
    monkeypatch.setattr(sweeps, "run_ensemble", tripwire)
    monkeypatch.setattr(adaptive, "run_adaptive", tripwire)
    monkeypatch.setattr(notebook, "set_style", tripwire)
    return Ctx(tmp_path, monkeypatch)


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def names(message: str, parameter: str) -> bool:
    """Whether ``message`` names ``parameter`` as a word (``lr`` in "lr[1] must", not "clr")."""
    return re.search(rf"(?<![\w.]){re.escape(parameter)}(?!\w)", message) is not None


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.way}-{r.param}-{i}" for i, r in enumerate(ROWS)])
def test_bad_input_is_refused_early_naming_the_parameter(row: Row, ctx: Ctx):
    before, xp = _files(ctx.tmp), backend.get_backend()
    with pytest.raises(ParameterError) as caught:
        row.call(ctx)
    error = caught.value
    assert error.parameter == row.expected or error.parameter.startswith(row.expected + "[")
    assert names(str(error), row.expected), str(error)
    assert _files(ctx.tmp) == before
    assert backend.get_backend() is xp


@pytest.mark.parametrize("seq", [tuple, list, np.array], ids=["tuple", "list", "array"])
def test_sequences_are_accepted_as_tuples_lists_and_arrays(seq):
    conv = Conv2d(
        2, 3, seq([3, 3]), stride=seq([1, 2]), padding=seq([1, 0]), input_size=seq([8, 8])
    )
    assert (conv.kernel_arg, conv.stride_arg, conv.padding_arg) == ((3, 3), (1, 2), (1, 0))
    assert conv.input_size == (8, 8) and all(type(v) is int for v in conv.kernel_arg)
    pool = MaxPool2d(seq([2, 2]), stride=seq([1, 1]))
    assert (pool.kernel_arg, pool.stride_arg) == ((2, 2), (1, 1))
    assert AvgPool2d(seq([2, 1])).kernel_arg == (2, 1)
    assert BasicBlock(2, 2, input_size=seq([8, 8])).input_size == (8, 8)
    assert len(Sequential(seq([Linear(2, 2, name="a"), ReLU()])).layers) == 2
    assert mlp(seq([64, 10])).init(0).num_params() == 650
    for name in ("mlp", "cnn_bn", "alexnet_bn", "resnet"):
        assert build_model(name, seq([1, 8, 8]), 10).init(0).num_params() > 0
    assert (
        build_model("mlp", DIGITS, 10, hidden=seq([32])).init(0).num_params() == 64 * 32 + 32 + 330
    )
    assert alexnet_mini(seq([1, 8, 8])).init(0).num_params() == 83786
    assert Linear(2, 2).init(seq([0, 1])).ensemble == 2
    kinds = seq(["norm", "bias"])
    assert SGD(exclude_from_weight_decay=kinds).find(AddDecayedWeights).skip == {"norm", "bias"}
    assert LARS(exclude_from_adaptation=kinds).trust.skip == {"norm", "bias"}
    joined = schedules.join(seq([schedules.constant(0.1), schedules.constant(0.2)]), seq([5]))
    np.testing.assert_allclose(joined(np.arange(4, 7)), [0.1, 0.2, 0.2])
    for instrument in (
        NormRatios(seq([0, 5])),
        UpdateSizes(seq([0, 5])),
        NoiseScale(2, None, seq([0, 5])),
    ):
        assert instrument.steps == {0, 5}
    decay = schedules.step_decay(seq([0.1, 0.2]), seq([5, 8]), factor=seq([0.1, 0.5]))
    np.testing.assert_allclose(decay(9), [0.001, 0.05])
    params = _params()
    SGD().step(params, _params(), 0.5, active=seq([True, False]))
    np.testing.assert_array_equal(params["fc.w"][1], 1.0)  # the frozen member did not move
    np.testing.assert_array_equal(params["fc.w"][0], 0.5)
    assert len(sweeps.results_frame(seq([_result(), _result()]))) == 2
