import numpy as np
import pytest

from largebatch_sim.optim import SGD

GRADS = [1.0, 2.0, -1.0]  # one scalar parameter w0 = 1, three steps


def run(opt, lrs, grads=GRADS, w0=1.0, kinds=None):
    """Trajectory of a one-member scalar parameter (shape (1, 1)) under ``opt``."""
    params = {"w": np.array([[w0]])}
    out = []
    for lr, g in zip(lrs, grads, strict=True):
        opt.step(params, {"w": np.array([[g]])}, lr, kinds=kinds)
        out.append(params["w"][0, 0])
    return out


def test_plain_sgd():
    np.testing.assert_allclose(run(SGD(), [0.1] * 3), [0.9, 0.7, 0.8])


def test_momentum_lr_outside():
    # u = 0.9 u + g; w -= 0.1 u:  u = 1, 2.9, 1.61
    np.testing.assert_allclose(run(SGD(momentum=0.9), [0.1] * 3), [0.9, 0.61, 0.449])


def test_momentum_lr_inside_equals_outside_for_constant_lr():
    # v = 0.9 v + 0.1 g; w -= v:  v = 0.1, 0.29, 0.161
    inside = run(SGD(momentum=0.9, lr_in_momentum=True), [0.1] * 3)
    np.testing.assert_allclose(inside, [0.9, 0.61, 0.449])


def test_nesterov_both_forms():
    # u = 1, 2.9, 1.61; w -= 0.1 (g + 0.9 u): steps 0.19, 0.461, 0.0449
    expected = [0.81, 0.349, 0.3041]
    np.testing.assert_allclose(run(SGD(momentum=0.9, nesterov=True), [0.1] * 3), expected)
    inside = SGD(momentum=0.9, nesterov=True, lr_in_momentum=True)
    np.testing.assert_allclose(run(inside, [0.1] * 3), expected)


def test_weight_decay_is_added_to_the_gradient():
    # g' = g + 0.1 w: 1.1, 2.089, -0.94179; u = 1.1, 3.079, 1.82931
    opt = SGD(momentum=0.9, weight_decay=0.1)
    np.testing.assert_allclose(run(opt, [0.1] * 3), [0.89, 0.5821, 0.399169])


def test_weight_decay_excluded_by_kind():
    opt = SGD(momentum=0.9, weight_decay=0.1, exclude_from_weight_decay=("norm",))
    params = {"fc.w": np.ones((1, 1)), "bn.gamma": np.ones((1, 1))}
    kinds = {"fc.w": "weight", "bn.gamma": "norm"}
    for g in GRADS:
        grads = {k: np.array([[g]]) for k in params}
        opt.step(params, grads, 0.1, kinds=kinds)
    assert params["fc.w"][0, 0] == pytest.approx(0.399169)
    assert params["bn.gamma"][0, 0] == pytest.approx(0.449)
    # without kinds every parameter counts as a weight and is decayed
    opt = SGD(momentum=0.9, weight_decay=0.1, exclude_from_weight_decay="norm")
    assert run(opt, [0.1] * 3)[-1] == pytest.approx(0.399169)


LRS = [0.1, 0.2, 0.05]


def test_momentum_correction_makes_inside_equal_outside_when_lr_changes():
    # outside: u = 1, 2.9, 1.61; w -= lr u: 0.1, 0.58, 0.0805
    outside = run(SGD(momentum=0.9), LRS)
    np.testing.assert_allclose(outside, [0.9, 0.32, 0.2395])
    # inside with correction: v = 0.1; 0.9 (0.2/0.1) 0.1 + 0.4 = 0.58; 0.9 (0.05/0.2) 0.58 - 0.05
    corrected = run(SGD(momentum=0.9, lr_in_momentum=True), LRS)
    np.testing.assert_allclose(corrected, outside)
    # inside without it: v = 0.1, 0.49, 0.391
    plain = run(SGD(momentum=0.9, lr_in_momentum=True, momentum_correction=False), LRS)
    np.testing.assert_allclose(plain, [0.9, 0.41, 0.019])


def test_correction_uses_the_true_previous_rate_when_the_caller_reuses_its_array():
    # one rate array, rewritten in place before every step (as a caller with a buffer would)
    opt = SGD(momentum=0.9, lr_in_momentum=True)
    params, lr = {"w": np.array([[1.0]])}, np.zeros(1)
    trajectory = []
    for rate, g in zip(LRS, GRADS, strict=True):
        lr[...] = rate
        opt.step(params, {"w": np.array([[g]])}, lr)
        trajectory.append(params["w"][0, 0])
    np.testing.assert_allclose(trajectory, [0.9, 0.32, 0.2395])  # the corrected values above


