import numpy as np
import pytest

from largebatch_sim.nn.pool import AvgPool2d, GlobalAvgPool, MaxPool2d
from tests.gradcheck import check_layer


def direct_pool(x, kernel, stride, reduce):
    (kh, kw), (sh, sw) = kernel, stride
    Ho, Wo = (x.shape[3] - kh) // sh + 1, (x.shape[4] - kw) // sw + 1
    y = np.empty(x.shape[:3] + (Ho, Wo))
    for h in range(Ho):
        for v in range(Wo):
            y[..., h, v] = reduce(x[..., h * sh : h * sh + kh, v * sw : v * sw + kw], axis=(3, 4))
    return y


@pytest.mark.parametrize(
    "kernel, stride, size, eff_kernel, eff_stride",
    [
        (2, None, (4, 6), (2, 2), (2, 2)),
        (2, None, (5, 7), (2, 2), (2, 2)),  # remainders dropped
        (3, 2, (7, 7), (3, 3), (2, 2)),  # overlapping, as AlexNet
        ((1, 3), (1, 2), (2, 9), (1, 3), (1, 2)),
        (2, None, (1, 9), (1, 2), (1, 2)),  # a row: the axis of size 1 is not pooled
    ],
)
def test_max_pool_values_and_gradients(kernel, stride, size, eff_kernel, eff_stride):
    layer = MaxPool2d(kernel, stride, name="p")
    x = np.random.default_rng(0).normal(size=(2, 2, 3) + size)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, direct_pool(x, eff_kernel, eff_stride, np.max))
    assert layer.output_size(size) == y.shape[3:]
    check_layer(layer, x)


@pytest.mark.parametrize("stride", [None, 1])
def test_max_pool_ties_route_to_the_first_maximum(stride):
    layer = MaxPool2d(2, stride, name="p")
    x = np.ones((2, 1, 1, 2, 4))
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    assert dx.sum() == y.size  # each window's gradient goes to one position only
    if stride is None:
        np.testing.assert_array_equal(dx[0, 0, 0], [[1, 0, 1, 0], [0, 0, 0, 0]])
    else:  # overlapping windows starting at columns 0, 1, 2: each picks its left column
        np.testing.assert_array_equal(dx[0, 0, 0], [[1, 1, 1, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize(
    "kernel, size, eff", [(2, (4, 6), (2, 2)), (3, (7, 8), (3, 3)), (2, (1, 9), (1, 2))]
)
def test_avg_pool_values_and_gradients(kernel, size, eff):
    layer = AvgPool2d(kernel, name="p")
    x = np.random.default_rng(0).normal(size=(2, 2, 3) + size)
    y = layer.forward(x)
    np.testing.assert_allclose(y, direct_pool(x, eff, eff, np.mean), atol=1e-14)
    assert layer.output_size(size) == y.shape[3:]
    check_layer(layer, x)


def test_global_avg_pool():
    layer = GlobalAvgPool(name="gap")
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 3, 5))
    y = layer.forward(x)
    assert y.shape == (2, 3, 4)
    np.testing.assert_allclose(y, x.mean(axis=(3, 4)))
    check_layer(layer, x)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="pool1: kernel_size"):
        MaxPool2d(0, name="pool1")
    with pytest.raises(ValueError, match="pool1: stride"):
        MaxPool2d(2, (1, 2, 3), name="pool1")
    with pytest.raises(ValueError, match="pool1: kernel_size"):
        AvgPool2d((2,), name="pool1")
    with pytest.raises(ValueError, match="pool1.*E, B, C, H, W"):
        MaxPool2d(2, name="pool1").forward(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="smaller than"):
        MaxPool2d(3, name="pool1").forward(np.zeros((1, 1, 1, 2, 4)))
