"""The CuPy path equals the NumPy path (docs/DESIGN.md, "Tests"): layers, losses, optimizers,
instruments, the sampler and whole training runs, in float64 (and one run in float32).

Each check builds the same thing twice, once per backend, from the same host numbers
(``init`` and every seed draw on the host), and compares the CuPy results, which must be CuPy
arrays, with the NumPy ones. Dropout masks come from the device generator, so the equality
tests run with dropout off (p = 0 or eval mode). Marked ``gpu``: skipped without CuPy and a GPU.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from largebatch_sim import backend
from largebatch_sim.data import BatchSampler
from largebatch_sim.instruments import NormRatios, UpdateSizes, tensor_norms
from largebatch_sim.nn.activations import Dropout, Flatten, ReLU
from largebatch_sim.nn.base import Layer, Sequential, iter_layers
from largebatch_sim.nn.batchnorm import BatchNorm
from largebatch_sim.nn.conv import Conv2d
from largebatch_sim.nn.linear import Linear
from largebatch_sim.nn.losses import accuracy, mse, softmax_cross_entropy
from largebatch_sim.nn.lrn import LocalResponseNorm
from largebatch_sim.nn.models import build_model
from largebatch_sim.nn.pool import AvgPool2d, GlobalAvgPool, MaxPool2d
from largebatch_sim.nn.residual import BasicBlock
from largebatch_sim.optim import LAMB, LARS, SGD, AdamW
from largebatch_sim.runs import RunConfig, run_ensemble

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA GPU"),
]

RTOL, ATOL = 1e-10, 1e-12  # float64, one forward/backward or a few optimizer steps
SEEDS = (1, 2, 3)
E = len(SEEDS)


# ---------------------------------------------------------------------------------------------
# helpers


def run_both(on_backend: Callable, fn: Callable[[], Any]) -> tuple[Any, Any]:
    """(fn() on NumPy, fn() on CuPy): ``fn`` builds everything it needs on the current backend."""
    with on_backend("numpy"):
        cpu = fn()
    with on_backend("cupy"):
        assert backend.backend_name() == "cupy"
        gpu = fn()
    return cpu, gpu


def assert_same(gpu: Any, cpu: Any, rtol: float = RTOL, atol: float = ATOL, path: str = "") -> None:
    """Walk dicts, lists and tuples; every CuPy leaf must match its NumPy twin.

    A leaf the NumPy run returned as an array must be a CuPy array in the CuPy run (the work
    happened on the device), of the same shape and dtype."""
    if isinstance(cpu, dict):
        assert isinstance(gpu, dict) and gpu.keys() == cpu.keys(), f"{path}: keys differ"
        for key in cpu:
            assert_same(gpu[key], cpu[key], rtol, atol, f"{path}[{key!r}]")
    elif isinstance(cpu, list | tuple):
        assert isinstance(gpu, list | tuple) and len(gpu) == len(cpu), f"{path}: lengths differ"
        for i, (g, c) in enumerate(zip(gpu, cpu, strict=True)):
            assert_same(g, c, rtol, atol, f"{path}[{i}]")
    elif isinstance(cpu, pd.DataFrame):
        pd.testing.assert_frame_equal(gpu, cpu, check_exact=False, rtol=rtol, atol=atol)
    elif cpu is None:
        assert gpu is None, path
    elif isinstance(cpu, np.ndarray | np.generic):
        cupy = sys.modules["cupy"]
        assert isinstance(gpu, cupy.ndarray), f"{path}: expected a CuPy array, got {type(gpu)}"
        assert cupy.get_array_module(gpu) is cupy
        host = cupy.asnumpy(gpu)
        assert host.shape == np.shape(cpu), f"{path}: shape {host.shape} != {np.shape(cpu)}"
        assert host.dtype == cpu.dtype, f"{path}: dtype {host.dtype} != {cpu.dtype}"
        np.testing.assert_allclose(host, cpu, rtol=rtol, atol=atol, err_msg=path)
    else:
        assert gpu == cpu, path


def assert_same_norms(gpu: pd.DataFrame, cpu: pd.DataFrame, rtol: float, atol: float) -> None:
    """NormRatios tables: the same rows, every norm close, and the ratios compared only where
    defined. A ratio is undefined (NaN) where the gradient is round-off, whose size differs
    between backends; far below the instrument's floor, it must be undefined on both."""
    gpu, cpu = gpu.reset_index(drop=True), cpu.reset_index(drop=True)
    pd.testing.assert_frame_equal(gpu.drop(columns="value"), cpu.drop(columns="value"))
    undefined = cpu.value.isna()
    assert cpu.value[cpu.metric != "ratio"].notna().all(), "a norm is NaN"
    mismatch = cpu[undefined != gpu.value.isna()]
    assert mismatch.empty, f"ratio defined on one backend only:\n{mismatch}"
    assert not undefined.all(), "no defined ratio to compare"
    np.testing.assert_allclose(gpu.value[~undefined], cpu.value[~undefined], rtol=rtol, atol=atol)