@pytest.mark.parametrize("nesterov", [False, True])
def test_correction_equivalence_on_arrays(nesterov):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(2, 3, 4))
    grads = rng.normal(size=(6, 2, 3, 4))
    lrs = np.abs(rng.normal(size=(6, 2)))  # per-member rates that change every step
    results = []
    for inside in (False, True):
        opt = SGD(momentum=0.9, nesterov=nesterov, weight_decay=1e-2, lr_in_momentum=inside)
        params = {"w": w0.copy()}
        for g, lr in zip(grads, lrs, strict=True):
            opt.step(params, {"w": g}, lr)
        results.append(params["w"])
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_zero_lr_leaves_params_and_guards_the_correction():
    for inside in (False, True):
        w = run(SGD(momentum=0.9, lr_in_momentum=inside), [0.0, 0.0, 0.0])
        assert w == [1.0, 1.0, 1.0]
    # inside: lr 0.1 -> 0 scales v by 0; 0 -> 0.1 has lr_{t-1} = 0: no correction, no NaN
    w = run(SGD(momentum=0.9, lr_in_momentum=True), [0.1, 0.0, 0.1])
    np.testing.assert_allclose(w, [0.9, 0.9, 1.0])


@pytest.mark.parametrize("inside", [False, True])
def test_ensemble_members_equal_runs_alone(inside):
    rng = np.random.default_rng(1)
    lrs = np.array([0.1, 0.05, 0.3])
    w0 = rng.normal(size=(3, 4, 2))
    grads = rng.normal(size=(3, 3, 4, 2))
    schedule = np.array([1.0, 0.5, 2.0])  # the rates change, so the correction matters
    opt = SGD(momentum=0.9, nesterov=True, weight_decay=1e-3, lr_in_momentum=inside)
    params = {"w": w0.copy()}
    for t in range(3):
        opt.step(params, {"w": grads[t]}, lrs * schedule[t])
    for e in range(3):
        alone = SGD(momentum=0.9, nesterov=True, weight_decay=1e-3, lr_in_momentum=inside)
        p = {"w": w0[e : e + 1].copy()}
        for t in range(3):
            alone.step(p, {"w": grads[t, e : e + 1]}, float(lrs[e] * schedule[t]))
        np.testing.assert_allclose(params["w"][e : e + 1], p["w"], rtol=1e-14)


@pytest.mark.parametrize("inside", [False, True])
def test_active_mask_freezes_a_nan_member(inside):
    rng = np.random.default_rng(2)
    w0, g = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    opt = SGD(momentum=0.9, weight_decay=1e-2, lr_in_momentum=inside)
    params = {"w": w0.copy()}
    opt.step(params, {"w": g}, np.array([0.1, 0.2, 0.3]))
    frozen_w, frozen_v = params["w"][1].copy(), opt.velocity["w"][1].copy()
    bad = g.copy()
    bad[1] = np.nan
    active = np.array([True, False, True])
    opt.step(params, {"w": bad}, np.array([0.2, 0.4, 0.6]), active=active)
    np.testing.assert_array_equal(params["w"][1], frozen_w)
    np.testing.assert_array_equal(opt.velocity["w"][1], frozen_v)
    assert np.all(np.isfinite(params["w"])) and np.all(np.isfinite(opt.velocity["w"]))
    assert opt.prev_lr[1] == 0.2  # the frozen member keeps its previous rate too

    ref = SGD(momentum=0.9, weight_decay=1e-2, lr_in_momentum=inside)
    p = {"w": w0.copy()}
    ref.step(p, {"w": g}, np.array([0.1, 0.2, 0.3]))
    ref.step(p, {"w": g}, np.array([0.2, 0.4, 0.6]))
    np.testing.assert_allclose(params["w"][[0, 2]], p["w"][[0, 2]], rtol=1e-14)


def test_float32_params_stay_float32_with_float64_rates():
    params = {"w": np.ones((2, 3), dtype=np.float32)}
    SGD(momentum=0.9).step(params, {"w": np.ones((2, 3), np.float32)}, np.array([0.1, 0.2]))
    assert params["w"].dtype == np.float32
    np.testing.assert_allclose(params["w"][:, 0], [0.9, 0.8], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"momentum": -0.1}, r"momentum must be a finite number in \[0, 1\)"),
        ({"momentum": 1.0}, r"momentum must be a finite number in \[0, 1\)"),
        ({"weight_decay": -1e-4}, "weight_decay must be a finite number >= 0"),
        ({"weight_decay": float("nan")}, "weight_decay must be a finite number >= 0"),
        ({"exclude_from_weight_decay": ("bn",)}, r"exclude_from_weight_decay\[0\] must be one of"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD(**kwargs)
