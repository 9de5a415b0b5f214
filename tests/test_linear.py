import numpy as np

from largebatch_sim.nn.linear import Linear
from tests.gradcheck import check_layer


def test_linear_gradients_with_ensemble():
    layer = Linear(4, 3, name="fc1", bias_init=0.1).init([0, 1], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(2, 5, 4))
    check_layer(layer, x)


def test_linear_shared_input_broadcasts_over_members():
    layer = Linear(4, 3, name="fc1").init([0, 1, 2], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(1, 5, 4))
    check_layer(layer, x)
    assert layer.grads["w"].shape == (3, 4, 3)


def test_member_equals_model_built_alone():
    ensemble = Linear(4, 3, name="fc1").init([7, 8])
    alone = Linear(4, 3, name="fc1").init(8)
    np.testing.assert_array_equal(ensemble.params["w"][1], alone.params["w"][0])