def normal(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return scale * np.random.default_rng(seed).normal(size=shape)


def buffers(layer: Layer) -> dict[str, Any]:
    """Running statistics of every sublayer, by full name."""
    return {
        f"{l.name}.{k}": v for l in iter_layers(layer) for k, v in getattr(l, "buffers", {}).items()
    }


# ---------------------------------------------------------------------------------------------
# layers


def layer_pass(make: Callable[[], Layer], x: np.ndarray, mode: str, workers: int | None) -> Any:
    """Build, (for eval: one training forward to fill running statistics), forward, backward."""
    layer = make().init(SEEDS, dtype=np.float64)
    if workers is not None:
        layer.set_workers(workers)
    xd = backend.asarray(x)
    if mode == "eval":
        layer.train()
        layer.forward(xd)
        layer.eval()
    else:
        layer.train()
    y = layer.forward(xd)
    dout = backend.asarray(normal(tuple(y.shape), seed=99))
    dx = layer.backward(dout)
    return {
        "y": y,
        "dx": dx,
        "params": layer.named_params(),
        "grads": layer.named_grads(),
        "buffers": buffers(layer),
    }


def case(make: Callable[[], Layer], shape: tuple, mode: str = "train", workers=None, id=None):
    return pytest.param(make, shape, mode, workers, id=id)


LAYERS = [
    case(lambda: Linear(6, 4, bias_init=0.1), (E, 5, 6), id="linear"),
    case(lambda: Linear(6, 4, bias=False), (E, 5, 6), id="linear-nobias"),
    case(lambda: Linear(6, 4, bias_init=0.1), (1, 5, 6), id="linear-shared-input"),
    case(lambda: Conv2d(2, 3, 3, stride=2, padding=1, bias_init=0.1), (E, 4, 2, 7, 7), id="conv"),
    case(lambda: Conv2d(2, 3, (3, 2), stride=(1, 2)), (E, 4, 2, 6, 7), id="conv-pairs-nopad"),
    case(lambda: Conv2d(2, 3, 3, padding=1, bias_init=0.1), (1, 4, 2, 6, 6), id="conv-shared"),
    case(lambda: Conv2d(1, 4, 5, padding=2, input_size=(1, 40)), (E, 3, 1, 1, 40), id="conv-1d"),
    case(
        lambda: Conv2d(2, 3, 5, stride=2, padding=2, bias=False, input_size=(1, 40)),
        (E, 3, 2, 1, 40),
        id="conv-1d-stride",
    ),
    case(lambda: MaxPool2d(2), (E, 3, 2, 7, 7), id="maxpool"),
    case(lambda: MaxPool2d(3, stride=2), (E, 3, 2, 7, 7), id="maxpool-overlapping"),
    case(lambda: MaxPool2d(2), (E, 3, 2, 1, 40), id="maxpool-1d"),
    case(lambda: AvgPool2d(2), (E, 3, 2, 7, 7), id="avgpool"),
    case(lambda: AvgPool2d(2), (E, 3, 2, 1, 40), id="avgpool-1d"),
    case(GlobalAvgPool, (E, 3, 4, 5, 5), id="global-avgpool"),
    case(ReLU, (E, 4, 7), id="relu"),
    case(ReLU, (E, 3, 2, 4, 4), id="relu-images"),
    case(Flatten, (E, 3, 2, 4, 4), id="flatten"),
    case(lambda: Dropout(0.0), (E, 4, 7), id="dropout-p0-train"),
    case(lambda: Dropout(0.5), (E, 4, 7), mode="eval", id="dropout-eval"),
    case(lambda: BatchNorm(4, workers=2), (E, 8, 4, 3, 3), id="bn-train"),
    case(lambda: BatchNorm(5, workers=2), (E, 8, 5), id="bn-train-features"),
    case(lambda: BatchNorm(4, workers=2), (1, 8, 4, 3, 3), id="bn-train-shared-input"),
    case(lambda: BatchNorm(4, workers=2), (E, 8, 4, 3, 3), mode="eval", id="bn-eval"),
    case(lambda: BatchNorm(5, workers=2), (E, 8, 5), mode="eval", id="bn-eval-features"),
    case(LocalResponseNorm, (E, 3, 7, 4, 4), id="lrn"),
    case(lambda: LocalResponseNorm(4, 0.5, 0.75, 1.0), (E, 3, 7, 4, 4), id="lrn-strong-even"),
    case(lambda: LocalResponseNorm(3, 0.5, 0.75, 1.0), (E, 3, 5, 1, 40), id="lrn-1d"),
    case(lambda: BasicBlock(3, 5, stride=2), (E, 4, 3, 6, 6), workers=2, id="block-projection"),
    case(lambda: BasicBlock(4, 4, zero_init_last_bn=True), (E, 4, 4, 5, 5), id="block-identity"),
    case(lambda: BasicBlock(4, 4), (1, 4, 4, 5, 5), workers=2, id="block-shared-input"),
    case(
        lambda: BasicBlock(2, 4, stride=2, input_size=(1, 40)),
        (E, 4, 2, 1, 40),
        workers=2,
        id="block-1d",
    ),
    case(lambda: BasicBlock(3, 5, 2), (E, 4, 3, 6, 6), mode="eval", workers=2, id="block-eval"),
]


@pytest.mark.parametrize(("make", "shape", "mode", "workers"), LAYERS)
def test_layer_forward_and_backward_match(on_backend, make, shape, mode, workers):
    x = normal(shape, seed=7)
    cpu, gpu = run_both(on_backend, lambda: layer_pass(make, x, mode, workers))
    assert_same(gpu, cpu)


MODEL_CASES = [
    ("mlp", (1, 8, 8), {}),
    ("alexnet_lrn", (1, 8, 8), {"dropout": 0.0}),
    ("alexnet_bn", (1, 8, 8), {"dropout": 0.0}),
    ("alexnet_bn", (1, 1, 40), {"dropout": 0.0}),
    ("resnet", (1, 8, 8), {}),
    ("resnet", (1, 1, 40), {"zero_init_last_bn": False}),
]


@pytest.mark.parametrize(("name", "in_shape", "kwargs"), MODEL_CASES)
def test_model_forward_and_backward_match(on_backend, name, in_shape, kwargs):
    x = normal((E, 8, *in_shape), seed=3)
    labels = np.random.default_rng(4).integers(0, 10, size=(E, 8))

    def fn() -> Any:
        model = build_model(name, in_shape, 10, **kwargs).init(SEEDS, dtype=np.float64)
        model.set_workers(2)
        logits = model.forward(backend.asarray(x))
        loss, dlogits = softmax_cross_entropy(logits, backend.asarray(labels))
        dx = model.backward(dlogits)
        return logits, loss, dx, model.named_grads(), buffers(model)

    cpu, gpu = run_both(on_backend, fn)
    assert_same(gpu, cpu)


def test_dropout_on_the_device_is_inverted_dropout(on_backend):
    """Masks differ between backends, so check the CuPy layer against its own mask."""
    cupy = pytest.importorskip("cupy")
    with on_backend("cupy"):
        cupy.random.seed(0)
        layer = Dropout(0.25).init(SEEDS, dtype=np.float64)
        x = cupy.asarray(normal((E, 64, 16), seed=1))
        y = layer.forward(x)
        assert isinstance(y, cupy.ndarray) and isinstance(layer.mask, cupy.ndarray)
        mask = cupy.asnumpy(layer.mask)
        np.testing.assert_allclose(np.unique(mask), [0.0, 1.0 / 0.75])
        assert 0.15 < (mask == 0).mean() < 0.35
        np.testing.assert_allclose(cupy.asnumpy(y), cupy.asnumpy(x) * mask, rtol=1e-15)
        dout = normal((E, 64, 16), seed=2)
        dx = layer.backward(cupy.asarray(dout))
        np.testing.assert_allclose(cupy.asnumpy(dx), dout * mask, rtol=1e-15)
        layer.eval()
        assert layer.forward(x) is x


# ---------------------------------------------------------------------------------------------
# losses and accuracy


@pytest.mark.parametrize("shared", [False, True], ids=["per-member-labels", "shared-labels"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_losses_and_accuracy_match(on_backend, shared, dtype):
    batch, classes = 9, 5
    logits = normal((E, batch, classes), seed=1, scale=3.0).astype(dtype)
    labels = np.random.default_rng(2).integers(0, classes, size=(1 if shared else E, batch))
    target = normal((1 if shared else E, batch, classes), seed=3).astype(dtype)

    def fn() -> Any:
        z = backend.asarray(logits)
        ce, dce = softmax_cross_entropy(z, backend.asarray(labels))
        sq, dsq = mse(z, backend.asarray(target))
        acc = accuracy(z, backend.asarray(labels))
        return {"ce": ce, "dce": dce, "mse": sq, "dmse": dsq, "acc": acc}

    cpu, gpu = run_both(on_backend, fn)
    tol = (RTOL, ATOL) if dtype == np.float64 else (1e-5, 1e-6)
    assert_same(gpu, cpu, *tol)


# ---------------------------------------------------------------------------------------------
# optimizers

KIND_OF = {"fc.w": "weight", "fc.b": "bias", "bn.gamma": "norm", "bn.beta": "norm"}


def _initial_params() -> dict[str, np.ndarray]:
    return {
        "fc.w": normal((E, 4, 5), seed=10),
        "fc.b": 0.1 + normal((E, 5), seed=11, scale=0.05),
        "bn.gamma": 1.0 + normal((E, 5), seed=12, scale=0.1),
        "bn.beta": np.zeros((E, 5)),  # a zero norm: LARS's paper formula gives lambda = 0
        "untyped": normal((E, 2, 3), seed=13),  # missing from kinds: a weight
    }


STEPS = 4
# one rate per member and step, with zeros (momentum correction and LARC fall back to 1)
LRS = np.array([[0.1, 0.0, 0.05], [0.2, 0.1, 0.05], [0.05, 0.3, 0.1], [0.1, 0.1, 0.0]])
ACTIVE = np.array([[1, 1, 1], [1, 0, 1], [1, 0, 1], [1, 0, 0]], dtype=bool)


def _grads(step: int) -> dict[str, np.ndarray]:
    grads = {
        name: normal(p.shape, seed=100 + 10 * step + i)
        for i, (name, p) in enumerate(_initial_params().items())
    }
    grads["bn.beta"][1] = 0.0  # a zero gradient on a zero weight: LARS's 0/0 fallback
    grads["bn.gamma"][2] = 0.0
    return grads


def optimizer_run(make: Callable[[], Any], lr_form: str, masked: bool) -> Any:
    opt = make()
    params = {name: backend.asarray(p.copy()) for name, p in _initial_params().items()}
    for step in range(STEPS):
        grads = {name: backend.asarray(g) for name, g in _grads(step).items()}
        lr = backend.asarray(LRS[step]) if lr_form == "device" else float(LRS[step, 0])
        active = backend.asarray(ACTIVE[step]) if masked else None
        opt.step(params, grads, lr, kinds=KIND_OF, active=active)
    out = {"params": params, "prev_lr": opt.prev_lr}
    if isinstance(opt, SGD | LARS):
        out["velocity"] = dict(opt.velocity)
    if isinstance(opt, LARS | LAMB):
        out["local_lr"] = dict(opt.local_lr)
    if isinstance(opt, AdamW | LAMB):
        moments = {k: opt.by_name(getattr(opt.adam, k)) for k in ("mu", "nu", "count")}
        out |= {k: dict(v) for k, v in moments.items()}
    return out


OPTIMIZERS = {
    "sgd-plain-wd": lambda: SGD(weight_decay=1e-2),
    "sgd-momentum-outside": lambda: SGD(momentum=0.9, weight_decay=1e-3),
    "sgd-nesterov-outside": lambda: SGD(momentum=0.9, nesterov=True, weight_decay=1e-3),
    "sgd-inside-correction": lambda: SGD(momentum=0.9, lr_in_momentum=True, weight_decay=1e-3),
    "sgd-inside-no-correction": lambda: SGD(
        momentum=0.9, lr_in_momentum=True, momentum_correction=False
    ),
    "sgd-inside-nesterov": lambda: SGD(momentum=0.8, nesterov=True, lr_in_momentum=True),
    "sgd-wd-exclusions": lambda: SGD(
        momentum=0.9, weight_decay=1e-2, exclude_from_weight_decay=("norm", "bias")
    ),
    "lars-paper": lambda: LARS(trust_coefficient=0.02),
    "lars-optax": lambda: LARS(trust_coefficient=0.02, denominator="optax"),
    "lars-eps": lambda: LARS(trust_coefficient=0.02, eps=1e-3),
    "lars-clip": lambda: LARS(trust_coefficient=0.02, clip=True),
    "lars-clip-outside": lambda: LARS(trust_coefficient=0.5, clip=True, lr_in_momentum=False),
    "lars-outside": lambda: LARS(trust_coefficient=0.02, lr_in_momentum=False),
    "lars-exclusions": lambda: LARS(
        trust_coefficient=0.02,
        weight_decay=1e-2,
        exclude_from_adaptation=("bias", "norm"),
        exclude_from_weight_decay=("norm",),
    ),
    "lars-optax-no-wd": lambda: LARS(trust_coefficient=0.02, weight_decay=0.0, denominator="optax"),
    "lars-nesterov": lambda: LARS(trust_coefficient=0.02, nesterov=True),
    "adamw": lambda: AdamW(weight_decay=1e-2, exclude_from_weight_decay=("norm",)),
    "lamb": lambda: LAMB(weight_decay=1e-2, exclude_from_adaptation=("bias", "norm")),
}


@pytest.mark.parametrize("masked", [False, True], ids=["all-active", "frozen-members"])
@pytest.mark.parametrize("lr_form", ["device", "number"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_match(on_backend, name, lr_form, masked):
    make = OPTIMIZERS[name]
    cpu, gpu = run_both(on_backend, lambda: optimizer_run(make, lr_form, masked))
    assert_same(gpu, cpu)


# ---------------------------------------------------------------------------------------------
# instruments and sampler


def test_instruments_match(on_backend):
    x = normal((E, 8, 6), seed=20)
    labels = np.random.default_rng(21).integers(0, 3, size=(E, 8))

    def fn() -> Any:
        model = Sequential(
            [
                Linear(6, 5, name="fc1", bias_init=0.1),
                BatchNorm(5, name="bn1", workers=2),
                ReLU(name="relu1"),
                Linear(5, 3, name="fc2"),
            ]
        ).init(SEEDS, dtype=np.float64)
        xp = backend.get_backend()
        logits = model.forward(backend.asarray(x))
        _, dlogits = softmax_cross_entropy(logits, backend.asarray(labels))
        model.backward(dlogits)
        grads = model.named_grads()
        grads["fc2.b"] = xp.zeros_like(grads["fc2.b"])  # ||g|| = 0: an undefined ratio
        norms = tensor_norms(grads)
        ratios, sizes = NormRatios(steps=(0,)), UpdateSizes(steps=(0,))
        ratios.before_update(0, model, grads)
        sizes.before_update(0, model, grads)
        SGD(momentum=0.9).step(model.named_params(), grads, backend.asarray(LRS[1]))
        sizes.after_update(0, model)
        return norms, tensor_norms(model.named_params()), ratios.frame(), sizes.frame()

    cpu, gpu = run_both(on_backend, fn)
    ratio = cpu[2].query("param == 'fc2.b' and metric == 'ratio'").value
    assert np.isnan(ratio).all()
    # fc1.b sits in front of a BN: its gradient is zero up to round-off, its ratio undefined
    assert np.isnan(cpu[2].query("param == 'fc1.b' and metric == 'ratio'").value).all()
    assert_same_norms(gpu[2], cpu[2], RTOL, ATOL)
    assert_same(gpu[:2] + gpu[3:], cpu[:2] + cpu[3:])


def test_sampler_batches_match(on_backend):
    x = normal((50, 3, 2), seed=30).astype(np.float32)
    y = np.arange(50, dtype=np.int64)

    def fn(seeds: list[int]) -> Any:
        sampler = BatchSampler(x, y, 8, seeds=seeds)
        return [sampler.next() for _ in range(2 * sampler.steps_per_epoch + 1)]

    for seeds in ([1, 2, 1], [4, 4]):
        cpu, gpu = run_both(on_backend, lambda s=seeds: fn(s))
        assert_same(gpu, cpu, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# whole training runs

RUN = RunConfig(
    data="digits",
    model="mlp",
    batch=64,
    workers=2,
    lr=0.05,
    base_batch=64,
    epochs=0.5,
    evals=2,
    dropout=0.0,
    dtype="float64",
    norm_ratio_steps=(0, 6),
)

RUN_CASES = {
    "mlp-sgd": {},
    "alexnet_bn-sgd": {"model": "alexnet_bn"},
    "alexnet_bn-lars": {
        "model": "alexnet_bn",
        "optimizer": "lars",
        "lr": 2.0,
        "warmup": "gradual",
        "warmup_epochs": 0.5,
        "warmup_start": 0.2,
        "no_adaptation_on": ("bias", "norm"),
        "no_weight_decay_on": ("norm",),
    },
    "resnet-sgd-inside-nesterov": {
        "model": "resnet",
        "lr_in_momentum": True,
        "nesterov": True,
        "schedule": "cosine",
    },
}


def ensemble(config: RunConfig) -> list[RunConfig]:
    """An E = 2 ensemble: two members with their own seed and rate."""
    return [replace(config, seed=1, lr=config.lr), replace(config, seed=2, lr=0.5 * config.lr)]


@pytest.mark.parametrize("name", list(RUN_CASES))
def test_training_run_matches_in_float64(on_backend, name):
    configs = ensemble(replace(RUN, **RUN_CASES[name]))
    cpu, gpu = run_both(on_backend, lambda: run_ensemble(configs, progress=False))
    for c, g in zip(cpu, gpu, strict=True):
        assert not c.diverged and len(c.history) > 0
        pd.testing.assert_frame_equal(g.history, c.history, check_exact=False, rtol=1e-7, atol=1e-9)
        assert g.summary.keys() == c.summary.keys()
        for key, value in c.summary.items():
            np.testing.assert_allclose(g.summary[key], value, rtol=1e-7, atol=1e-9, err_msg=key)
        assert g.instruments.keys() == c.instruments.keys() == {"norms"}
        assert_same_norms(g.instruments["norms"], c.instruments["norms"], rtol=1e-7, atol=1e-9)


def test_training_run_matches_in_float32(on_backend):
    configs = ensemble(replace(RUN, dtype="float32", norm_ratio_steps=()))
    cpu, gpu = run_both(on_backend, lambda: run_ensemble(configs, progress=False))
    for c, g in zip(cpu, gpu, strict=True):
        assert not c.diverged
        for key in ("final_train_loss", "final_test_loss"):
            np.testing.assert_allclose(g.summary[key], c.summary[key], rtol=1e-4, err_msg=key)
        for key in ("final_train_acc", "final_test_acc"):  # a tie may flip an example or two
            np.testing.assert_allclose(g.summary[key], c.summary[key], atol=0.02, err_msg=key)
        assert g.summary["diverged"] == c.summary["diverged"]
