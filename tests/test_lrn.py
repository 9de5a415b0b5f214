import numpy as np
import pytest

from largebatch_sim.nn.lrn import LocalResponseNorm
from tests.gradcheck import check_layer


def direct_lrn(x, size, alpha, beta, k):
    """b_c = a_c / (k + alpha * sum over the window of a_c'^2)^beta, channel by channel
    (Krizhevsky et al. 2012, section 3.3: no division by the window size)."""
    C = x.shape[2]
    y = np.empty_like(x)
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        s = k + alpha * (x[:, :, lo : hi + 1] ** 2).sum(axis=2)
        y[:, :, c] = x[:, :, c] / s**beta
    return y


# alpha large enough that the normalisation is far from the identity, so the check bites
@pytest.mark.parametrize("size, alpha, k", [(5, 1.0, 1.0), (4, 2.0, 0.5), (3, 1e-4, 2.0)])
def test_lrn_values_and_gradients(size, alpha, k):
    layer = LocalResponseNorm(size, alpha, 0.75, k, name="lrn1")
    x = np.random.default_rng(0).normal(size=(2, 2, 7, 2, 3))
    np.testing.assert_allclose(layer.forward(x), direct_lrn(x, size, alpha, 0.75, k), rtol=1e-12)
    check_layer(layer, x)


def test_window_wider_than_channels_and_zero_input():
    layer = LocalResponseNorm(5, 1.0, 0.75, 1.0, name="lrn1")
    x = np.random.default_rng(1).normal(size=(2, 3, 2, 1, 4))
    np.testing.assert_allclose(layer.forward(x), direct_lrn(x, 5, 1.0, 0.75, 1.0), rtol=1e-12)
    check_layer(layer, x)
    zero = np.zeros((1, 1, 3, 1, 2))
    np.testing.assert_array_equal(layer.forward(zero), zero)
    np.testing.assert_allclose(layer.backward(np.ones_like(zero)), np.ones_like(zero))


def test_alexnet_defaults_and_dtype():
    layer = LocalResponseNorm()
    assert (layer.size, layer.alpha, layer.beta, layer.k) == (5, 1e-4, 0.75, 2.0)
    x = np.ones((1, 1, 6, 1, 2), np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    # channel 2 sees 5 channels of ones: s = 2 + 1e-4 * 5 (the paper's formula, not 2 + 1e-4)
    np.testing.assert_allclose(y[0, 0, 2, 0, 0], (2 + 5e-4) ** -0.75, rtol=1e-6)
    # channel 0 sees channels 0..2 only (the window is clipped): s = 2 + 3e-4
    np.testing.assert_allclose(y[0, 0, 0, 0, 0], (2 + 3e-4) ** -0.75, rtol=1e-6)


def test_even_window_by_hand():
    # n = 2: W(c) = [c - 1, c]. Channels a = (1, 2, 3), k 1, alpha 0.1, beta 1:
    # s = 1 + 0.1 (1), 1 + 0.1 (1 + 4), 1 + 0.1 (4 + 9) = 1.1, 1.5, 2.3 (PyTorch: alpha 0.2)
    layer = LocalResponseNorm(size=2, alpha=0.1, beta=1.0, k=1.0)
    y = layer.forward(np.array([1.0, 2.0, 3.0]).reshape(1, 1, 3, 1, 1))
    np.testing.assert_allclose(y.ravel(), [1 / 1.1, 2 / 1.5, 3 / 2.3], rtol=1e-14)


@pytest.mark.parametrize(
    "kwargs, match", [({"size": 0}, "size"), ({"k": 0.0}, "k"), ({"alpha": -1.0}, "alpha")]
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"lrn1: {match}"):
        LocalResponseNorm(**kwargs, name="lrn1")
    with pytest.raises(ValueError, match="lrn1"):
        LocalResponseNorm(name="lrn1").forward(np.zeros((2, 3, 4)))
