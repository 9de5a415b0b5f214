"""The CuPy path of decentralised training and ConAdv equals the NumPy path: gossip steps of
the three optimizers, the shard sampler, ConAdv's clean + adversarial batches from stale
weights, the least-squares simulation and a short training run with the consensus record.
Marked ``gpu``: skipped without CuPy and a GPU."""

from __future__ import annotations

import numpy as np
import pytest

from largebatch_sim import backend
from largebatch_sim.adversarial.conadv import ConAdvSampler
from largebatch_sim.decentral import least_squares as ls
from largebatch_sim.decentral.consensus import ConsensusRecorder
from largebatch_sim.decentral.optimizers import build_optimizer
from largebatch_sim.decentral.shards import ShardSampler
from largebatch_sim.decentral.topology import mixing_matrix
from largebatch_sim.nn.models import build_model
from largebatch_sim.optim import SGD
from largebatch_sim.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not backend.cupy_available(), reason="needs CuPy and a CUDA GPU"),
]


def _both(on_backend, fn):
    with on_backend("numpy"):
        cpu = fn()
    with on_backend("cupy"):
        gpu = fn()
    return cpu, gpu


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(256, 1, 1, 40)), rng.integers(0, 10, size=256)


@pytest.mark.parametrize("name", ["pmsgd", "dmsgd", "decentlam"])
def test_gossip_steps_match(on_backend, name):
    def steps():
        rng = np.random.default_rng(1)
        x = backend.asarray(rng.normal(size=(8, 5, 3)))
        opt = build_optimizer(name, mixing_matrix("ring", 8), momentum=0.9, weight_decay=1e-3)
        for _ in range(5):
            opt.step({"x": x}, {"x": backend.asarray(rng.normal(size=(8, 5, 3)))}, 0.1)
        assert backend.get_array_module(x).__name__ == backend.backend_name()
        return backend.to_host(x)

    cpu, gpu = _both(on_backend, steps)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("tau", [0, 2])
def test_conadv_batches_and_a_decentralised_run_match(on_backend, tau):
    def run():
        x, y = _data()
        model = build_model("mlp", (1, 1, 40), 10).init([0] * 4, np.float64)
        sampler = ConAdvSampler(ShardSampler(x, y, 4, 8, "label_skew"), model, 0.1, tau)
        recorder = ConsensusRecorder(x[:64], y[:64])
        optimizer = build_optimizer("decentlam", mixing_matrix("exponential", 4))
        train(
            model,
            optimizer,
            np.full(6, 0.05),
            sampler,
            eval_every=3,
            hooks=[recorder],
            progress=False,
        )
        params = {k: backend.to_host(v) for k, v in model.named_params().items()}
        return params, recorder.frame()

    (p_cpu, f_cpu), (p_gpu, f_gpu) = _both(on_backend, run)
    for name in p_cpu:
        np.testing.assert_allclose(p_gpu[name], p_cpu[name], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f_gpu.to_numpy(), f_cpu.to_numpy(), rtol=1e-8, atol=1e-12)


def test_least_squares_simulation_matches(on_backend):
    problem = ls.LeastSquares(nodes=6, dim=4, rows=50, seed=2)
    w = mixing_matrix("ring", 6)
    cpu, gpu = _both(on_backend, lambda: ls.simulate(problem, w, "dmsgd", 0.02, 0.9, 8, 200))
    assert gpu == pytest.approx(cpu, rel=1e-9)


def test_sgd_reference_still_runs_beside(on_backend):
    # the plain optimizer on the same device arrays: a guard that the backends were switched
    with on_backend("cupy") as xp:
        x = backend.asarray(np.ones((2, 3)))
        SGD().step({"x": x}, {"x": x}, 0.1)
        assert isinstance(x, xp.ndarray)
