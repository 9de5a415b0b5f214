"""No host synchronisation inside a training step, shown on the NumPy path.

On a GPU, ``float(x)``, ``x.item()``, ``bool(x)`` (a Python ``if`` on an array) or a copy to the
host stalls the step until the device catches up. NumPy has no device, so here every array the
step touches (data, parameters, batch-norm buffers) is a ``DeviceOnly`` array, a NumPy subclass
that refuses those conversions; the only door to the host is ``backend.to_host``, which the test
counts. A step that read a value on the host would raise; the count of transfers must not grow
with the number of steps between evaluations.
"""

import numpy as np
import pytest

from largebatch_sim import backend, train
from largebatch_sim.auto_warmup import AutoWarmup
from largebatch_sim.data import BatchSampler
from largebatch_sim.data.augment import AugmentedSampler
from largebatch_sim.instruments import NoiseScale
from largebatch_sim.loss_trace import LossTrace
from largebatch_sim.nn.models import build_model
from largebatch_sim.optim import LARS, SGD
from largebatch_sim.precise_bn import PreciseBN


class DeviceOnly(np.ndarray):
    """An array whose values may not be read on the host except through backend.to_host."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("host synchronisation inside a training step")

    __bool__ = __float__ = __int__ = __index__ = item = tolist = _refuse


def _on_device(a):
    return np.asarray(a).view(DeviceOnly)


@pytest.fixture
def counted_to_host(monkeypatch):
    """Arrays moved to the "device" are DeviceOnly; moving back is counted."""
    calls = []

    def to_host(a):
        calls.append(1)
        return np.asarray(a).view(np.ndarray)  # the one allowed way back to the host

    monkeypatch.setattr(backend, "to_host", to_host)
    monkeypatch.setattr(backend, "asarray", lambda a, dtype=None: _on_device(np.asarray(a, dtype)))
    return calls


def _transfers(
    model_name, optimizer, steps, evals, calls, noise_chunks=0, precise_bn=False, rates=None,
    copies=1,
):  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 1, 1, 40)).astype(np.float32)
    y = rng.integers(0, 10, size=256)
    model = build_model(model_name, (1, 1, 40), 10).init([0, 1])
    model.set_workers(2)
    assert all(isinstance(p, DeviceOnly) for p in model.named_params().values())
    sampler = BatchSampler(x, y, 32, seeds=[0, 1])
    if copies > 1:
        sampler = AugmentedSampler(sampler, copies, [1.0, 0.5], [0, 1], "mnist1d")
    hooks = (
        [PreciseBN(BatchSampler(x, y, 32, seeds=[7], workers=2), 2), LossTrace(steps, 2)]
        if precise_bn
        else []
    )
    calls.clear()
    train.train(
        model,
        optimizer,
        np.full(steps, 0.01) if rates is None else rates,
        sampler,
        (x[:64], y[:64]),
        eval_every=steps // evals,
        instruments={"noise": NoiseScale(noise_chunks, 1, model=model)} if noise_chunks else None,
        hooks=hooks,
        progress=False,
    )
    return len(calls)


@pytest.mark.parametrize("model_name", ["mlp", "cnn_bn", "alexnet_lrn", "alexnet_bn", "resnet"])
@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: SGD(momentum=0.9, nesterov=True, weight_decay=5e-4),
        lambda: SGD(momentum=0.9, weight_decay=5e-4, lr_in_momentum=True),
        lambda: LARS(momentum=0.9, weight_decay=5e-4),
        lambda: LARS(momentum=0.9, weight_decay=5e-4, clip=True, denominator="optax"),
    ],
    ids=["sgd-nesterov", "sgd-inside", "lars", "larc-optax"],
)
def test_steps_never_read_device_values(model_name, make_optimizer, counted_to_host):
    few = _transfers(model_name, make_optimizer(), steps=4, evals=2, calls=counted_to_host)
    many = _transfers(model_name, make_optimizer(), steps=16, evals=2, calls=counted_to_host)
    assert few == many > 0  # transfers happen at evaluations only, however many steps between


@pytest.mark.parametrize("model_name", ["mlp", "cnn_bn"])
def test_the_noise_instrument_measures_every_step_without_a_host_read(model_name, counted_to_host):
    counts = [
        _transfers(model_name, SGD(momentum=0.9), steps, 2, counted_to_host, noise_chunks=4)
        for steps in (4, 16)
    ]
    assert counts[0] == counts[1] > 0


@pytest.mark.parametrize("model_name", ["cnn_bn", "resnet"])
def test_precise_bn_and_the_loss_trace_add_no_host_read(model_name, counted_to_host):
    counts = [
        _transfers(model_name, SGD(momentum=0.9), steps, 2, counted_to_host, precise_bn=True)
        for steps in (4, 16)
    ]
    assert counts[0] == counts[1] > 0


def test_the_device_only_array_catches_a_host_read():
    a = _on_device(np.ones(3))
    with pytest.raises(AssertionError, match="host synchronisation"):
        if (a > 0).all():
            pass
    with pytest.raises(AssertionError, match="host synchronisation"):
        float(a.sum())


@pytest.mark.parametrize("model_name", ["mlp", "cnn_bn"])
def test_augmented_batches_add_no_host_read(model_name, counted_to_host):
    counts = [
        _transfers(model_name, SGD(momentum=0.9), steps, 2, counted_to_host, 4, copies=4)
        for steps in (4, 16)
    ]
    assert counts[0] == counts[1] > 0


def test_auto_warmup_adds_one_host_read_per_test_and_none_per_step(counted_to_host):
    plain = _transfers("mlp", SGD(momentum=0.9), 48, 2, counted_to_host)
    controller = AutoWarmup(1e-3, 1.0, 36, 48, every=4, members=2)
    with_controller = _transfers("mlp", SGD(momentum=0.9), 48, 2, counted_to_host, rates=controller)
    assert controller.reads > 0
    assert with_controller == plain + controller.reads  # the loss reads, nothing per step
