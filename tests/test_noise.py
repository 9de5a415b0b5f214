"""Noise-scale estimators: unbiased two-batch estimates on Gaussian gradients with known G and
Sigma, B_noise through finite-difference Hessian-vector products against a quadratic's closed
form, negative estimates, and both estimators on a small float64 MLP."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis.noise import (
    BSimple,
    DebiasedEMA,
    ModelGradients,
    b_noise,
    b_simple,
    debiased_ema,
    hessian_vector_product,
    model_b_noise,
    noise_scale_frame,
    quadratic_b_noise,
    quadratic_b_simple,
    two_batch_estimates,
)
from largebatch_sim.nn.losses import softmax_cross_entropy
from largebatch_sim.nn.models import mlp

DIM = 50


def _gaussian_problem(seed=0):
    """A true gradient G and a per-example covariance Sigma with spread eigenvalues."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    sigma = (q * np.geomspace(0.05, 2.0, DIM)) @ q.T
    G = rng.standard_normal(DIM)
    G *= np.sqrt(np.trace(sigma) / 16.0) / np.linalg.norm(G)  # B_simple = 16
    return G, sigma


def _chunked_norms(G, sigma, trials, b_small, b_big, rng):
    """Squared norms over ``trials`` independent big batches split into chunks of b_small:
    (mean_j |G_small,j|^2, |G_big|^2), mean-loss gradients, each (trials,)."""
    g = G + rng.standard_normal((trials, b_big, DIM)) @ np.linalg.cholesky(sigma).T
    chunks = g.reshape(trials, b_big // b_small, b_small, DIM).mean(axis=2)
    g_small_sq = (chunks**2).sum(axis=-1).mean(axis=1)
    g_big_sq = (g.mean(axis=1) ** 2).sum(axis=-1)
    return g_small_sq, g_big_sq


def _within(samples, truth, sigmas=4.0):
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert abs(samples.mean() - truth) < sigmas * se, (samples.mean(), truth, se)


def test_two_batch_estimates_are_unbiased():
    G, sigma = _gaussian_problem()
    rng = np.random.default_rng(1)
    g_small_sq, g_big_sq = _chunked_norms(G, sigma, 4000, 8, 32, rng)
    g2, trace = two_batch_estimates(g_small_sq, g_big_sq, 8, 32)
    _within(g2, G @ G)
    _within(trace, np.trace(sigma))
    # elementwise over (E, T): the same numbers arranged as 4 members x 1000 steps
    g2_e, trace_e = two_batch_estimates(g_small_sq.reshape(4, -1), g_big_sq.reshape(4, -1), 8, 32)
    np.testing.assert_array_equal(g2_e, g2.reshape(4, -1))
    assert trace_e.shape == (4, 1000)


def test_ratio_of_averages_approaches_b_simple():
    G, sigma = _gaussian_problem()
    truth = np.trace(sigma) / (G @ G)
    rng = np.random.default_rng(2)
    g_small_sq, g_big_sq = _chunked_norms(G, sigma, 4000, 8, 32, rng)
    g2, trace = two_batch_estimates(g_small_sq.reshape(4, -1), g_big_sq.reshape(4, -1), 8, 32)
    result = b_simple(g2, trace, beta=0.995)  # members x steps
    assert isinstance(result, BSimple) and result.value.shape == (4, 1000)
    assert result.valid[:, -1].all()
    np.testing.assert_allclose(result.value[:, -1], truth, rtol=0.15)
    np.testing.assert_allclose(result.value[:, -1].mean(), truth, rtol=0.08)
    # a longer average comes closer: the ratio of the means over all 4000 estimates
    np.testing.assert_allclose(trace.mean() / g2.mean(), truth, rtol=0.05)


@pytest.mark.parametrize("b_small", [4, 8, 16])
def test_b_simple_does_not_depend_on_the_split(b_small):
    G, sigma = _gaussian_problem()
    rng = np.random.default_rng(3)
    g_small_sq, g_big_sq = _chunked_norms(G, sigma, 4000, b_small, 32, rng)
    g2, trace = two_batch_estimates(g_small_sq, g_big_sq, b_small, 32)
    _within(g2, G @ G)
    _within(trace, np.trace(sigma))
    np.testing.assert_allclose(trace.mean() / g2.mean(), np.trace(sigma) / (G @ G), rtol=0.05)


def test_mean_sum_and_global_losses_give_the_same_estimates():
    rng = np.random.default_rng(4)
    g_small_sq, g_big_sq = rng.uniform(1, 2, (3, 20)), rng.uniform(0.2, 1, (3, 20))
    b_small, b_big = 8, 64
    mean = two_batch_estimates(g_small_sq, g_big_sq, b_small, b_big)
    # gradients of summed losses are B times the mean-loss gradients
    summed = two_batch_estimates(
        b_small**2 * g_small_sq, b_big**2 * g_big_sq, b_small, b_big, reduction="sum"
    )
    # a chunk's share of the loss averaged over the big batch is (B_small / B_big) G_small
    share = two_batch_estimates(
        (b_small / b_big) ** 2 * g_small_sq, g_big_sq, b_small, b_big, reduction="global"
    )
    for other in (summed, share):
        np.testing.assert_allclose(other[0], mean[0])
        np.testing.assert_allclose(other[1], mean[1])
    # scaling every example's loss by c scales both estimates by c^2: B_simple is unchanged
    scaled = two_batch_estimates(9.0 * g_small_sq, 9.0 * g_big_sq, b_small, b_big)
    np.testing.assert_allclose(b_simple(*scaled).value, b_simple(*mean).value)


def test_two_batch_estimates_reject_bad_sizes():
    for b_small, b_big in [(8, 8), (16, 8), (0, 8), (-4, 8), (4, np.inf)]:
        with pytest.raises(ValueError, match="b_small|b_big"):
            two_batch_estimates(1.0, 1.0, b_small, b_big)
    with pytest.raises(ValueError, match="reduction"):
        two_batch_estimates(1.0, 1.0, 4, 8, reduction="median")


def test_debiased_ema_matches_a_loop_and_the_online_average():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 30))
    beta = 0.9
    expected, m = np.empty_like(x), np.zeros(3)
    online = DebiasedEMA(beta)
    for t in range(30):
        m = beta * m + (1 - beta) * x[:, t]
        expected[:, t] = m / (1 - beta ** (t + 1))
        np.testing.assert_allclose(online.update(x[:, t]), expected[:, t])
    np.testing.assert_allclose(debiased_ema(x, beta), expected)
    np.testing.assert_allclose(debiased_ema(x.T, beta, axis=0), expected.T)
    np.testing.assert_allclose(debiased_ema(x, beta)[:, 0], x[:, 0])  # no pull towards 0
    np.testing.assert_allclose(debiased_ema(np.full((2, 5), 3.0), 0.99), 3.0)
    with pytest.raises(ValueError, match="beta"):
        debiased_ema(x, 1.0)


