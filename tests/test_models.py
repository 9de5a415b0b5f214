import numpy as np
import pytest

from largebatch_sim.nn import models
from largebatch_sim.nn.base import iter_layers
from largebatch_sim.nn.batchnorm import BatchNorm
from largebatch_sim.nn.models import (
    MODELS,
    alexnet_mini,
    build_model,
    cnn_mini,
    mlp,
    resnet_mini,
)
from tests.gradcheck import check_layer

DIGITS, MNIST1D = (1, 8, 8), (1, 1, 40)
SHAPES = [DIGITS, MNIST1D]


def _kwargs(name: str) -> dict:
    if name == "resnet":
        # with gamma = 0 the ReLU after each block sees relu(...) + 0, exactly on its kink
        # wherever the shortcut is 0, where central differences disagree with the subgradient
        return {"zero_init_last_bn": False}
    return {"dropout": 0.0} if name.startswith("alexnet") else {}  # deterministic forward


@pytest.mark.parametrize("shape", SHAPES, ids=["digits", "mnist1d"])
@pytest.mark.parametrize("name", MODELS)
def test_forward_backward_and_sampled_gradients(name, shape):
    model = build_model(name, shape, 10, **_kwargs(name)).init([0, 1], dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(2, 4, *shape))
    y = model.forward(x)
    assert y.shape == (2, 4, 10) and np.all(np.isfinite(y))
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape
    params, grads = model.named_params(), model.named_grads()
    assert list(grads) == list(params)
    assert all(grads[n].shape == p.shape for n, p in params.items())
    check_layer(model, x, samples=3)  # a few entries of each array: a full check takes minutes


@pytest.mark.parametrize("name", MODELS)
def test_float32_forward_and_eval_mode(name):
    model = build_model(name, DIGITS, 10).init([0, 1])
    x = np.random.default_rng(2).normal(size=(2, 8, *DIGITS)).astype(np.float32)
    assert model.forward(x).dtype == np.float32
    model.eval()
    y = model.forward(x)
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    model.train()


STATED_COUNTS = [
    (mlp, {"sizes": [64, 128, 10]}, 9_610),
    (lambda **k: build_model("mlp", **k), {"in_shape": DIGITS, "classes": 10}, 26_122),
    (lambda **k: build_model("mlp", **k), {"in_shape": MNIST1D, "classes": 10}, 23_050),
    (cnn_mini, {"in_shape": MNIST1D}, 3_322),
    (cnn_mini, {"in_shape": DIGITS}, 5_754),
    (alexnet_mini, {"in_shape": DIGITS}, 83_786),
    (alexnet_mini, {"in_shape": MNIST1D}, 57_354),
    (alexnet_mini, {"in_shape": DIGITS, "norm": "bn"}, 84_218),
    (alexnet_mini, {"in_shape": MNIST1D, "norm": "bn"}, 57_786),
    (resnet_mini, {"in_shape": DIGITS}, 77_754),
    (resnet_mini, {"in_shape": MNIST1D}, 28_506),
    (resnet_mini, {"in_shape": DIGITS, "blocks_per_stage": 2}, 174_970),
    (resnet_mini, {"in_shape": MNIST1D, "blocks_per_stage": 2}, 61_210),
]


@pytest.mark.parametrize("builder, kwargs, count", STATED_COUNTS)
def test_parameter_counts_stated_in_docstrings(builder, kwargs, count):
    assert builder(**kwargs).init(0).num_params() == count
    documented = builder.__doc__ or models.mlp.__doc__  # build_model("mlp") is stated in mlp's
    assert f"{count:,}" in documented


def _conv_fc(bias: bool) -> list[str]:
    """Expected parameter names of alexnet_mini: with biases (LRN) or with BN after each layer."""
    names = []
    for i, layer in enumerate(["conv1", "conv2", "conv3", "conv4", "conv5"], 1):
        names += (
            [f"{layer}.w", f"{layer}.b"] if bias else [f"{layer}.w", f"bn{i}.gamma", f"bn{i}.beta"]
        )
    for i in (6, 7):
        names += [f"fc{i}.w", f"fc{i}.b"] if bias else [f"fc{i}.w", f"bn{i}.gamma", f"bn{i}.beta"]
    return names + ["fc8.w", "fc8.b"]


def test_alexnet_lrn_names_kinds_and_caffe_biases():
    model = alexnet_mini(DIGITS).init([0, 1])
    kinds = model.named_kinds()
    assert list(kinds) == _conv_fc(bias=True)
    assert all(kinds[n] == ("bias" if n.endswith(".b") else "weight") for n in kinds)
    for name, p in model.named_params().items():
        if name.endswith(".b"):
            np.testing.assert_array_equal(p, np.float32(0.1))
    layer_names = [layer.name for layer in model.layers]
    assert layer_names.count("norm1") == layer_names.count("norm2") == 1
    assert model.named_params()["conv1.w"].shape == (2, 16, 1, 5, 5)
    row = alexnet_mini(MNIST1D).init(0).named_params()
    assert row["conv1.w"].shape == (1, 16, 1, 1, 5) and row["fc6.w"].shape == (1, 160, 128)


