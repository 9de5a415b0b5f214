import numpy as np
import pytest

from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.batchnorm import BatchNorm
from largebatch_sim.optim import LARS, SGD
from largebatch_sim.runs import RunConfig
from largebatch_sim.runs.recipe import build_optimizer

E_DIR = np.array([0.6, 0.8])  # unit vector: w = a e and g = c e have norms |a| and |c|
GRADS = [1.0, 2.0, -1.0]


def run(opt, lrs, grads=GRADS, a0=5.0, kinds=None):
    """Positions a_t of w = a e (one member, shape (1, 2)) and the local rates, per step."""
    params = {"w": a0 * E_DIR[None].copy()}
    out, lams = [], []
    for lr, c in zip(lrs, grads, strict=True):
        opt.step(params, {"w": c * E_DIR[None]}, lr, kinds=kinds)
        out.append(params["w"][0] @ E_DIR)
        lams.append(opt.local_lr["w"][0])
    return np.array(out), np.array(lams)


def test_algorithm_1_by_hand():
    # eta 0.1, beta 0.01, m 0.9, gamma 1:
    # t=1: a 5,   g 1:  lambda = 0.5 / (1 + 0.05),    v = lambda * 1.05 = 0.5,          a 4.5
    # t=2: a 4.5, g 2:  lambda = 0.45 / (2 + 0.045),  v = 0.45 + lambda * 2.045 = 0.9, a 3.6
    # t=3: a 3.6, g -1: lambda = 0.36 / (1 + 0.036),  v = 0.81 + lambda * (-0.964)
    opt = LARS(momentum=0.9, weight_decay=0.01, trust_coefficient=0.1)
    a, lam = run(opt, [1.0] * 3)
    lam3 = 0.36 / 1.036
    np.testing.assert_allclose(a, [4.5, 3.6, 3.6 - (0.81 - 0.964 * lam3)])
    np.testing.assert_allclose(lam, [0.5 / 1.05, 0.45 / 2.045, lam3])
    np.testing.assert_allclose(opt.effective_lr["w"], [lam3])  # gamma lambda, gamma = 1


def test_optax_denominator_uses_the_norm_of_the_decayed_gradient():
    # as above until t=3, where ||g + beta w|| = 0.964, not ||g|| + beta ||w|| = 1.036
    opt = LARS(momentum=0.9, weight_decay=0.01, trust_coefficient=0.1, denominator="optax")
    a, lam = run(opt, [1.0] * 3)
    np.testing.assert_allclose(a, [4.5, 3.6, 3.6 - (0.81 - 0.36)])
    assert lam[-1] == pytest.approx(0.36 / 0.964)


def test_lr_outside_momentum_equals_inside_for_a_constant_rate():
    kw = dict(momentum=0.9, weight_decay=0.01, trust_coefficient=0.1)
    inside, _ = run(LARS(**kw), [0.5] * 3)
    outside, _ = run(LARS(**kw, lr_in_momentum=False), [0.5] * 3)
    np.testing.assert_allclose(outside, inside)
    # t=1: v = 0.5 * lambda * 1.05 = 0.25
    assert inside[0] == pytest.approx(4.75)


def test_clip_mode_rate_is_min_of_global_and_local():
    kw = dict(momentum=0.9, weight_decay=0.01, trust_coefficient=0.1)
    lam1 = 0.5 / 1.05  # t=1 local rate, about 0.476
    # gamma 0.2 < lambda: clipped to gamma, v = 0.2 * 1.05
    clip = LARS(**kw, clip=True)
    a, _ = run(clip, [0.2], grads=[1.0])
    assert a[0] == pytest.approx(5 - 0.21)
    assert clip.effective_lr["w"][0] == pytest.approx(0.2)
    # gamma 2 > lambda: the local rate itself, v = lambda * 1.05 = 0.5 (scale mode: 2 lambda)
    a, _ = run(LARS(**kw, clip=True), [2.0], grads=[1.0])
    assert a[0] == pytest.approx(4.5)
    a, _ = run(LARS(**kw), [2.0], grads=[1.0])
    assert a[0] == pytest.approx(5 - 2 * lam1 * 1.05)


def test_clip_mode_local_rate_is_absolute():
    # while gamma stays above every lambda, the global rate does not matter at all
    kw = dict(momentum=0.9, weight_decay=0.01, trust_coefficient=0.1, clip=True)
    at_2, _ = run(LARS(**kw), [2.0] * 3)
    at_5, _ = run(LARS(**kw), [5.0] * 3)
    np.testing.assert_allclose(at_2, at_5)
    outside, _ = run(LARS(**kw, lr_in_momentum=False), [2.0] * 3)
    np.testing.assert_allclose(outside, at_2)
    np.testing.assert_allclose(run(LARS(**kw), [1.0] * 3)[0], [4.5, 3.6, at_2[-1]])


