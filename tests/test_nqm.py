"""The noisy quadratic model: closed forms against the recursion and against sampled runs;
steps to a target, the best learning rate and the critical batch size behave as Zhang et al.
describe; divergence is +inf, never NaN; the quadratic's noise scales by hand."""

import numpy as np
import pytest

from largebatch_sim.analysis import nqm

H20 = nqm.curvatures(20)
# (beta, p, lr): SGD, preconditioning, momentum (complex and real roots, r_1 < 0, a double
# root), and unstable rates (the closed form is exact there too)
CASES = [
    (0.0, 0.0, 0.5),
    (0.0, 0.0, 1.0),
    (0.0, 0.5, 1.5),
    (0.0, 0.75, 0.3),
    (0.9, 0.0, 0.3),
    (0.9, 0.0, 3.79),
    (0.5, 0.5, 0.7),
    (0.6, 0.0, 3.18),
    (0.25, 0.0, 2.25),
    (0.0, 0.0, 2.3),
    (0.6, 0.0, 3.4),
]


def _recursion(lr, batch, h, beta, p, steps):
    """Iterate m <- M m + (sigma^2, 0, 0) from m_0 = (1, 1, 1): E theta_t^2 for t = 0..steps."""
    m = nqm.transition_matrix(lr, h, beta, p)
    noise = nqm.noise_variance(lr, batch, h, p)
    state = np.ones((h.size, 3))
    out = [state[:, 0].copy()]
    for _ in range(steps):
        state = np.matmul(m, state[..., None])[..., 0]
        state[:, 0] += noise
        out.append(state[:, 0].copy())
    return np.array(out)


@pytest.mark.parametrize("beta, p, lr", CASES)
def test_closed_form_equals_recursion(beta, p, lr):
    batch = 4.0
    exact = _recursion(lr, batch, H20, beta, p, 60)
    closed = nqm.second_moments(np.arange(61), lr, batch, H20, beta, p)
    np.testing.assert_allclose(closed, exact, rtol=1e-10)
    # and the matrix power with the fixed point m* = (I - M)^-1 (sigma^2, 0, 0)
    m = nqm.transition_matrix(lr, H20, beta, p)
    n = np.zeros((H20.size, 3))
    n[:, 0] = nqm.noise_variance(lr, batch, H20, p)
    fixed = np.linalg.solve(np.eye(3) - m, n[..., None])[..., 0]
    m37 = np.linalg.matrix_power(m, 37)
    power = fixed + np.matmul(m37, (1.0 - fixed)[..., None])[..., 0]
    np.testing.assert_allclose(closed[37], power[:, 0], rtol=1e-8)


def test_sgd_closed_form_is_the_textbook_one():
    lr, batch = 0.3, 8.0
    t = np.array([0, 1, 5, 200])
    s_inf = lr / (batch * (2 - lr * H20))
    expected = s_inf + (1 - lr * H20) ** (2 * t[:, None]) * (1 - s_inf)
    np.testing.assert_allclose(nqm.second_moments(t, lr, batch, H20), expected, rtol=1e-12)


@pytest.mark.parametrize("beta, p, lr", [(0.0, 0.0, 0.8), (0.9, 0.0, 0.15), (0.0, 0.5, 0.5)])
def test_closed_form_matches_monte_carlo(beta, p, lr):
    trials, steps, batch = 20_000, [0, 3, 10, 40], 2.0
    sampled = nqm.monte_carlo(steps, lr, batch, H20, beta, p, trials=trials, seed=1)
    exact = nqm.second_moments(np.array(steps), lr, batch, H20, beta, p)
    # theta_t is a zero-mean Gaussian, so Var theta^2 = 2 (E theta^2)^2
    se = np.sqrt(2.0 / trials) * exact
    assert np.all(np.abs(sampled - exact) < 5 * se)
    loss_mc, loss = 0.5 * sampled @ H20, 0.5 * exact @ H20
    assert np.all(np.abs(loss_mc - loss) < 5 * np.sqrt(2.0 / trials) * loss)


