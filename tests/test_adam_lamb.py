"""AdamW and LAMB against the papers' algorithms written out by hand, step by step, and their
edge cases: the first step's bias correction, zero norms, exclusions by kind, frozen members."""

import math

import numpy as np
import pytest

from largebatch_sim.optim import LAMB, LARS, AdamW
from largebatch_sim.runs import RunConfig, run_ensemble

GRADS = [0.5, -0.2, 0.8]  # one scalar gradient per step


def adamw_by_hand(w, lr, b1, b2, eps, wd):
    m = v = 0.0
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        w = w - lr * (m_hat / (math.sqrt(v_hat) + eps) + wd * w)
    return w


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adamw_follows_its_algorithm_for_three_steps(wd):
    params = {"w": np.array([[1.5]])}
    opt = AdamW(b1=0.9, b2=0.99, eps=1e-8, weight_decay=wd)
    for g in GRADS:
        opt.step(params, {"w": np.array([[g]])}, 0.1)
    assert params["w"][0, 0] == pytest.approx(adamw_by_hand(1.5, 0.1, 0.9, 0.99, 1e-8, wd))


def test_adams_first_step_is_the_sign_of_the_gradient_times_the_rate():
    """At t = 1 the bias correction gives m_hat = g and v_hat = g^2: the step is lr sign(g)."""
    params = {"w": np.array([[1.0, 1.0, 1.0]])}
    AdamW(eps=1e-12).step(params, {"w": np.array([[3.0, -0.01, 0.0]])}, 0.1)
    np.testing.assert_allclose(params["w"][0], [0.9, 1.1, 1.0])


def lamb_by_hand(w, g_steps, lr, b1, b2, eps, wd):
    w = np.array(w, dtype=float)
    m = v = np.zeros_like(w)
    for t, g in enumerate(g_steps, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        u = r + wd * w
        w = w - lr * np.linalg.norm(w) / np.linalg.norm(u) * u
    return w


def test_lamb_follows_algorithm_2_for_three_steps():
    rng = np.random.default_rng(0)
    g_steps = [rng.normal(size=4) for _ in range(3)]
    params = {"w": np.array([[3.0, 4.0, -1.0, 0.5]])}
    opt = LAMB(b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.01)
    for g in g_steps:
        opt.step(params, {"w": g[None]}, 0.02)
    expected = lamb_by_hand([3.0, 4.0, -1.0, 0.5], g_steps, 0.02, 0.9, 0.999, 1e-6, 0.01)
    np.testing.assert_allclose(params["w"][0], expected, rtol=1e-12)


def test_lamb_step_is_the_rate_times_the_weight_norm_in_the_adam_direction():
    """First step, no decay: r = sign(g) elementwise, so the step has length lr ||w||."""
    params = {"w": np.array([[3.0, 4.0]])}
    opt = LAMB(eps=1e-12)
    opt.step(params, {"w": np.array([[2.0, 0.0]])}, 0.01)
    np.testing.assert_allclose(params["w"][0], [3.0 - 0.01 * 5.0, 4.0])
    assert opt.local_lr["w"][0] == pytest.approx(5.0)


def test_lamb_trust_ratio_falls_back_to_one_on_a_zero_tensor_unless_asked_not_to():
    grads = {"b": np.array([[1.0, 1.0]])}
    moved = {"b": np.zeros((1, 2))}
    LAMB(eps=0.0).step(moved, grads, 0.1)
    np.testing.assert_allclose(moved["b"][0], [-0.1, -0.1])
    literal = {"b": np.zeros((1, 2))}
    LAMB(eps=0.0, zero_norm_ratio=0.0).step(literal, grads, 0.1)
    np.testing.assert_array_equal(literal["b"][0], [0.0, 0.0])


def test_lamb_exclusions_are_bound_by_kind():
    params = {"fc.w": np.array([[3.0, 4.0]]), "bn.gamma": np.array([[3.0, 4.0]])}
    grads = {name: np.array([[1.0, 1.0]]) for name in params}
    kinds = {"fc.w": "weight", "bn.gamma": "norm"}
    opt = LAMB(eps=0.0, weight_decay=0.5, exclude_from_adaptation=("norm",))
    opt.step(params, grads, 0.1, kinds=kinds)
    assert opt.local_lr["bn.gamma"][0] == 1.0  # Adam with decoupled decay for the norm kind
    np.testing.assert_allclose(params["bn.gamma"][0], [3.0 - 0.1 * 2.5, 4.0 - 0.1 * 3.0])
    assert opt.local_lr["fc.w"][0] != 1.0


@pytest.mark.parametrize("make", [AdamW, LAMB])
def test_a_member_equals_the_same_run_alone_and_a_frozen_member_keeps_its_state(make):
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(3, 5))
    grads = [rng.normal(size=(3, 5)) for _ in range(4)]
    together, alone = {"w": w0.copy()}, {"w": w0[1:2].copy()}
    opt_together, opt_alone = make(weight_decay=0.01), make(weight_decay=0.01)
    active = np.array([True, True, False])
    for g in grads:
        opt_together.step(together, {"w": g}, np.array([0.1, 0.05, 0.2]), active=active)
        opt_alone.step(alone, {"w": g[1:2]}, 0.05)
    np.testing.assert_allclose(together["w"][1], alone["w"][0], rtol=1e-12)
    np.testing.assert_array_equal(together["w"][2], w0[2])
    assert opt_together.by_name(opt_together.adam.count)["w"].tolist() == [4, 4, 0]


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: AdamW(b1=1.0), "b1"),
        (lambda: AdamW(b2=-0.1), "b2"),
        (lambda: AdamW(eps=float("nan")), "eps"),
        (lambda: LAMB(weight_decay=-1), "weight_decay"),
        (lambda: LAMB(exclude_from_adaptation=("layer",)), "exclude_from_adaptation"),
        (lambda: LAMB(zero_norm_ratio=0.5), "zero_norm_ratio"),
    ],
)
def test_bad_options_name_the_parameter(make, parameter):
    with pytest.raises(ValueError, match=parameter):
        make()


@pytest.mark.parametrize("optimizer", ["adamw", "lamb"])
def test_a_run_config_trains_with_adamw_and_lamb(optimizer):
    config = RunConfig(
        data="digits",
        model="mlp",
        optimizer=optimizer,
        lr=0.002,
        scaling="none",
        batch=64,
        epochs=2,
        evals=2,
        weight_decay=0.01,
    )
    (result,) = run_ensemble([config], progress=False)
    loss = result.history.query("metric == 'train_loss'").value.to_numpy()
    assert not result.diverged and loss[-1] < 0.7 * loss[0]


def test_lars_with_nesterov_looks_ahead_along_the_buffer():
    """v <- m v + gamma lambda g;  w <- w - (gamma lambda g + m v): two steps by hand."""
    params = {"w": np.array([[3.0, 4.0]])}
    g = np.array([[0.3, 0.4]])  # ||g|| = 0.5, ||w|| = 5 -> lambda = eta * 10
    opt = LARS(momentum=0.5, weight_decay=0.0, trust_coefficient=0.01, nesterov=True)
    w, v = params["w"][0].copy(), np.zeros(2)
    for _ in range(2):
        lam = 0.01 * np.linalg.norm(w) / np.linalg.norm(g[0])
        v = 0.5 * v + 0.1 * lam * g[0]
        w = w - (0.1 * lam * g[0] + 0.5 * v)
        opt.step(params, {"w": g}, 0.1)
    np.testing.assert_allclose(params["w"][0], w, rtol=1e-12)