def test_exclusions_by_kind():
    kinds = {"fc.w": "weight", "fc.b": "bias"}

    def bias_path(opt):
        params = {"fc.w": 5.0 * E_DIR[None], "fc.b": np.ones((1, 1))}
        out = []
        for g in GRADS:
            opt.step(params, {"fc.w": g * E_DIR[None], "fc.b": np.array([[g]])}, 0.1, kinds=kinds)
            out.append(params["fc.b"][0, 0])
        return out

    # excluded from adaptation: lambda = 1, plain momentum SGD with weight decay, lr inside
    opt = LARS(
        momentum=0.9, weight_decay=0.01, trust_coefficient=0.1, exclude_from_adaptation="bias"
    )
    sgd = SGD(momentum=0.9, weight_decay=0.01, lr_in_momentum=True)
    params = {"b": np.ones((1, 1))}
    expected = []
    for g in GRADS:
        sgd.step(params, {"b": np.array([[g]])}, 0.1)
        expected.append(params["b"][0, 0])
    np.testing.assert_allclose(bias_path(opt), expected)
    assert opt.local_lr["fc.b"][0] == 1.0
    assert opt.local_lr["fc.w"][0] != 1.0

    # excluded from weight decay: beta = 0 in the denominator and the update.
    # t=1: lambda = 0.1 * 1 / 1, v = 0.1 * 0.1 * 1 = 0.01
    opt = LARS(
        momentum=0.9, weight_decay=0.01, trust_coefficient=0.1, exclude_from_weight_decay=["bias"]
    )
    assert bias_path(opt)[0] == pytest.approx(0.99)


def test_zero_gradient_gives_trust_ratio_one():
    opt = LARS(momentum=0.9, weight_decay=0.0, trust_coefficient=0.1)
    a, lam = run(opt, [1.0] * 3, grads=[1.0, 0.0, 0.0])
    # t=1: lambda = 0.5, v = 0.5; then zero gradients: lambda = 1 (0/0 avoided), v = 0.9 v
    np.testing.assert_allclose(lam, [0.5, 1.0, 1.0])
    np.testing.assert_allclose(a, [4.5, 4.05, 3.645])
    # optax: g + beta w = 0 is a zero denominator too
    opt = LARS(momentum=0.9, weight_decay=0.1, trust_coefficient=0.1, denominator="optax")
    params = {"w": np.array([[2.0]])}
    opt.step(params, {"w": np.array([[-0.2]])}, 1.0)  # g = -beta w
    assert opt.local_lr["w"][0] == 1.0 and params["w"][0, 0] == 2.0


def test_zero_weight_norm_moves_at_the_global_rate():
    # w = 0: ratio 1 (as optax, torchlars, timm). gamma 0.1, m 0.9, beta 5e-4 (beta w = 0 at t=1):
    # t=1: v = 0.1 * 1 = 0.1, a = -0.1; from t=2 on ||w|| > 0 and the paper's ratio applies
    for clip in (False, True):
        opt = LARS(momentum=0.9, weight_decay=5e-4, clip=clip)
        a, lam = run(opt, [0.1], grads=[1.0], a0=0.0)
        assert lam[0] == 1.0 and a[0] == pytest.approx(-0.1)
    opt = LARS(momentum=0.9, weight_decay=0.0, trust_coefficient=0.1)
    a, lam = run(opt, [0.1] * 2, grads=[1.0, 1.0], a0=0.0)
    np.testing.assert_allclose(lam, [1.0, 0.1 * 0.1 / 1.0])  # t=2: ||w|| = 0.1, ||g|| = 1
    np.testing.assert_allclose(a, [-0.1, -0.1 - (0.9 * 0.1 + 0.1 * 0.01)])


def test_literal_formula_leaves_a_zero_weight_norm_frozen():
    for eps in (0.0, 1e-8):
        opt = LARS(momentum=0.9, weight_decay=5e-4, eps=eps, zero_norm_ratio=0.0)
        a, lam = run(opt, [1.0] * 3, a0=0.0)
        np.testing.assert_array_equal(a, 0.0)
        np.testing.assert_array_equal(lam, 0.0)
    opt = LARS(momentum=0.9, exclude_from_adaptation=("bias",), zero_norm_ratio=0.0)
    a, _ = run(opt, [0.1], grads=[1.0], a0=0.0, kinds={"w": "bias"})  # not adapted: moves
    assert a[0] == pytest.approx(-0.1)


def test_zero_norm_ratio_is_checked():
    with pytest.raises(ValueError, match="zero_norm_ratio"):
        LARS(zero_norm_ratio=0.5)
    with pytest.raises(ValueError, match="lars_zero_norm_ratio"):
        RunConfig(optimizer="lars", lars_zero_norm_ratio=0.5)


