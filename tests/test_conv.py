import numpy as np
import pytest

from largebatch_sim.nn.conv import Conv2d
from tests.gradcheck import check_layer


def direct_conv(x, w, b, stride, padding):
    """The definition, one output pixel at a time (x broadcast over members)."""
    E = w.shape[0]
    x = np.broadcast_to(x, (E,) + x.shape[1:])
    (sh, sw), (ph, pw) = stride, padding
    xpad = np.pad(x, ((0, 0), (0, 0), (0, 0), (ph, ph), (pw, pw)))
    kh, kw = w.shape[3:]
    Ho, Wo = (xpad.shape[3] - kh) // sh + 1, (xpad.shape[4] - kw) // sw + 1
    y = np.empty(x.shape[:2] + (w.shape[1], Ho, Wo))
    for h in range(Ho):
        for v in range(Wo):
            patch = xpad[:, :, :, h * sh : h * sh + kh, v * sw : v * sw + kw]
            y[..., h, v] = np.einsum("ebcij,eocij->ebo", patch, w)
    return y + b[:, None, :, None, None]


def test_hand_computed_example():
    layer = Conv2d(1, 1, 2, name="c").init(0, dtype=np.float64)
    layer.params["w"][...] = np.array([[1.0, 2.0], [3.0, 4.0]])
    layer.params["b"][...] = 0.5
    x = np.arange(9.0).reshape(1, 1, 1, 3, 3)  # [[0 1 2] [3 4 5] [6 7 8]]
    y = layer.forward(x)
    # top left: 0*1 + 1*2 + 3*3 + 4*4 + 0.5 = 27.5; each step right adds 1+2+3+4, down 3*10
    np.testing.assert_allclose(y[0, 0, 0], [[27.5, 37.5], [57.5, 67.5]])
    layer.backward(np.ones_like(y))
    np.testing.assert_allclose(layer.grads["w"][0, 0, 0], [[8.0, 12.0], [20.0, 24.0]])
    np.testing.assert_allclose(layer.grads["b"], [[4.0]])


@pytest.mark.parametrize(
    "kernel, stride, padding, size",
    [(3, 1, 1, (5, 5)), (3, 2, 1, (6, 5)), ((2, 3), (1, 2), (0, 1), (4, 7)), (2, 2, 0, (5, 5))],
)
def test_matches_definition_and_gradients(kernel, stride, padding, size):
    layer = Conv2d(2, 3, kernel, stride, padding, name="c", bias_init=0.1)
    layer.init([0, 1], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(2, 2, 2) + size)
    _, s, p = layer.geometry(size)
    expected = direct_conv(x, layer.params["w"], layer.params["b"], s, p)
    np.testing.assert_allclose(layer.forward(x), expected, atol=1e-12)
    assert layer.output_size(size) == expected.shape[3:]
    check_layer(layer, x)


def test_one_dimensional_input_uses_only_the_long_axis():
    layer = Conv2d(1, 2, 5, padding=2, name="c", input_size=(1, 40)).init([0, 1], np.float64)
    assert layer.kernel_size == (1, 5)
    assert layer.params["w"].shape == (2, 2, 1, 1, 5)
    x = np.random.default_rng(0).normal(size=(2, 2, 1, 1, 40))
    y = layer.forward(x)
    assert y.shape == (2, 2, 2, 1, 40)
    np.testing.assert_allclose(y, direct_conv(x, *layer.params.values(), (1, 1), (0, 2)))
    check_layer(layer, x)
    # stride 2 halves the row only
    strided = Conv2d(1, 2, 3, stride=2, padding=1, name="c", input_size=(1, 40)).init(0)
    assert strided.forward(x[:1].astype(np.float32)).shape == (1, 2, 2, 1, 20)


def test_int_kernel_on_a_row_without_input_size_is_an_error():
    layer = Conv2d(1, 2, 5, padding=2, name="conv1").init(0)
    with pytest.raises(ValueError, match="conv1.*input_size=\\(1, 40\\)"):
        layer.forward(np.zeros((1, 2, 1, 1, 40), np.float32))


def test_shared_input_broadcasts_over_members():
    layer = Conv2d(2, 3, 3, stride=2, padding=1, name="c").init([0, 1, 2], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(1, 2, 2, 5, 5))
    y = layer.forward(x)
    for e in range(3):
        alone = Conv2d(2, 3, 3, stride=2, padding=1, name="c").init(e, dtype=np.float64)
        np.testing.assert_allclose(y[e], alone.forward(x)[0], atol=1e-12)
    check_layer(layer, x)
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_member_equals_model_built_alone():
    ensemble = Conv2d(3, 4, 3, name="c", bias_init=0.1).init([7, 8])
    alone = Conv2d(3, 4, 3, name="c", bias_init=0.1).init(8)
    np.testing.assert_array_equal(ensemble.params["w"][1], alone.params["w"][0])
    np.testing.assert_array_equal(ensemble.params["b"][1], np.full(4, 0.1, np.float32))
    assert Conv2d(3, 4, 3, bias=False).kinds == {"w": "weight"}


def test_he_initialisation_scale():
    w = Conv2d(16, 64, 3, name="c").init(0, dtype=np.float64).params["w"]
    assert abs(w.std() - np.sqrt(2 / (16 * 9))) < 0.05 * np.sqrt(2 / (16 * 9))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"in_channels": 0}, "in_channels"),
        ({"kernel_size": (1, 2, 3)}, "kernel_size"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"stride": 0}, "stride"),
        ({"padding": -1}, "padding"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"in_channels": 2, "out_channels": 3, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        Conv2d(**args, name="conv1")


def test_bad_inputs():
    layer = Conv2d(2, 3, 3, name="conv1").init([0, 1])
    with pytest.raises(ValueError, match="conv1"):
        layer.forward(np.zeros((2, 4, 3, 5, 5), np.float32))  # wrong channel count
    with pytest.raises(ValueError, match="conv1"):
        layer.forward(np.zeros((3, 4, 2, 5, 5), np.float32))  # 3 members for 2
    with pytest.raises(ValueError, match="smaller than"):
        layer.forward(np.zeros((2, 4, 2, 2, 5), np.float32))
