"""A fused optimizer step over the flat parameter buffer equals the per-tensor chain.

Every optimizer, its options (momentum forms, Nesterov, LARS's denominators, LARC's clip, the
zero-norm rule, exclusions by kind, per-member hyperparameters) and frozen members, run for a
few steps on the same flat parameters twice: fused and with ``fused=False``, the reference.
The same on CuPy (marked ``gpu``), where the fused path is the one a training run takes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from largebatch_sim import backend
from largebatch_sim.nn.flat import flat_views, root, segments
from largebatch_sim.nn.models import build_model
from largebatch_sim.optim import LAMB, LARS, SGD, AdamW

E = 3
KINDS = {"fc.w": "weight", "fc.b": "bias", "bn.gamma": "norm", "bn.beta": "norm"}
ACTIVE = np.array([True, False, True])
OPTIMIZERS: dict[str, Callable[[bool], Any]] = {
    "sgd outside": lambda f: SGD(momentum=0.9, weight_decay=1e-2, fused=f),
    "sgd inside nesterov": lambda f: SGD(
        momentum=0.9, nesterov=True, weight_decay=1e-2, lr_in_momentum=True, fused=f
    ),
    "sgd per member": lambda f: SGD(
        momentum=[0.0, 0.5, 0.9], weight_decay=[0, 1e-3, 1e-2], fused=f
    ),
    "sgd no decay on norms": lambda f: SGD(
        momentum=0.9, weight_decay=1e-2, exclude_from_weight_decay=("norm", "bias"), fused=f
    ),
    "lars paper": lambda f: LARS(trust_coefficient=0.01, fused=f),
    "lars optax clip": lambda f: LARS(
        trust_coefficient=0.01, denominator="optax", clip=True, fused=f
    ),
    "lars literal zero norm": lambda f: LARS(zero_norm_ratio=0.0, fused=f),
    "lars skip norms": lambda f: LARS(
        trust_coefficient=[0.001, 0.01, 0.1],
        exclude_from_adaptation=("norm",),
        exclude_from_weight_decay=("norm", "bias"),
        fused=f,
    ),
    "adamw": lambda f: AdamW(weight_decay=1e-2, b1=[0.8, 0.9, 0.95], fused=f),
    "lamb": lambda f: LAMB(weight_decay=1e-2, exclude_from_adaptation=("bias",), fused=f),
}


def _params(xp) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    host = {
        "fc.w": rng.normal(size=(E, 4, 5)),
        "fc.b": 0.1 + 0.05 * rng.normal(size=(E, 5)),
        "bn.gamma": 1.0 + 0.1 * rng.normal(size=(E, 5)),
        "bn.beta": np.zeros((E, 5)),  # a zero norm: the trust ratio's fallback
        "untyped": rng.normal(size=(E, 2, 3)),
    }
    return flat_views({k: xp.asarray(v) for k, v in host.items()})


def _run(make: Callable[[bool], Any], fused: bool, xp) -> tuple[dict[str, Any], Any]:
    opt, params = make(fused), _params(xp)
    rng = np.random.default_rng(1)
    for step in range(4):
        grads = {k: xp.asarray(rng.normal(size=v.shape)) for k, v in params.items()}
        grads["bn.beta"][1] = 0.0  # 0 / 0 in the trust ratio
        lr = xp.asarray([0.1, 0.05, 0.0] if step == 2 else [0.1, 0.2, 0.05])
        active = xp.asarray(ACTIVE) if step >= 2 else None
        opt.step(params, grads, lr, kinds=KINDS, active=active)
    return params, opt


def _check(name: str, xp) -> None:
    fused, fused_opt = _run(OPTIMIZERS[name], True, xp)
    reference, reference_opt = _run(OPTIMIZERS[name], False, xp)
    assert fused_opt._layout is not None and reference_opt._layout is None
    for key in reference:
        np.testing.assert_allclose(
            backend.to_host(fused[key]), backend.to_host(reference[key]), rtol=1e-12, atol=1e-14
        )
    for table in ("local_lr", "effective_lr"):
        if hasattr(reference_opt, table):
            for key, value in getattr(reference_opt, table).items():
                np.testing.assert_allclose(
                    backend.to_host(getattr(fused_opt, table)[key]),
                    backend.to_host(value),
                    rtol=1e-12,
                )


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_step_equals_the_per_tensor_chain(name):
    _check(name, np)


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_step_equals_the_per_tensor_chain_on_cupy(name, on_backend):
    with on_backend("cupy") as xp:
        _check(name, xp)


def test_a_model_holds_its_parameters_in_one_buffer_and_training_takes_the_fused_path():
    model = build_model("alexnet_bn", (1, 1, 40), 10).init([0, 1])
    params = model.named_params()
    layout = segments(params)
    assert layout is not None and layout.buffer.shape == (2, model.num_params())
    opt = SGD(momentum=0.9)
    grads = {k: np.ones_like(v) for k, v in params.items()}
    opt.step(params, grads, 0.1, kinds=model.named_kinds())
    assert opt._layout.buffer is layout.buffer  # the fused path ran, on the model's buffer
    model.select_members(np.array([1]))  # compaction keeps the model flat
    assert all(root(v).shape == (1, model.num_params()) for v in model.named_params().values())


def test_separate_arrays_take_the_per_tensor_path():
    params = {"a": np.ones((2, 3)), "b": np.ones((2, 4))}  # two arrays, not one buffer
    opt = SGD(momentum=0.9)
    opt.step(params, {k: np.ones_like(v) for k, v in params.items()}, 0.1)
    assert opt._layout is None and set(opt.velocity) == {"a", "b"}


def test_segment_sums_agree_and_an_all_zero_tensor_sums_to_exactly_zero():
    params = _params(np)
    layout = segments(params)
    x = layout.buffer * layout.buffer
    by_reduceat, by_product = layout.sums(x), layout.sums_by_product(x)
    np.testing.assert_allclose(by_product, by_reduceat, rtol=1e-12)
    beta = layout.names.index("bn.beta")  # initialised at zero
    assert (by_reduceat[:, beta] == 0).all() and (by_product[:, beta] == 0).all()