def test_negative_and_zero_estimates_are_flagged_not_plotted():
    g2 = np.array([[-2.0, -2.0, 1.0, 4.0, 4.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    trace = np.array([[5.0, 5.0, 5.0, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    result = b_simple(g2, trace, beta=0.5)
    # member 0: the |G|^2 average is negative at first, positive once the 4s come in
    np.testing.assert_array_equal(result.valid[0], [False, False, False, True, True])
    assert np.isnan(result.value[0, :3]).all() and np.isfinite(result.value[0, 3:]).all()
    np.testing.assert_allclose(result.value[0, 3:], 5.0 / result.g2_ema[0, 3:])
    assert not result.valid[1].any() and np.isnan(result.value[1]).all()  # zero: no ratio
    np.testing.assert_array_equal(result.n_nonpositive_g2, [2, 5])
    np.testing.assert_array_equal(result.n_negative_trace, [0, 0])
    # a negative tr(Sigma) average has no meaning either; a NaN poisons the rest of its member
    result = b_simple(np.ones((2, 3)), np.array([[-1.0, -1.0, -1.0], [1.0, np.nan, 1.0]]))
    np.testing.assert_array_equal(result.valid, [[False, False, False], [True, False, False]])
    assert np.isnan(result.value[~result.valid]).all()
    np.testing.assert_array_equal(result.n_negative_trace, [3, 0])


def test_few_chunks_late_in_training_give_negative_estimates_that_stay_in_the_average():
    # |G|^2 small against tr(Sigma) / B_big: many single estimates are negative
    G, sigma = _gaussian_problem()
    G = G / 8.0  # B_simple = 1024 against B_big = 32
    rng = np.random.default_rng(6)
    g_small_sq, g_big_sq = _chunked_norms(G, sigma, 3000, 16, 32, rng)
    g2, trace = two_batch_estimates(g_small_sq, g_big_sq, 16, 32)
    assert (g2 <= 0).mean() > 0.3
    _within(g2, G @ G)  # dropping the negatives would bias this upwards
    result = b_simple(g2[None], trace[None], beta=0.9)
    assert result.n_nonpositive_g2[0] == (g2 <= 0).sum()
    assert not result.valid.all()  # the short average dips below zero at times
    assert np.isnan(result.value[~result.valid]).all()
    assert np.isfinite(result.value[result.valid]).all() and (result.value[result.valid] > 0).all()


def test_noise_scale_frame_from_a_recorded_table():
    rng = np.random.default_rng(7)
    rows = [
        (step, member, rng.uniform(1.5, 2.0), rng.uniform(0.5, 1.0))
        for step in range(0, 50, 10)
        for member in range(2)
    ]
    table = pd.DataFrame(rows, columns=["step", "member", "g_small_sq", "g_big_sq"])
    table = table.sample(frac=1.0, random_state=0)  # any row order
    frame = noise_scale_frame(table, 8, 32, beta=0.8)
    new = ["g2_est", "trace_est", "g2_ema", "trace_ema", "b_simple", "valid"]
    assert set(new) <= set(frame.columns) and frame.valid.dtype == bool
    assert list(frame.member) == [0] * 5 + [1] * 5 and list(frame.step[:5]) == [0, 10, 20, 30, 40]
    member1 = frame[frame.member == 1]
    g2, trace = two_batch_estimates(member1.g_small_sq.to_numpy(), member1.g_big_sq, 8, 32)
    expected = b_simple(g2.to_numpy(), trace.to_numpy(), beta=0.8)
    np.testing.assert_allclose(member1.b_simple, expected.value)
    # the batch sizes may come from the table's own columns
    with_sizes = table.assign(b_small=8, b_big=32)
    np.testing.assert_allclose(noise_scale_frame(with_sizes, beta=0.8).b_simple, frame.b_simple)
    empty = noise_scale_frame(with_sizes.iloc[:0])
    assert empty.empty and {"b_simple", "valid"} <= set(empty.columns)
    with pytest.raises(ValueError, match="lacks columns"):
        noise_scale_frame(table.drop(columns="g_big_sq"), 8, 32)
    with pytest.raises(ValueError, match="b_small"):
        noise_scale_frame(table)
    with pytest.raises(ValueError, match="more than one row"):
        noise_scale_frame(pd.concat([table, table]), 8, 32)


# --- B_noise on a quadratic with known H and Sigma ------------------------------------------


def _quadratic(seed=8, d=6, n=400):
    """l_i(w) = 1/2 (w - w*)^T H (w - w*) + xi_i^T w with centred xi: g_i = H (w - w*) + xi_i,
    so G = H (w - w*) and Sigma = mean xi xi^T exactly."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d))
    H = a @ a.T / d + 0.1 * np.eye(d)
    xi = rng.standard_normal((n, d)) * np.linspace(0.5, 2.0, d)
    xi -= xi.mean(axis=0)
    w_star, w = rng.standard_normal(d), rng.standard_normal(d)

    def grad_fn(v):
        return H @ (v - w_star)

    def sample_grad_fn(v, idx):
        return H @ (v - w_star) + xi[np.asarray(idx)].mean(axis=0)

    return H, xi.T @ xi / n, grad_fn, sample_grad_fn, w, H @ (w - w_star)


def test_hessian_vector_product_by_finite_differences():
    H, _, grad_fn, _, w, _ = _quadratic()
    v = np.random.default_rng(9).standard_normal(len(w)) * 1e3  # any size: the step is eps
    np.testing.assert_allclose(hessian_vector_product(grad_fn, w, v), H @ v, rtol=1e-8)
    np.testing.assert_array_equal(hessian_vector_product(grad_fn, w, 0 * v), 0 * v)


def test_b_noise_equals_the_closed_form_on_a_quadratic():
    H, sigma, grad_fn, sample_grad_fn, w, G = _quadratic()
    exact = b_noise(grad_fn, sample_grad_fn, w, 400, samples=None)
    assert exact.b_noise_valid and exact.trace_h_sigma_se == 0.0
    np.testing.assert_allclose(exact.b_noise, quadratic_b_noise(H, sigma, G), rtol=1e-7)
    np.testing.assert_allclose(exact.b_simple, quadratic_b_simple(H, sigma, G), rtol=1e-7)
    np.testing.assert_allclose(exact.g_h_g, G @ H @ G, rtol=1e-7)
    assert exact.grad_evals == 3 + 2 * 400 and exact.sample_grad_evals == 400
    # sampled per-example gradients and chunks of 4: unbiased within their standard error
    truth = np.trace(H @ sigma)
    for chunk, samples in [(1, 400), (4, 200)]:
        est = b_noise(grad_fn, sample_grad_fn, w, 400, samples=samples, chunk=chunk, seed=1)
        assert est.chunk == chunk and est.samples == samples
        assert abs(est.trace_h_sigma - truth) < 4 * est.trace_h_sigma_se
        assert 0 < est.trace_h_sigma_se < 0.2 * truth
        np.testing.assert_allclose(est.b_noise_se, est.trace_h_sigma_se / est.g_h_g)
    with pytest.raises(ValueError, match="chunk=1"):
        b_noise(grad_fn, sample_grad_fn, w, 400, samples=None, chunk=2)
    with pytest.raises(ValueError, match="samples"):
        b_noise(grad_fn, sample_grad_fn, w, 400, samples=1)


def test_closed_forms():
    H, sigma, _, _, _, G = _quadratic()
    assert quadratic_b_simple(H, sigma, G) == pytest.approx(np.trace(sigma) / (G @ G))
    assert quadratic_b_noise(H, sigma, G) == pytest.approx(np.trace(H @ sigma) / (G @ H @ G))
    # diagonals as vectors equal the same diagonal matrices
    h, s = np.diag(H).copy(), np.diag(sigma).copy()
    for H_, S_ in [(h, s), (np.diag(h), s), (h, np.diag(s))]:
        assert quadratic_b_noise(H_, S_, G) == pytest.approx(
            quadratic_b_noise(np.diag(h), np.diag(s), G)
        )
    # Zhang et al.'s noisy quadratic (Sigma = H): sum h^2 / sum h^3 (w - w*)^2
    h = 1.0 / np.arange(1, 11)
    delta = np.ones(10)
    assert quadratic_b_noise(h, h, h * delta) == pytest.approx(np.sum(h**2) / np.sum(h**3))
    assert quadratic_b_simple(h, h, h * delta) == pytest.approx(np.sum(h) / np.sum(h**2))
    with pytest.raises(ValueError, match="Sigma"):
        quadratic_b_noise(H, np.ones((3, 3)), G)


# --- a small MLP ------------------------------------------------------------------------------


def _mlp_task(ensemble=1, n=256, seed=10):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, n, 8))
    teacher = rng.standard_normal((8, 3))
    y = (x[0] @ teacher + 0.5 * rng.standard_normal((n, 3))).argmax(axis=1)[None]
    model = mlp([8, 16, 3]).init([0] * ensemble, dtype=np.float64)  # identical members
    return model, x, y


def _loss(model, grads, w, x, y):
    grads.unflatten(w)
    loss, _ = softmax_cross_entropy(model.forward(x), y)
    return float(loss[0])


def test_model_adapter_flattens_consistently_and_leaves_the_model_unchanged():
    model, x, y = _mlp_task()
    grads = ModelGradients(model, x, y, batch=100)  # the full gradient in 3 passes
    before = {k: v.copy() for k, v in model.named_params().items()}
    w0 = grads.w0.copy()
    G = grads.grad(w0)
    assert G.shape == (model.num_params(),)
    for k, v in model.named_params().items():
        np.testing.assert_array_equal(v, before[k])
    # the flat gradient is the derivative of the loss along any flat direction
    v = np.random.default_rng(11).standard_normal(len(w0))
    h = 1e-6
    slope = (_loss(model, grads, w0 + h * v, x, y) - _loss(model, grads, w0 - h * v, x, y)) / 2 / h
    grads.unflatten(w0)
    np.testing.assert_allclose(G @ v, slope, rtol=1e-6)
    # the mean of all per-example gradients is the full gradient
    per_example = np.stack([grads.sample_grad(w0, [i]) for i in range(x.shape[1])])
    np.testing.assert_allclose(per_example.mean(axis=0), G, atol=1e-12)
    with pytest.raises(ValueError, match="float64"):
        ModelGradients(mlp([8, 3]).init(0, dtype=np.float32), x, y)


def test_mlp_b_noise_and_two_batch_b_simple_agree_with_brute_force():
    model, x, y = _mlp_task()
    result = model_b_noise(model, x, y, samples=64, seed=0)
    assert result.b_noise_valid and np.isfinite(result.b_noise) and result.b_noise > 0
    assert result.g_h_g > 0 and 0 < result.b_noise_se < result.b_noise

    # brute force: every per-example gradient
    grads = ModelGradients(model, x, y)
    per_example = np.stack([grads.sample_grad(grads.w0, [i]) for i in range(x.shape[1])])
    G = per_example.mean(axis=0)
    truth = np.sum((per_example - G) ** 2) / len(per_example) / (G @ G)

    # the two-batch estimator on the same model: 64 identical members, each drawing its own
    # big batches of 32 (with replacement) split into 4 chunks of 8, mean loss per chunk
    E, b_small, b_big, rounds = 64, 8, 32, 25
    ensemble, _, _ = _mlp_task(ensemble=E)
    rng = np.random.default_rng(12)
    rows = []
    for step in range(rounds):
        idx = rng.integers(0, x.shape[1], (E, b_big))
        chunk_grads = []
        for j in range(b_big // b_small):
            part = idx[:, j * b_small : (j + 1) * b_small]
            _, dlogits = softmax_cross_entropy(ensemble.forward(x[0][part]), y[0][part])
            ensemble.backward(dlogits)
            flat = [g.reshape(E, -1) for g in ensemble.named_grads().values()]
            chunk_grads.append(np.concatenate(flat, axis=1))
        chunk_grads = np.stack(chunk_grads)  # (k, E, d)
        g_small_sq = (chunk_grads**2).sum(axis=-1).mean(axis=0)
        g_big_sq = (chunk_grads.mean(axis=0) ** 2).sum(axis=-1)
        rows += [(step, e, g_small_sq[e], g_big_sq[e]) for e in range(E)]
    table = pd.DataFrame(rows, columns=["step", "member", "g_small_sq", "g_big_sq"])
    frame = noise_scale_frame(table, b_small, b_big)
    estimate = frame.trace_est.mean() / frame.g2_est.mean()
    np.testing.assert_allclose(estimate, truth, rtol=0.05)
    # B_noise over every example once: its B_simple is the brute force's, and the sampled
    # B_noise agrees with it within the sampled standard error
    exact = model_b_noise(model, x, y, samples=None)
    np.testing.assert_allclose(exact.b_simple, truth, rtol=1e-10)
    assert abs(result.b_noise - exact.b_noise) < 4 * result.b_noise_se


def test_a_single_runs_table_without_member_column_is_member_0():
    table = pd.DataFrame(
        {
            "step": [0, 1],
            "g_small_sq": [2.0, 2.0],
            "g_big_sq": [1.0, 1.0],
            "b_small": [4, 4],
            "b_big": [16, 16],
        }
    )
    frame = noise_scale_frame(table)
    assert list(frame.member) == [0, 0] and frame.valid.all()
