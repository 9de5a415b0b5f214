"""FGSM from the model's input gradient, stale weights as snapshots, ConAdv's clean+adversarial
batches; bad tau and eps refused before any compute."""

import copy

import numpy as np
import pytest

from largebatch_sim.adversarial.conadv import ConAdvSampler
from largebatch_sim.adversarial.fgsm import fgsm, input_gradient
from largebatch_sim.adversarial.run import ConAdvSpec, run_conadv
from largebatch_sim.adversarial.stale import ParameterSnapshots
from largebatch_sim.data import BatchSampler
from largebatch_sim.nn.losses import softmax_cross_entropy
from largebatch_sim.nn.models import mlp
from largebatch_sim.optim import SGD
from largebatch_sim.train import train
from largebatch_sim.validate import ParameterError


def _model(seeds=(0, 1)):
    return mlp([6, 8, 3]).init(list(seeds), np.float64)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)), rng.integers(0, 3, size=n)


def test_the_input_gradient_matches_finite_differences():
    model = _model((0,))
    x, y = _data(4)
    x, y = x[None], y[None]
    dx = input_gradient(model, x, y)
    h = 1e-6
    for b, f in [(0, 0), (2, 5), (3, 1)]:
        up, down = x.copy(), x.copy()
        up[0, b, f] += h
        down[0, b, f] -= h
        numeric = (
            softmax_cross_entropy(model.forward(up), y)[0]
            - softmax_cross_entropy(model.forward(down), y)[0]
        ) / (2 * h)
        assert dx[0, b, f] == pytest.approx(numeric[0], rel=1e-5, abs=1e-10)


def test_fgsm_raises_the_loss_and_moves_each_feature_by_eps():
    model = _model((0,))
    x, y = _data(32)
    x, y = x[None], y[None]
    x_hat = fgsm(x, input_gradient(model, x, y), 0.1)
    np.testing.assert_allclose(np.abs(x_hat - x), 0.1)
    clean = softmax_cross_entropy(model.forward(x), y)[0]
    assert softmax_cross_entropy(model.forward(x_hat), y)[0] > clean


def test_each_member_gets_its_own_adversarial_example_from_a_shared_batch():
    model = _model((0, 1))
    x, y = _data(8)
    dx = input_gradient(model, x[None], y[None])
    assert dx.shape == (2, 8, 6) and not np.allclose(dx[0], dx[1])


@pytest.mark.parametrize("tau", [0, 1, 3])
def test_snapshots_return_the_weights_of_tau_pushes_ago(tau):
    snaps = ParameterSnapshots(tau)
    for t in range(6):
        snaps.push({"w": np.full(2, float(t))})
        assert snaps.stale()["w"][0] == max(0, t - tau)
    assert len(snaps.buffers) == tau + 1


def _conadv_steps(tau, lr, steps=5):
    """Train a few steps through ConAdvSampler; record each step's adversarial half."""
    model = _model()
    x, y = _data()
    inner = BatchSampler(x, y, 16, seeds=[0, 1])
    sampler = ConAdvSampler(inner, model, eps=0.05, tau=tau)
    seen = []

    class Recording:
        steps_per_epoch = sampler.steps_per_epoch

        def next(self):
            xb, yb = sampler.next()
            seen.append(xb.copy())
            return xb, yb

    train(model, SGD(momentum=0.9), np.full(steps, lr), Recording(), progress=False)
    return seen, model


def test_with_frozen_weights_stale_examples_equal_synchronous_ones():
    sync, _ = _conadv_steps(tau=0, lr=0.0)
    stale, _ = _conadv_steps(tau=2, lr=0.0)
    for a, b in zip(sync, stale, strict=True):
        np.testing.assert_array_equal(a, b)


def test_conadv_examples_come_from_the_weights_tau_steps_old():
    seen, _ = _conadv_steps(tau=1, lr=0.5, steps=3)
    # replay: weights after each step, then the example of step 2 from the weights of step 1
    model = _model()
    x, y = _data()
    inner = BatchSampler(x, y, 16, seeds=[0, 1])
    opt = SGD(momentum=0.9)
    weights = []
    batches = []
    replay = ConAdvSampler(inner, model, eps=0.05, tau=0)  # the clean halves, same order
    for _ in range(3):
        weights.append(copy.deepcopy(model.named_params()))
        xb, yb = replay.next()
        batches.append((xb, yb))
        logits = model.forward(xb)
        model.backward(softmax_cross_entropy(logits, yb)[1])
        opt.step(model.named_params(), model.named_grads(), 0.5)
    clean, labels = batches[2][0][:, :16], batches[2][1][:, :16]
    stale_model = _model()
    for name, p in stale_model.named_params().items():
        p[...] = weights[1][name]
    expected = fgsm(clean, input_gradient(stale_model, clean, labels), 0.05)
    np.testing.assert_allclose(seen[2][:, 16:], expected)
    np.testing.assert_allclose(seen[2][:, :16], clean)


@pytest.mark.parametrize(
    ("field", "value"), [("tau", -1), ("eps", -0.1), ("tau", 1.5), ("optimizer", "sgd")]
)
def test_bad_tau_and_eps_are_refused_naming_the_parameter(field, value):
    with pytest.raises(ParameterError, match=f"^{field} must be"):
        ConAdvSpec(**{field: value})


def test_conadv_sampler_refuses_negative_tau_and_eps_before_any_compute():
    model = _model()
    x, y = _data()
    inner = BatchSampler(x, y, 16)
    with pytest.raises(ParameterError, match="^tau must be"):
        ConAdvSampler(inner, model, eps=0.1, tau=-1)
    with pytest.raises(ParameterError, match="^eps must be"):
        ConAdvSampler(inner, model, eps=-1.0, tau=1)


def test_a_short_conadv_run_gives_one_row_per_seed():
    spec = ConAdvSpec(tau=1, batch=256, data_size=2560, epochs=1, seeds=(0, 1))
    table = run_conadv(spec)
    assert list(table.method) == ["conadv_tau1"] * 2 and list(table.seed) == [0, 1]
    assert table.acc.between(0, 100).all()
