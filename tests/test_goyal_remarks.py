"""The mechanisms behind Goyal et al.'s four remarks (section 3), each checked by hand.

(1) scaling the loss is not scaling the learning rate when weight decay is present;
(2) momentum correction (the unit tests are in test_sgd.py; here: the run option reaches SGD);
(3) normalising each worker's loss by n and summing is k times the global mean;
(4) one shuffle per epoch split among workers vs one shuffle per worker.
"""

import dataclasses

import numpy as np
import pytest

from largebatch_sim.data import BatchSampler
from largebatch_sim.nn.losses import scaled_gradient, softmax_cross_entropy, worker_sum_loss
from largebatch_sim.optim import SGD
from largebatch_sim.optim.transforms import ScaleByLearningRate
from largebatch_sim.runs import RunConfig, build_optimizer, gradient_scale, run_ensemble

TINY = RunConfig(
    data="digits",
    model="mlp",
    batch=64,
    workers=4,
    base_batch=16,
    lr=0.02,
    scaling="none",
    epochs=0.5,
    evals=2,
    dtype="float64",
)


def _curves(config: RunConfig) -> np.ndarray:
    """Every recorded loss and accuracy of a run (the lr column differs by design)."""
    history = run_ensemble([config], progress=False)[0].history
    return history[history.metric != "lr"].value.to_numpy()


# ------------------------------------------------------------------ (1) loss scale vs lr scale


def test_loss_scale_equals_lr_scale_without_weight_decay_on_sgd():
    """lr (c g) = (c lr) g: with lambda = 0 the two updates agree exactly."""
    rng = np.random.default_rng(0)
    w0, g = rng.normal(size=(1, 5)), rng.normal(size=(1, 5))
    c, lr = 8.0, 0.1
    a, b = {"w": w0.copy()}, {"w": w0.copy()}
    SGD(momentum=0.9).step(a, {"w": c * g}, lr)
    SGD(momentum=0.9).step(b, {"w": g}, c * lr)
    np.testing.assert_allclose(a["w"], b["w"], rtol=1e-12)


def test_loss_scale_with_weight_decay_is_lr_scale_with_decay_divided():
    """lr (c g + lambda w) = (c lr)(g + (lambda / c) w), and differs from (c lr)(g + lambda w)."""
    rng = np.random.default_rng(1)
    w0, g = rng.normal(size=(1, 5)), rng.normal(size=(1, 5))
    c, lr, wd = 8.0, 0.1, 0.05
    scaled_loss, scaled_lr, scaled_both = ({"w": w0.copy()} for _ in range(3))
    SGD(weight_decay=wd).step(scaled_loss, {"w": c * g}, lr)
    SGD(weight_decay=wd / c).step(scaled_lr, {"w": g}, c * lr)
    SGD(weight_decay=wd).step(scaled_both, {"w": g}, c * lr)
    np.testing.assert_allclose(scaled_loss["w"], w0 - lr * (c * g + wd * w0), rtol=1e-12)
    np.testing.assert_allclose(scaled_loss["w"], scaled_lr["w"], rtol=1e-12)
    assert not np.allclose(scaled_loss["w"], scaled_both["w"])


def test_run_with_loss_scale_matches_lr_scale_and_decay_divided():
    c = 4.0
    by_loss = dataclasses.replace(TINY, loss_scale=c, weight_decay=1e-2)
    by_lr = dataclasses.replace(TINY, lr=c * TINY.lr, weight_decay=1e-2 / c)
    naive = dataclasses.replace(TINY, lr=c * TINY.lr, weight_decay=1e-2)
    a, b, n = (_curves(cfg) for cfg in (by_loss, by_lr, naive))
    np.testing.assert_allclose(a, b, rtol=1e-9)
    assert not np.allclose(a, n, rtol=1e-9)


def test_scaled_gradient_keeps_the_loss_and_scales_the_gradient():
    rng = np.random.default_rng(2)
    logits, y = rng.normal(size=(2, 6, 3)), rng.integers(0, 3, size=(2, 6))
    loss, grad = softmax_cross_entropy(logits, y)
    loss_c, grad_c = scaled_gradient(softmax_cross_entropy, 3.0)(logits, y)
    np.testing.assert_array_equal(loss_c, loss)
    np.testing.assert_allclose(grad_c, 3.0 * grad, rtol=1e-15)
    assert scaled_gradient(softmax_cross_entropy, 1.0) is softmax_cross_entropy
    with pytest.raises(ValueError, match="factor must be a finite number > 0"):
        scaled_gradient(softmax_cross_entropy, 0.0)


# ---------------------------------------------------------------- (2) momentum correction


@pytest.mark.parametrize("correction", [True, False])
def test_momentum_correction_option_reaches_sgd(correction):
    config = dataclasses.replace(TINY, lr_in_momentum=True, momentum_correction=correction)
    optimizer = build_optimizer(config)
    rate, trace = optimizer.stages[1:]  # decay, then the rate inside the buffer
    assert isinstance(rate, ScaleByLearningRate) and trace.correction is correction


def test_without_correction_a_lr_jump_is_followed_slowly():
    """Inside the buffer, v built at lr_small carries lr_small after a jump to lr_big: without
    the correction the first step after the jump moves (m lr_small + lr_big) g, with it
    (m + 1) lr_big g, the outside form's step."""
    g = np.ones((1, 1))
    steps = {}
    for correction in (True, False):
        w = {"w": np.zeros((1, 1))}
        sgd = SGD(momentum=0.9, lr_in_momentum=True, momentum_correction=correction)
        sgd.step(w, {"w": g}, 0.1)
        before = w["w"].copy()
        sgd.step(w, {"w": g}, 1.6)
        steps[correction] = float((before - w["w"])[0, 0])
    assert steps[True] == pytest.approx(0.9 * 1.6 + 1.6)
    assert steps[False] == pytest.approx(0.9 * 0.1 + 1.6)


