"""NormRatios' gradient floor: ratios of round-off gradients are undefined (NaN), by hand."""

import numpy as np

from largebatch_sim.instruments import NormRatios
from largebatch_sim.nn.activations import ReLU
from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.batchnorm import BatchNorm
from largebatch_sim.nn.linear import Linear
from largebatch_sim.nn.losses import softmax_cross_entropy


def _table(model, grads, **kwargs):
    norms = NormRatios(steps=[0], **kwargs)
    norms.before_update(0, model, grads)
    return norms.frame().set_index(["param", "member", "metric"]).value


def test_the_floor_is_relative_to_the_weight_norm():
    # one gradient, ||g|| = 1e-4, against ||w|| = 1 (ratio 1e4) and ||w|| = 1e3 (g / w = 1e-7)
    model = Sequential([Linear(1, 1, name="fc1", bias_init=0.0)]).init([0, 1, 2], dtype=np.float64)
    model.named_params()["fc1.w"][...] = np.array([1.0, 1e3, 0.0]).reshape(3, 1, 1)
    g = np.full((3, 1, 1), 1e-4)
    table = _table(model, {"fc1.w": g, "fc1.b": np.zeros((3, 1))})
    assert table["fc1.w", 0, "ratio"] == 1e4
    assert np.isnan(table["fc1.w", 1, "ratio"])  # 1e-4 <= 1e-6 * 1e3: undefined
    assert table["fc1.w", 1, "grad_norm"] == 1e-4 and table["fc1.w", 1, "w_norm"] == 1e3
    assert table["fc1.w", 2, "ratio"] == 0.0  # ||w|| = 0 with a gradient: 0, defined
    assert np.isnan(table["fc1.b", 2, "ratio"])  # 0 / 0: undefined
    # the same numbers with a floor of 1e-8: 1e-4 > 1e-8 * 1e3, the ratio 1e7 is reported
    low = _table(model, {"fc1.w": g, "fc1.b": np.zeros((3, 1))}, gradient_floor=1e-8)
    np.testing.assert_allclose(low["fc1.w", 1, "ratio"], 1e7, rtol=1e-12)


def test_float32_round_off_of_a_bias_in_front_of_a_bn_is_undefined():
    # BN subtracts the batch mean, so the bias in front of it has a zero gradient; float32
    # round-off leaves about 1e-8 ||b|| of it (the default floor is 1e-6 ||b||)
    rng = np.random.default_rng(0)
    model = Sequential(
        [
            Linear(6, 50, name="fc1", bias_init=0.1),
            BatchNorm(50, name="bn1", workers=2),
            ReLU(name="relu1"),
            Linear(50, 3, name="fc2"),
        ]
    ).init([0, 1, 2, 3], dtype=np.float32)
    x = rng.normal(size=(4, 64, 6)).astype(np.float32)
    _, dlogits = softmax_cross_entropy(model.forward(x), rng.integers(0, 3, size=(4, 64)))
    model.backward(dlogits)
    table = _table(model, model.named_grads()).unstack("metric")
    bias, weight = table.loc["fc1.b"], table.loc["fc1.w"]
    assert bias.ratio.isna().all() and (bias.grad_norm < 1e-6 * bias.w_norm).all()
    assert (bias.grad_norm > 0).any()  # round-off, not an exact 0 / 0
    assert weight.ratio.between(1, 1e3).all()  # a genuine gradient: defined
