import numpy as np
import pytest

from largebatch_sim.nn.activations import Dropout, Flatten, ReLU
from tests.gradcheck import check_layer


def test_relu():
    layer = ReLU(name="r")
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    np.testing.assert_array_equal(layer.forward(x), np.where(x > 0, x, 0))
    check_layer(layer, x)
    y = layer.forward(np.array([[[-1.0, 0.0, 2.0]]], np.float32))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(layer.backward(np.ones_like(y)), [[[0, 0, 1]]])


def test_flatten():
    layer = Flatten(name="f")
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 1, 5))
    y = layer.forward(x)
    assert y.shape == (2, 3, 20)
    np.testing.assert_array_equal(y[1, 2], x[1, 2].ravel())
    check_layer(layer, x)


def test_dropout_is_the_identity_in_eval_mode_and_at_p0():
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    layer = Dropout(0.5, name="d").eval()
    assert layer.forward(x) is x and layer.backward(x) is x
    check_layer(Dropout(0.0, name="d"), x)


def test_dropout_scales_kept_units_and_backward_uses_the_same_mask():
    layer = Dropout(0.25, name="d")
    x = np.random.default_rng(0).normal(size=(4, 64, 64)).astype(np.float32)
    y = layer.forward(x)
    assert y.dtype == np.float32
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-6)
    assert abs(1 - kept.mean() - 0.25) < 0.02
    assert not np.array_equal(kept[0], kept[1])  # members draw their own masks
    dx = layer.backward(np.ones_like(y))
    np.testing.assert_allclose(dx, kept / 0.75, rtol=1e-6)


class SeededDropout(Dropout):
    """The same mask at every forward, so that central differences see one function."""

    def forward(self, x):
        self._generator = None  # restart the layer's generator from its seed
        return super().forward(x)


def test_dropout_gradients_with_a_fixed_mask():
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    check_layer(SeededDropout(0.5, name="d").init([0, 1], dtype=np.float64), x)


def test_dropout_masks_are_reproducible_from_the_seeds():
    x = np.ones((2, 8, 16))
    first = Dropout(0.5, name="d").init([3, 4]).forward(x)
    again = Dropout(0.5, name="d").init([3, 4]).forward(x)
    other = Dropout(0.5, name="d").init([3, 5]).forward(x)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("p", [-0.1, 1.0, 2.0])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match="drop1: p"):
        Dropout(p, name="drop1")
