"""Precise BN: running statistics recomputed from training batches with the current weights,
and the training loop's hooks that carry it."""

from dataclasses import replace

import numpy as np
import pytest

from largebatch_sim import train
from largebatch_sim.data import BatchSampler
from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.batchnorm import BatchNorm
from largebatch_sim.nn.linear import Linear
from largebatch_sim.nn.models import build_model
from largebatch_sim.optim import SGD
from largebatch_sim.precise_bn import PreciseBN, has_batch_norm
from largebatch_sim.runs import RunConfig, run_ensemble


class FixedBatches:
    """A sampler that hands out the given batches in turn."""

    def __init__(self, batches):
        self.batches, self.i = batches, 0

    def next(self):
        x = self.batches[self.i % len(self.batches)]
        self.i += 1
        return x, None


def test_precise_statistics_are_the_mean_over_batches_of_the_chunk_statistics():
    rng = np.random.default_rng(0)
    model = Sequential([Linear(3, 4, name="fc1"), BatchNorm(4, name="bn1", workers=2)]).init(
        [0, 1], dtype=np.float64
    )
    bn = model.layers[1]
    bn.buffers["running_mean"][...] = 123.0  # stale garbage
    bn.buffers["running_var"][...] = 1e-6
    batches = [rng.normal(size=(1, 6, 3)) * (t + 1) for t in range(3)]
    PreciseBN(FixedBatches(batches), batches=3).before_evaluation(0, model)

    w, b = model.named_params()["fc1.w"], model.named_params()["fc1.b"]
    means, variances = [], []
    for x in batches:
        h = x @ w + b[:, None, :]  # (E, 6, 4)
        chunks = h.reshape(2, 2, 3, 4)  # (E, worker, n, C)
        means.append(chunks.mean(axis=2).mean(axis=1))
        variances.append(chunks.var(axis=2, ddof=1).mean(axis=1))  # unbiased, as running
    np.testing.assert_allclose(bn.running_mean, np.mean(means, axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean(variances, axis=0), rtol=1e-12)
    assert bn.training and bn._precise_batches is None  # back to the EMA for training


def test_training_is_identical_with_and_without_the_hook():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(128, 1, 1, 40)).astype(np.float32)
    y = rng.integers(0, 10, size=128)

    def fit(hooks):
        model = build_model("cnn_bn", (1, 1, 40), 10).init([0])
        model.set_workers(2)
        result = train.train(
            model,
            SGD(momentum=0.9),
            np.full(8, 0.05),
            BatchSampler(x, y, 32, seeds=[0]),
            (x[:64], y[:64]),
            eval_every=4,
            hooks=hooks,
            progress=False,
        )
        return model, result.history

    plain_model, plain = fit([])
    hooked_model, hooked = fit([PreciseBN(BatchSampler(x, y, 32, seeds=[9], workers=2), 2)])
    for name, w in plain_model.named_params().items():
        np.testing.assert_array_equal(w, hooked_model.named_params()[name])
    train_rows = plain.metric.isin(["train_loss", "train_acc"])
    np.testing.assert_array_equal(plain[train_rows].value, hooked[train_rows].value)


def test_stale_running_statistics_give_chance_and_precise_bn_recovers():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(2, 6)) * 3
    y = rng.integers(0, 2, size=256)
    x = centres[y] + rng.normal(size=(256, 6))
    model = Sequential(
        [Linear(6, 8, name="fc1"), BatchNorm(8, name="bn1"), Linear(8, 2, name="fc2")]
    ).init([0], dtype=np.float64)
    sampler = BatchSampler(x, y, 64, seeds=[0])
    train.train(model, SGD(momentum=0.9), np.full(40, 0.1), sampler, progress=False)
    bn = model.layers[1]
    bn.buffers["running_mean"][...] = 1e3  # statistics far from the current weights'
    stale = train.evaluate(model, x, y)["test_acc"][0]
    PreciseBN(BatchSampler(x, y, 64, seeds=[5]), 4).before_evaluation(0, model)
    precise = train.evaluate(model, x, y)["test_acc"][0]
    assert stale <= 0.6 and precise >= 0.95


class Recorder(train.Hook):
    def __init__(self, stop_at=None):
        self.steps, self.before, self.at, self.stop_at = [], [], [], stop_at

    def after_step(self, step, model, loss):
        self.steps.append(step)

    def before_evaluation(self, step, model):
        self.before.append(step)

    def at_evaluation(self, step, model, metrics):
        self.at.append((step, sorted(metrics)))
        return self.stop_at is not None and step + 1 >= self.stop_at


def _tiny_run(hook, steps=12):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(64, 5)), rng.integers(0, 3, size=64)
    model = Sequential([Linear(5, 3, name="fc1")]).init([0])
    return train.train(
        model,
        SGD(),
        np.full(steps, 0.1),
        BatchSampler(x, y, 16, seeds=[0]),
        (x, y),
        eval_every=4,
        hooks=[hook],
        progress=False,
    )


def test_hooks_are_called_at_each_step_and_each_evaluation():
    hook = Recorder()
    _tiny_run(hook)
    assert hook.steps == list(range(12))
    assert hook.before == [3, 7, 11]
    assert [s for s, _ in hook.at] == [3, 7, 11]
    assert hook.at[0][1] == ["lr", "test_acc", "test_loss", "train_acc", "train_loss"]


def test_a_stop_request_ends_training_at_that_evaluation():
    hook = Recorder(stop_at=8)
    result = _tiny_run(hook)
    assert hook.steps == list(range(8)) and result.history.step.max() == 8


def test_the_recipe_attaches_precise_bn_to_batch_norm_nets_only(monkeypatch):
    attached = []
    real = PreciseBN.before_evaluation

    def spy(self, step, model):
        attached.append(step)
        return real(self, step, model)

    monkeypatch.setattr(PreciseBN, "before_evaluation", spy)
    base = RunConfig(data="digits", model="mlp", batch=128, base_batch=128, epochs=1, evals=2)
    run_ensemble([base], progress=False)
    assert not attached  # no batch norm in the MLP
    run_ensemble([replace(base, model="cnn_bn", workers=4)], progress=False)
    assert attached
    attached.clear()
    run_ensemble([replace(base, model="cnn_bn", precise_bn_examples=0)], progress=False)
    assert not attached
    assert has_batch_norm(build_model("cnn_bn", (1, 8, 8), 10))


def test_precise_bn_arguments_are_checked():
    with pytest.raises(ValueError, match="batches"):
        PreciseBN(FixedBatches([]), 0)
    with pytest.raises(ValueError, match="precise_bn_examples"):
        RunConfig(precise_bn_examples=-1)


def test_the_loss_trace_keeps_every_step_of_every_member():
    base = RunConfig(
        data="digits", model="mlp", batch=128, base_batch=128, epochs=2, evals=2, trace_loss=True
    )
    results = run_ensemble([base, replace(base, lr=0.5)], progress=False)
    for r in results:
        trace = r.instruments["loss_trace"]
        steps = int(r.history.step.max())
        assert list(trace.step) == list(range(1, steps + 1))
        # the mean over the steps of the last window is the history's train_loss there
        last = r.history[(r.history.metric == "train_loss")].iloc[-1]
        window = trace[trace.step > steps - steps // 2].value.mean()
        assert window == pytest.approx(last.value, rel=1e-6)
    assert (
        not results[0]
        .instruments["loss_trace"]
        .value.equals(results[1].instruments["loss_trace"].value)
    )
