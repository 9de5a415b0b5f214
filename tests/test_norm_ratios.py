"""NormRatios inside a real training loop, against ||w||, ||grad w|| computed by hand.

tests/test_instruments.py checks the instrument on gradients it is handed; here the gradients
come from the model's own backward inside ``train``, and the expected values from a hand
derivation of a two-layer ReLU net with softmax cross-entropy, written out in NumPy.
"""

import numpy as np
import pytest

from largebatch_sim.data import BatchSampler
from largebatch_sim.instruments import NormRatios
from largebatch_sim.nn.activations import ReLU
from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.linear import Linear
from largebatch_sim.optim import SGD
from largebatch_sim.train import train

X = np.array([[1.0, -0.5, 2.0], [0.3, 0.8, -1.2], [-0.7, 0.1, 0.4], [1.5, 1.1, -0.2]])
Y = np.array([0, 1, 1, 0])
LR = 0.3


def _hand_grads(p):
    """Gradients of the mean softmax cross-entropy of fc2(relu(fc1(X))), one member."""
    h_pre = X @ p["fc1.w"] + p["fc1.b"]
    h = np.maximum(h_pre, 0)
    z = h @ p["fc2.w"] + p["fc2.b"]
    prob = np.exp(z - z.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    dz = (prob - np.eye(2)[Y]) / len(Y)
    dh = (dz @ p["fc2.w"].T) * (h_pre > 0)
    return {
        "fc1.w": X.T @ dh,
        "fc1.b": dh.sum(axis=0),
        "fc2.w": h.T @ dz,
        "fc2.b": dz.sum(axis=0),
    }


def test_norm_ratios_during_training_match_a_hand_computation():
    model = Sequential(
        [
            Linear(3, 4, name="fc1", bias_init=0.1),
            ReLU(name="relu1"),
            Linear(4, 2, name="fc2", bias_init=0.1),
        ]
    ).init([0, 1], dtype=np.float64)
    start = {name: p.copy() for name, p in model.named_params().items()}
    # batch = all four examples: the gradient does not depend on the shuffle
    sampler = BatchSampler(X, Y, batch_size=4, seeds=[0, 1])
    norms = NormRatios(steps=[0, 1])
    result = train(
        model,
        SGD(momentum=0.0, weight_decay=0.0),
        np.full(2, LR),
        sampler,
        instruments={"norms": norms},
        progress=False,
    )
    table = result.instruments["norms"].set_index(["step", "param", "member", "metric"]).value
    assert set(table.index.get_level_values("step")) == {0, 1}
    for member in range(2):
        params = {name: p[member] for name, p in start.items()}
        for step in range(2):
            grads = _hand_grads(params)
            for name, g in grads.items():
                w_norm = np.sqrt(np.sum(params[name] ** 2))  # the weights before the update
                g_norm = np.sqrt(np.sum(g**2))
                assert table[step, name, member, "w_norm"] == pytest.approx(w_norm, rel=1e-10)
                assert table[step, name, member, "grad_norm"] == pytest.approx(g_norm, rel=1e-10)
                assert table[step, name, member, "ratio"] == pytest.approx(
                    w_norm / g_norm, rel=1e-10
                )
            params = {name: params[name] - LR * grads[name] for name in params}
    kinds = result.instruments["norms"].drop_duplicates("param").set_index("param").kind
    assert kinds.to_dict() == {
        "fc1.w": "weight",
        "fc1.b": "bias",
        "fc2.w": "weight",
        "fc2.b": "bias",
    }
