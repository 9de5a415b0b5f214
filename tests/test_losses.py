import numpy as np
import pytest

from largebatch_sim.nn.losses import accuracy, mse, softmax_cross_entropy
from tests.gradcheck import numerical_grad


def direct_cross_entropy(logits, y):
    y = np.broadcast_to(y, logits.shape[:2])
    p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    picked = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
    return -np.log(picked).mean(axis=1)


@pytest.mark.parametrize("shared", [False, True])
def test_cross_entropy_value_and_gradient(shared):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5, 4))
    y = rng.integers(0, 4, size=(1 if shared else 3, 5))
    loss, dlogits = softmax_cross_entropy(logits, y)
    assert loss.shape == (3,) and dlogits.shape == logits.shape
    np.testing.assert_allclose(loss, direct_cross_entropy(logits, y), rtol=1e-12)
    numeric = numerical_grad(lambda: float(softmax_cross_entropy(logits, y)[0].sum()), logits)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_uniform_logits_is_log_classes_and_large_logits_are_stable(dtype):
    y = np.array([[0, 3, 9]])
    loss, dlogits = softmax_cross_entropy(np.full((2, 3, 10), 7.0, dtype), y)
    assert loss.dtype == dtype and dlogits.dtype == dtype
    np.testing.assert_allclose(loss, np.log(10), rtol=1e-6)
    logits = np.array([[[1e4, 0.0], [0.0, 1e4]]], dtype)
    loss, dlogits = softmax_cross_entropy(logits, np.array([[0, 0]]))
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(dlogits))
    np.testing.assert_allclose(loss, [1e4 / 2], rtol=1e-6)
    np.testing.assert_allclose(dlogits, [[[0, 0], [-0.5, 0.5]]], atol=1e-6)


def test_mse_value_and_gradient():
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(2, 4, 3, 2)), rng.normal(size=(1, 4, 3, 2))
    loss, dpred = mse(pred, target)
    expected = 0.5 * ((pred - target) ** 2).sum(axis=(2, 3)).mean(axis=1)
    np.testing.assert_allclose(loss, expected, rtol=1e-12)
    numeric = numerical_grad(lambda: float(mse(pred, target)[0].sum()), pred)
    np.testing.assert_allclose(dpred, numeric, rtol=1e-6, atol=1e-9)
    assert mse(pred[..., 0, 0], target[..., 0, 0])[0].shape == (2,)  # no feature axis


def test_accuracy():
    logits = np.array([[[0.0, 1.0], [2.0, 1.0], [0.0, 3.0]], [[1.0, 0.0], [1.0, 1.0], [5, 0]]])
    acc = accuracy(logits, np.array([[1, 0, 0]]))
    np.testing.assert_allclose(acc, [2 / 3, 2 / 3])  # a tie goes to class 0
    assert acc.dtype == logits.dtype


def test_bad_shapes():
    logits = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="labels y must be"):
        softmax_cross_entropy(logits, np.zeros((2, 4), int))
    with pytest.raises(ValueError, match="labels y must be"):
        softmax_cross_entropy(logits, np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="integers"):
        accuracy(logits, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="logits must be"):
        softmax_cross_entropy(np.zeros((3, 4)), np.zeros((1, 3), int))
    with pytest.raises(ValueError, match="mse"):
        mse(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))
    with pytest.raises(ValueError, match="leading axis"):
        mse(np.zeros((2, 3, 4)), np.zeros((3, 3, 4)))
