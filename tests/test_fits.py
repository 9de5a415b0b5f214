"""The Pareto-front and learning-rate fits recover known parameters; bad input raises."""

import numpy as np
import pytest

from largebatch_sim.analysis.fits import LRFit, ParetoFit, fit_lr, fit_pareto, pareto_curve

BATCH = 2.0 ** np.arange(3, 13)  # 8 .. 4096
S_MIN, E_MIN = 200.0, 200.0 * 256  # B_crit = 256, inside the measured range


def _steps(batch):
    return S_MIN * (1 + (E_MIN / S_MIN) / batch)


def test_pareto_fit_recovers_exact_points():
    fit = fit_pareto(BATCH, _steps(BATCH))
    assert isinstance(fit, ParetoFit) and fit.n_points == len(BATCH)
    np.testing.assert_allclose([fit.s_min, fit.e_min, fit.b_crit], [S_MIN, E_MIN, 256], rtol=1e-6)
    # the fitted points satisfy the hyperbola (S/S_min - 1)(E/E_min - 1) = 1 with E = B S
    s, e = fit.steps(BATCH), fit.examples(BATCH)
    np.testing.assert_allclose(e, BATCH * s)
    np.testing.assert_allclose((s / fit.s_min - 1) * (e / fit.e_min - 1), 1.0)
    assert fit.s_min_se < 1e-6 * S_MIN and fit.b_crit_se < 1e-6 * 256
    curve = pareto_curve(fit, np.geomspace(8, 4096, 50))
    assert list(curve.columns) == ["batch", "steps", "examples"] and len(curve) == 50


@pytest.mark.parametrize("se", ["covariance", "bootstrap"])
def test_pareto_fit_with_5_percent_noise_is_within_its_errors(se):
    rng = np.random.default_rng(1)
    steps = _steps(BATCH) * np.exp(0.05 * rng.standard_normal(len(BATCH)))
    fit = fit_pareto(BATCH, steps, se=se, n_boot=200)
    assert fit.se_method == se
    for value, err, true in [(fit.s_min, fit.s_min_se, S_MIN), (fit.e_min, fit.e_min_se, E_MIN)]:
        assert 0 < err < 0.2 * true
        assert abs(value - true) < max(4 * err, 0.05 * true)
    assert abs(np.log(fit.b_crit / 256)) < 0.3


def test_pareto_fit_errors_are_calibrated_over_many_noisy_sets():
    rng = np.random.default_rng(2)
    pulls = []
    for _ in range(40):
        steps = _steps(BATCH) * np.exp(0.05 * rng.standard_normal(len(BATCH)))
        fit = fit_pareto(BATCH, steps)
        pulls.append((fit.s_min - S_MIN) / fit.s_min_se)
    assert abs(np.mean(pulls)) < 0.7 and 0.5 < np.std(pulls) < 1.8


def test_lr_fit_recovers_the_svhn_example():
    batch = np.array([16, 32, 64, 128, 256, 512, 1024.0])
    lr = 0.27 * batch / (96 + batch)
    fit = fit_lr(batch, lr)
    assert isinstance(fit, LRFit)
    np.testing.assert_allclose([fit.eps_max, fit.b_star], [0.27, 96], rtol=1e-6)
    np.testing.assert_allclose(fit.lr(batch), lr)
    noisy = lr * np.exp(0.05 * np.random.default_rng(3).standard_normal(len(batch)))
    fit = fit_lr(batch, noisy)
    assert abs(fit.eps_max - 0.27) < max(4 * fit.eps_max_se, 0.03)
    assert abs(fit.b_star - 96) < max(4 * fit.b_star_se, 20)
    boot = fit_lr(batch, noisy, se="bootstrap", n_boot=200)
    assert boot.eps_max == fit.eps_max and boot.eps_max_se > 0


@pytest.mark.parametrize("fit", [fit_pareto, fit_lr])
def test_bad_input_raises(fit):
    with pytest.raises(ValueError, match="at least 3 points"):
        fit([8, 16], [1.0, 2.0])
    with pytest.raises(ValueError, match="finite and positive"):
        fit([8, 16, 32], [1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match="finite and positive"):
        fit([8, 16, 32], [1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="finite and positive"):
        fit([0, 16, 32], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="same length"):
        fit([8, 16, 32], [1.0, 2.0])
    with pytest.raises(ValueError, match="distinct batch sizes"):
        fit([8, 8, 8], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="se must be"):
        fit([8, 16, 32], [1.0, 2.0, 3.0], se="jackknife")


def test_unconstrained_critical_batch_warns():
    batch = np.array([8, 16, 32, 64.0])
    with pytest.warns(RuntimeWarning, match="not constrained"):
        fit_pareto(batch, 1e5 / batch)  # perfect scaling everywhere: B_crit beyond the data
    with pytest.warns(RuntimeWarning, match="not constrained"):
        fit_pareto(batch, 100 + 0 * batch)  # no scaling at all: B_crit below the data