@pytest.mark.parametrize("ratio, moves", [(1.0, True), (0.0, False)])
def test_a_zero_initialised_bn_beta_moves_only_with_the_new_default(ratio, moves):
    # the case the default is for: beta starts at 0 and has a gradient (here d loss / d y = 1)
    optimizer = build_optimizer(RunConfig(optimizer="lars", lars_zero_norm_ratio=ratio))
    assert optimizer.trust.zero_norm_ratio == ratio
    model = Sequential([BatchNorm(3, name="bn1")]).init([0, 1], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(2, 4, 3))
    model.forward(x)
    model.backward(np.ones_like(x))  # d beta = 4 per channel, d gamma = sum x_hat = 0
    params = model.named_params()
    optimizer.step(params, model.named_grads(), 0.1, kinds=model.named_kinds())
    # ratio 1: beta = -0.1 * 4 (momentum starts at 0, beta ||w|| = 0); ratio 0: exactly 0
    np.testing.assert_allclose(params["bn1.beta"], -0.4 if moves else 0.0)
    np.testing.assert_array_equal(optimizer.local_lr["bn1.beta"], ratio)


def test_zero_norm_members_of_an_ensemble_are_treated_apart():
    # member 0 starts at 0 (ratio 1), member 1 at 5 e (ratio eta ||w|| / ||g||)
    opt = LARS(momentum=0.0, weight_decay=0.0, trust_coefficient=0.1)
    params = {"w": np.stack([np.zeros(2), 5.0 * E_DIR])}
    opt.step(params, {"w": np.stack([E_DIR, E_DIR])}, 1.0)
    np.testing.assert_allclose(opt.local_lr["w"], [1.0, 0.5])
    np.testing.assert_allclose(params["w"], [-E_DIR, 4.5 * E_DIR])


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("inside", [False, True])
def test_zero_lr_leaves_params_unchanged(clip, inside):
    opt = LARS(clip=clip, lr_in_momentum=inside)
    a, lam = run(opt, [0.0] * 3)
    np.testing.assert_array_equal(a, 5.0)
    assert np.all(np.isfinite(lam)) and opt.effective_lr["w"][0] == 0.0


@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("inside", [False, True])
def test_ensemble_members_equal_runs_alone(clip, inside):
    rng = np.random.default_rng(0)
    w0 = {"fc.w": rng.normal(size=(3, 4, 5)), "fc.b": rng.normal(size=(3, 5))}
    w0["fc.w"][2] *= 10  # members differ in scale: norms are per member
    grads = [{k: rng.normal(size=v.shape) for k, v in w0.items()} for _ in range(3)]
    kinds = {"fc.w": "weight", "fc.b": "bias"}
    lrs = np.array([0.5, 2.0, 8.0])
    kw = dict(clip=clip, lr_in_momentum=inside, trust_coefficient=0.01)
    kw |= dict(exclude_from_weight_decay=("bias",))
    opt = LARS(**kw)
    params = {k: v.copy() for k, v in w0.items()}
    for t in range(3):
        opt.step(params, grads[t], lrs * (t + 1), kinds=kinds)
    for e in range(3):
        alone = LARS(**kw)
        p = {k: v[e : e + 1].copy() for k, v in w0.items()}
        for t in range(3):
            g = {k: v[e : e + 1] for k, v in grads[t].items()}
            alone.step(p, g, float(lrs[e] * (t + 1)), kinds=kinds)
        for k in p:
            np.testing.assert_allclose(params[k][e : e + 1], p[k], rtol=1e-13)
        np.testing.assert_allclose(opt.local_lr["fc.w"][e], alone.local_lr["fc.w"][0])


def test_active_mask_freezes_a_nan_member():
    rng = np.random.default_rng(3)
    w0, g = rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    opt = LARS(trust_coefficient=0.01)
    params = {"w": w0.copy()}
    opt.step(params, {"w": g}, 1.0)
    frozen_w, frozen_v = params["w"][1].copy(), opt.velocity["w"][1].copy()
    bad = g.copy()
    bad[1, 2] = np.nan
    opt.step(params, {"w": bad}, 1.0, active=np.array([True, False, True]))
    np.testing.assert_array_equal(params["w"][1], frozen_w)
    np.testing.assert_array_equal(opt.velocity["w"][1], frozen_v)
    assert np.all(np.isfinite(params["w"])) and np.all(np.isfinite(opt.velocity["w"]))
    assert np.all(np.isfinite(opt.local_lr["w"][[0, 2]]))

    ref = LARS(trust_coefficient=0.01)
    p = {"w": w0.copy()}
    ref.step(p, {"w": g}, 1.0)
    ref.step(p, {"w": g}, 1.0)
    np.testing.assert_allclose(params["w"][[0, 2]], p["w"][[0, 2]], rtol=1e-14)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"momentum": 1.0}, r"momentum must be a finite number in \[0, 1\)"),
        ({"weight_decay": -1.0}, "weight_decay must be a finite number >= 0"),
        ({"trust_coefficient": 0.0}, "trust_coefficient must be a finite number > 0"),
        ({"trust_coefficient": -1.0}, "trust_coefficient must be a finite number"),
        ({"eps": -1e-9}, "eps must be a finite number >= 0"),
        ({"denominator": "lamb"}, r"denominator must be one of \('paper', 'optax'\)"),
        ({"exclude_from_adaptation": ("biases",)}, r"exclude_from_adaptation\[0\] must be one of"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LARS(**kwargs)