def test_expected_loss_grid_and_curve_agree_with_second_moments():
    lrs, batches = np.array([0.1, 0.9]), np.array([1.0, 16.0, 256.0])
    for beta, p in [(0.0, 0.0), (0.9, 0.0), (0.0, 0.5)]:
        grid = nqm.expected_loss(25, lrs, batches, H20, beta, p)
        assert grid.shape == (2, 3)
        for i, a in enumerate(lrs):
            for j, b in enumerate(batches):
                s = nqm.second_moments(25, a, b, H20, beta, p)
                assert grid[i, j] == pytest.approx(0.5 * s @ H20, rel=1e-12)
        floor = nqm.noise_floor(lrs, batches, H20, beta, p)
        far = nqm.expected_loss(10**7, lrs, batches, H20, beta, p)
        np.testing.assert_allclose(floor, far, rtol=1e-9)
        curve = nqm.loss_curve(np.array([0, 25]), 0.9, 16.0, H20, beta, p)
        assert curve[0] == pytest.approx(nqm.initial_loss(H20))
        assert curve[1] == pytest.approx(grid[1, 1], rel=1e-12)


@pytest.mark.parametrize("beta, p", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.5)])
def test_divergent_rate_gives_inf_never_nan(beta, p):
    top = nqm.max_stable_lr(H20, beta, p)
    lrs = np.array([0.5 * top, top, 1.5 * top])
    assert nqm.diverges(lrs, H20, beta, p).tolist() == [False, True, True]
    loss = nqm.expected_loss(
        np.array([[0], [10**6], [5]]), lrs, np.array([1.0, 64.0]), H20, beta, p
    )
    assert not np.isnan(loss).any()
    assert np.all(np.isinf(loss[1:])) and np.all(np.isfinite(loss[0]))
    steps = nqm.steps_to_target(0.5, lrs, np.array([1.0, 64.0]), H20, beta, p)
    assert np.all(np.isinf(steps[1:])) and not np.isnan(steps).any()
    curve = nqm.loss_curve(np.array([0, 1, 10**6]), 1.5 * top, 4.0, H20, beta, p)
    assert curve[0] == pytest.approx(nqm.initial_loss(H20)) and np.all(np.isinf(curve[1:]))
    # exact moments grow in the unstable dimension, and overflow to +inf, not NaN
    s = nqm.second_moments(np.array([10, 10**6]), 1.5 * top, 4.0, H20, beta, p)
    assert s[0, 0] > 1 and s[1, 0] == np.inf and not np.isnan(s).any()


def test_steps_to_target_is_the_first_integer_step_below_the_target():
    lrs, batches, target = np.array([0.05, 0.4, 1.2]), np.array([2.0, 64.0]), 0.4
    for beta, p in [(0.0, 0.0), (0.9, 0.0), (0.0, 0.25)]:
        steps = nqm.steps_to_target(target, lrs, batches, H20, beta, p)
        assert np.isfinite(steps).any()
        for (i, j), t in np.ndenumerate(steps):
            if np.isfinite(t):
                before, at = nqm.loss_curve(np.array([t - 1, t]), lrs[i], batches[j], H20, beta, p)
                assert at <= target < before
                if beta == 0.0:
                    # SGD's loss falls monotonically here: no earlier crossing. (An under-damped
                    # momentum run oscillates, and may dip below the target between two points
                    # of the scan before t: the caveat in the module docstring.)
                    earlier = nqm.loss_curve(np.arange(t), lrs[i], batches[j], H20, beta, p)
                    assert np.all(earlier > target)
    # unreachable: a tiny rate, or a noise floor above the target
    never = nqm.steps_to_target(
        target, np.array([1e-9, 1.9]), np.array([1.0]), H20, max_steps=10**4
    )
    assert np.all(np.isinf(never))
    assert np.all(nqm.steps_to_target(10.0, lrs, batches, H20) == 0)


@pytest.fixture(scope="module")
def sgd_sweep():
    h = nqm.curvatures(300)
    lrs = nqm.lr_grid(2.0**-14, h, per_octave=4)
    batches = 2.0 ** np.arange(0, 15)
    _, best = nqm.sweep(0.05, lrs, batches, h)
    return best


def test_more_batch_never_needs_more_steps(sgd_sweep):
    steps = sgd_sweep.steps.to_numpy()
    assert np.all(np.isfinite(steps)) and np.all(np.diff(steps) <= 0)
    examples = sgd_sweep.examples.to_numpy()
    assert np.all(np.diff(examples) >= -1e-9 * examples[1:])


def test_perfect_scaling_at_small_batch_then_saturation(sgd_sweep):
    ratio = sgd_sweep.steps.to_numpy()[:-1] / sgd_sweep.steps.to_numpy()[1:]
    assert np.all(np.abs(ratio[:3] - 2) < 0.05)  # B = 1, 2, 4, 8: steps halve per doubling
    assert np.all(ratio[-3:] < 1.1)  # the largest batches: almost no gain
    knee = nqm.perfect_scaling_knee(sgd_sweep.batch, sgd_sweep.steps)
    assert 4 < knee < 2**12