def test_alexnet_bn_names_kinds_and_no_biases_before_bn():
    model = alexnet_mini(DIGITS, norm="bn").init([0, 1])
    kinds = model.named_kinds()
    assert list(kinds) == _conv_fc(bias=False)
    assert {n for n in kinds if n.endswith(".b")} == {"fc8.b"}
    assert all(kinds[n] == "norm" for n in kinds if n.startswith("bn"))
    assert not any(type(layer).__name__ == "LocalResponseNorm" for layer in model.layers)


def test_resnet_names_zero_init_and_workers():
    model = resnet_mini(DIGITS).init([0, 1])
    names = list(model.named_params())
    assert names[:3] == ["conv1.w", "bn1.gamma", "bn1.beta"] and names[-2:] == ["fc.w", "fc.b"]
    assert "res2a.conv1.w" in names and "res2a.shortcut.w" not in names
    assert {"res3a.shortcut.w", "res4a.shortcut_bn.gamma"} <= set(names)
    assert not any(n.endswith(".b") for n in names[:-1])  # convs in front of BN: no bias
    for name, p in model.named_params().items():
        if name.endswith(".gamma"):
            np.testing.assert_array_equal(p, 0.0 if name.endswith("bn2.gamma") else 1.0)
    plain = resnet_mini(DIGITS, zero_init_last_bn=False).init(0).named_params()
    np.testing.assert_array_equal(plain["res2a.bn2.gamma"], 1.0)
    two = list(resnet_mini(DIGITS, blocks_per_stage=2).named_kinds())
    assert "res2b.conv2.w" in two and "res4b.bn2.beta" in two and "res3b.shortcut.w" not in two

    model.set_workers(2)
    bns = [layer for layer in iter_layers(model) if isinstance(layer, BatchNorm)]
    assert len(bns) == 1 + 2 + 3 + 3 and all(bn.workers == 2 for bn in bns)
    y = model.forward(np.random.default_rng(3).normal(size=(2, 4, *DIGITS)).astype(np.float32))
    assert y.shape == (2, 4, 10)
    with pytest.raises(ValueError, match="workers"):
        model.forward(np.zeros((2, 5, *DIGITS), dtype=np.float32))


def test_mlp_flattens_images_and_names_layers():
    model = mlp([64, 32, 10], name_prefix="dense", bias_init=0.5).init([0, 1])
    assert list(model.named_kinds()) == ["dense1.w", "dense1.b", "dense2.w", "dense2.b"]
    np.testing.assert_array_equal(model.named_params()["dense2.b"], np.float32(0.5))
    x = np.zeros((2, 3, *DIGITS), dtype=np.float32)
    assert model.forward(x).shape == (2, 3, 10)
    assert build_model("mlp", DIGITS, 10, hidden=(20,)).init(0).num_params() == 65 * 20 + 21 * 10


def test_alexnet_width_scales_channels():
    model = alexnet_mini(DIGITS, width=0.5).init(0)
    params = model.named_params()
    assert params["conv1.w"].shape[1] == 8 and params["fc7.w"].shape[1:] == (64, 64)


@pytest.mark.parametrize("name", MODELS)
def test_member_equals_model_built_alone(name):
    x = np.random.default_rng(4).normal(size=(2, 4, *MNIST1D))
    ensemble = build_model(name, MNIST1D, 10, **_kwargs(name)).init([5, 6], dtype=np.float64)
    alone = build_model(name, MNIST1D, 10, **_kwargs(name)).init(6, dtype=np.float64)
    for key, p in alone.named_params().items():
        np.testing.assert_array_equal(ensemble.named_params()[key][1], p[0])
    np.testing.assert_allclose(ensemble.forward(x)[1], alone.forward(x[1:])[0], rtol=1e-12)


def test_input_shared_by_members():
    model = resnet_mini(MNIST1D).init([0, 1, 2], dtype=np.float64)
    x = np.random.default_rng(5).normal(size=(1, 4, *MNIST1D))
    y = model.forward(x)
    assert y.shape == (3, 4, 10)
    assert model.backward(np.ones_like(y)).shape == x.shape


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: build_model("vgg", DIGITS, 10), "alexnet_bn"),
        (lambda: alexnet_mini((1, 4, 4)), "too small"),
        (lambda: alexnet_mini((1, 8, 6)), "too small"),
        (lambda: alexnet_mini((8, 8)), "in_shape"),
        (lambda: alexnet_mini(DIGITS, norm="gn"), "norm"),
        (lambda: alexnet_mini(DIGITS, dropout=1.0), "dropout"),
        (lambda: alexnet_mini(DIGITS, width=0), "width"),
        (lambda: alexnet_mini(DIGITS, classes=0), "classes"),
        (lambda: build_model("alexnet_bn", DIGITS, 10, norm="lrn"), "norm"),
        (lambda: resnet_mini((1, 0, 8)), "in_shape"),
        (lambda: resnet_mini(DIGITS, blocks_per_stage=0), "blocks_per_stage"),
        (lambda: mlp([10]), "sizes"),
        (lambda: mlp([10, 0]), "sizes"),
        (lambda: build_model("mlp", (64,), 10), "in_shape"),
    ],
)
def test_bad_arguments_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