# ------------------------------------------------------------ (3) normalise by kn, not by n


def test_global_normalisation_is_the_mean_of_the_workers_gradients():
    rng = np.random.default_rng(3)
    k, n = 4, 5
    logits, y = rng.normal(size=(1, k * n, 3)), rng.integers(0, 3, size=(1, k * n))
    _, global_grad = softmax_cross_entropy(logits, y)
    per_worker = [
        softmax_cross_entropy(logits[:, j * n : (j + 1) * n], y[:, j * n : (j + 1) * n])[1]
        for j in range(k)
    ]
    # each worker's mean-loss gradient is over its own n; the global one weighs it by n / kn
    np.testing.assert_allclose(global_grad, np.concatenate(per_worker, axis=1) / k, rtol=1e-12)


def test_per_worker_normalisation_is_k_times_the_global_mean():
    rng = np.random.default_rng(4)
    k = 4
    logits, y = rng.normal(size=(2, 12, 3)), rng.integers(0, 3, size=(2, 12))
    loss_sum, grad_sum = worker_sum_loss(softmax_cross_entropy, k)(logits, y)
    loss, grad = softmax_cross_entropy(logits, y)
    np.testing.assert_allclose(loss_sum, k * loss, rtol=1e-12)
    np.testing.assert_allclose(grad_sum, k * grad, rtol=1e-12)
    _, grad_scaled = scaled_gradient(softmax_cross_entropy, k)(logits, y)
    np.testing.assert_allclose(grad_scaled, grad_sum, rtol=1e-12)
    with pytest.raises(ValueError, match="not divisible"):
        worker_sum_loss(softmax_cross_entropy, 5)(logits, y)


def test_worker_normaliser_scales_the_gradient_by_k():
    assert gradient_scale(TINY) == 1
    assert gradient_scale(dataclasses.replace(TINY, loss_normalizer="worker")) == TINY.workers
    both = dataclasses.replace(TINY, loss_normalizer="worker", loss_scale=0.5)
    assert gradient_scale(both) == 0.5 * TINY.workers
    a = _curves(dataclasses.replace(TINY, loss_normalizer="worker"))
    b = _curves(dataclasses.replace(TINY, loss_scale=float(TINY.workers)))
    np.testing.assert_allclose(a, b, rtol=1e-12)


# --------------------------------------------------------------- (4) one shuffle per epoch


def _epoch(sampler: BatchSampler) -> np.ndarray:
    return np.stack([sampler.next()[0][0, :, 0] for _ in range(sampler.steps_per_epoch)])


def test_shared_shuffle_visits_every_example_once_per_epoch():
    n = 64
    x, y = np.arange(n, dtype=float)[:, None], np.zeros(n, dtype=int)
    sampler = BatchSampler(x, y, batch_size=16, seeds=0, workers=4)
    for _ in range(3):
        seen = _epoch(sampler)
        assert sorted(seen.ravel()) == list(range(n))


def test_independent_shuffles_repeat_examples_and_miss_others():
    n, k = 4096, 32
    x, y = np.arange(n, dtype=float)[:, None], np.zeros(n, dtype=int)
    sampler = BatchSampler(x, y, batch_size=256, seeds=0, workers=k, worker_shuffle="independent")
    seen = _epoch(sampler)  # (steps, B): worker j owns columns [j n, (j + 1) n)
    n_worker = 256 // k
    for j in range(k):  # within a worker, an epoch never repeats an example
        mine = seen[:, j * n_worker : (j + 1) * n_worker].ravel()
        assert len(np.unique(mine)) == len(mine)
    coverage = len(np.unique(seen)) / n
    expected = 1 - (1 - 1 / k) ** k  # each worker covers a random 1/k of the data
    assert abs(coverage - expected) < 0.03


def test_independent_shuffle_is_deterministic_and_member_consistent():
    n = 128
    x, y = np.arange(n, dtype=float)[:, None], np.zeros(n, dtype=int)

    def make(seeds):
        return BatchSampler(x, y, 32, seeds=seeds, workers=4, worker_shuffle="independent")

    together, alone = make([3, 7]), make(7)
    for _ in range(5):
        xb, _ = together.next()
        np.testing.assert_array_equal(xb[1], alone.next()[0][0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"workers": 3}, "dividing batch_size"),
        ({"worker_shuffle": "each"}, "worker_shuffle must be one of"),
        ({"worker_shuffle": "independent", "drop_last": False}, "drop_last"),
    ],
)
def test_sampler_rejects_bad_worker_options(kwargs, message):
    x, y = np.zeros((32, 1)), np.zeros(32, dtype=int)
    with pytest.raises(ValueError, match=message):
        BatchSampler(x, y, 16, **kwargs)


def test_run_config_rejects_bad_remark_options():
    with pytest.raises(ValueError, match="loss_normalizer"):
        dataclasses.replace(TINY, loss_normalizer="local")
    with pytest.raises(ValueError, match="worker_shuffle"):
        dataclasses.replace(TINY, worker_shuffle="mine")
    with pytest.raises(ValueError, match="loss_scale"):
        dataclasses.replace(TINY, loss_scale=0.0)
    with pytest.raises(ValueError, match="width"):
        dataclasses.replace(TINY, width=0.5)