def test_best_lr_linear_at_small_batch_then_flat(sgd_sweep):
    lr, batch = sgd_sweep.best_lr.to_numpy(), sgd_sweep.batch.to_numpy()
    # B = 1 .. 32: about proportional to B (log-log slope near 1; the grid has 4 rates per
    # octave and the steps are flat near the optimum, so single doublings are noisier)
    slope = np.polyfit(np.log(batch[:6]), np.log(lr[:6]), 1)[0]
    assert 0.85 < slope < 1.15
    assert np.all(lr[-4:] / lr[-5:-1] < 1.05)  # flat near the stability limit
    assert np.all(lr < nqm.max_stable_lr(nqm.curvatures(300)))
    assert not sgd_sweep.lr_at_edge.iloc[:3].any()


def test_momentum_and_preconditioning_raise_the_critical_batch():
    h = nqm.curvatures(300)
    batches = 2.0 ** np.arange(0, 15)
    knees = {}
    for beta, p in [(0.0, 0.0), (0.9, 0.0), (0.0, 0.5)]:
        top = nqm.max_stable_lr(h, beta, p)
        _, best = nqm.sweep(0.05, nqm.lr_grid(top * 2.0**-16, h, beta, p), batches, h, beta, p)
        knees[beta, p] = nqm.perfect_scaling_knee(best.batch, best.steps)
    assert knees[0.9, 0.0] > 2 * knees[0.0, 0.0]
    assert knees[0.0, 0.5] > 2 * knees[0.0, 0.0]


def test_perfect_scaling_knee_of_the_model_curve():
    b = 2.0 ** np.arange(0, 16)
    s = 100.0 * (1 + 500.0 / b)
    assert nqm.perfect_scaling_knee(b, s) == pytest.approx(502.0, rel=0.05)
    assert np.isnan(nqm.perfect_scaling_knee(b, 1e6 / b))


def test_quadratic_noise_scales_by_hand():
    h = np.array([1.0, 0.5])
    theta = np.array([2.0, -1.0])
    ns = nqm.quadratic_noise_scales(h, theta)
    # G = (2, -0.5): |G|^2 = 4.25, tr(Sigma) = 1.5; G^T H G = 4 + 0.125, tr(H Sigma) = 1.25
    assert ns.b_simple == pytest.approx(1.5 / 4.25)
    assert ns.b_noise == pytest.approx(1.25 / 4.125)
    assert (ns.grad_sq, ns.trace_sigma, ns.g_h_g, ns.trace_h_sigma) == pytest.approx(
        (4.25, 1.5, 4.125, 1.25)
    )
    # a batch of points, another covariance, and the 1/|theta|^2 scaling
    many = nqm.quadratic_noise_scales(h, np.stack([theta, 2 * theta]), sigma=np.array([3.0, 0.0]))
    np.testing.assert_allclose(many.b_simple, [3 / 4.25, 3 / 17.0])
    np.testing.assert_allclose(many.b_noise, [3 / 4.125, 3 / 16.5])
    # at theta = 0 the noise scales are infinite, not NaN
    assert nqm.quadratic_noise_scales(h, np.zeros(2)).b_simple == np.inf


def test_lr_grid_ends_below_the_stability_limit():
    for beta, p in [(0.0, 0.0), (0.9, 0.0), (0.0, 0.75)]:
        top = nqm.max_stable_lr(H20, beta, p)
        lrs = nqm.lr_grid(top * 1e-3, H20, beta, p)
        assert np.all(np.diff(lrs) > 0) and lrs[-1] < top and lrs[0] >= top * 1e-3
        assert not nqm.diverges(lrs, H20, beta, p).any()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: nqm.curvatures(0), "d must"),
        (lambda: nqm.expected_loss(1, [0.0], [1.0], H20), "lrs"),
        (lambda: nqm.expected_loss(1, [0.1], [-1.0], H20), "batches"),
        (lambda: nqm.expected_loss(1.5, [0.1], [1.0], H20), "integers"),
        (lambda: nqm.steps_to_target(0.1, [0.1], [1.0], H20, beta=1.0), "beta"),
        (lambda: nqm.steps_to_target(-1, [0.1], [1.0], H20), "target"),
        (lambda: nqm.second_moments(1, 0.1, 1.0, np.array([1.0, -1.0])), "curvatures"),
        (lambda: nqm.quadratic_noise_scales(H20, np.ones(3)), "dimension"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
