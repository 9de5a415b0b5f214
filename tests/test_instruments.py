"""The per-layer norm instruments against hand computations on a tiny net."""

import numpy as np
import pytest

from largebatch_sim.instruments import NormRatios, UpdateSizes, tensor_norms
from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.linear import Linear


def _tiny():
    model = Sequential([Linear(2, 2, name="fc1", bias_init=0.5)]).init([0, 1], dtype=np.float64)
    layer = model.layers[0]
    layer.params["w"][...] = [[[3.0, 0.0], [0.0, 4.0]], [[1.0, 0.0], [0.0, 0.0]]]
    return model, layer


def test_norm_ratios_match_a_hand_computation():
    model, layer = _tiny()
    grads = {
        "fc1.w": np.array([[[0.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]),
        "fc1.b": np.array([[0.3, 0.4], [0.0, 2.0]]),
    }
    norms = NormRatios(steps=[0])
    assert norms.wants(0) and not norms.wants(1)
    norms.before_update(0, model, grads)
    table = norms.frame().set_index(["param", "member", "metric"]).value
    assert table["fc1.w", 0, "w_norm"] == 5.0  # sqrt(9 + 16)
    assert table["fc1.w", 0, "grad_norm"] == 1.0
    assert table["fc1.w", 0, "ratio"] == 5.0
    assert np.isnan(table["fc1.w", 1, "ratio"])  # zero gradient: the ratio is undefined
    assert table["fc1.w", 1, "grad_norm"] == 0.0  # ... while the norms are kept
    np.testing.assert_allclose(table["fc1.b", 0, "ratio"], np.sqrt(0.5) / 0.5)
    np.testing.assert_allclose(table["fc1.b", 1, "ratio"], np.sqrt(0.5) / 2.0)
    assert set(norms.frame().kind) == {"weight", "bias"}


def test_ratios_of_round_off_gradients_are_undefined():
    model, _ = _tiny()
    w = model.named_params()["fc1.w"]
    grads = {"fc1.w": np.full_like(w, 1e-15), "fc1.b": np.full((2, 2), 1e-3)}
    norms = NormRatios(steps=[0])
    norms.before_update(0, model, grads)
    table = norms.frame().set_index(["param", "member", "metric"]).value
    assert np.isnan(table["fc1.w", 0, "ratio"])  # 1e-15 relative: round-off, not a gradient
    assert np.isfinite(table["fc1.b", 0, "ratio"])
    loose = NormRatios(steps=[0], gradient_floor=0.0)
    loose.before_update(0, model, grads)
    assert loose.frame().query("param == 'fc1.w' and metric == 'ratio'").value.iloc[0] > 1e13
    with pytest.raises(ValueError, match="gradient_floor"):
        NormRatios(gradient_floor=-1.0)


def test_update_sizes_are_relative_to_the_weights():
    model, layer = _tiny()
    updates = UpdateSizes(every=2)
    assert updates.wants(0) and updates.wants(4) and not updates.wants(3)
    updates.before_update(0, model, {})
    layer.params["w"][0] -= [[0.3, 0.0], [0.0, 0.4]]
    updates.after_update(0, model)
    table = updates.frame().set_index(["param", "member", "metric"]).value
    np.testing.assert_allclose(table["fc1.w", 0, "relative_update"], 0.5 / 5.0)
    assert table["fc1.w", 1, "update_norm"] == 0.0


def test_tensor_norms_are_per_member():
    norms = tensor_norms({"a": np.array([[3.0, 4.0], [0.0, 1.0]])})
    np.testing.assert_array_equal(norms["a"], [5.0, 1.0])
