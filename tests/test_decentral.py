"""Decentralised training on the ensemble axis: topologies, shards, PmSGD / DmSGD / DecentLaM,
the consensus record and DL-F1's least-squares steady state."""

import numpy as np
import pytest

from largebatch_sim import backend
from largebatch_sim.decentral import least_squares as ls
from largebatch_sim.decentral.consensus import consensus_distance
from largebatch_sim.decentral.optimizers import DecentLaM, DmSGD, PmSGD, build_optimizer
from largebatch_sim.decentral.run import DecentralisedSpec, frame, run_decentralised
from largebatch_sim.decentral.shards import ShardSampler, shard_indices
from largebatch_sim.decentral.topology import (
    TOPOLOGIES,
    check_doubly_stochastic,
    mixing_matrix,
    spectral_gap,
)
from largebatch_sim.optim import SGD
from largebatch_sim.validate import ParameterError
from tests.test_no_host_sync import _on_device


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_mixing_matrices_are_symmetric_and_doubly_stochastic(topology, n):
    w = mixing_matrix(topology, n)
    check_doubly_stochastic("w", w)
    np.testing.assert_allclose(w, w.T)
    assert 0 < spectral_gap(w) <= 1 + 1e-12


def test_spectral_gaps_order_the_topologies():
    gaps = {t: spectral_gap(mixing_matrix(t, 8)) for t in TOPOLOGIES}
    assert gaps["ring"] < gaps["exponential"] < gaps["full"] == pytest.approx(1.0)
    assert gaps["ring"] == pytest.approx(1 - (1 + 2 * np.cos(2 * np.pi / 8)) / 3)


@pytest.mark.parametrize(
    "w",
    [
        np.array([[0.5, 0.5], [0.2, 0.8]]),  # columns do not sum to 1
        np.array([[1.5, -0.5], [-0.5, 1.5]]),  # negative entries
        np.ones((2, 3)) / 3,  # not square
        "ring",
    ],
)
def test_a_bad_mixing_matrix_is_refused_naming_w(w):
    with pytest.raises(ParameterError, match="^w must be"):
        DmSGD(w)


def test_nodes_that_do_not_divide_the_data_are_refused_before_any_compute():
    with pytest.raises(ParameterError, match="^nodes must be a divisor of the 10 "):
        shard_indices(np.arange(10) % 3, 3, "iid")
    with pytest.raises(ParameterError, match="^nodes must be a divisor of the 2048 training"):
        DecentralisedSpec(nodes=7, data_size=2560, epochs=1)


def test_label_skewed_shards_hold_few_classes_and_iid_ones_all():
    y = np.repeat(np.arange(10), 80)
    skewed = ShardSampler(np.zeros((800, 3)), y, 8, 10, "label_skew").label_counts(10)
    iid = ShardSampler(np.zeros((800, 3)), y, 8, 10, "iid").label_counts(10)
    assert skewed.sum() == iid.sum() == 800
    assert ((skewed > 0).sum(axis=1) <= 2).all()
    assert ((iid > 0).sum(axis=1) >= 8).all()


def test_each_node_draws_only_from_its_own_shard():
    x = np.arange(64, dtype=float)[:, None]
    sampler = ShardSampler(x, np.zeros(64, dtype=int), 4, 4, "iid", seed=3)
    for _ in range(2 * sampler.steps_per_epoch):
        xb, _ = sampler.next()
        assert xb.shape == (4, 4, 1)
        for node in range(4):
            assert set(xb[node, :, 0].astype(int)) <= set(sampler.shards[node])


def _quadratic_steps(optimizer, w_start, steps=30, seed=0):
    """A few steps on per-node quadratics 0.5 ||x - t_i||^2, gradients x_i - t_i."""
    rng = np.random.default_rng(seed)
    targets = rng.normal(size=w_start.shape)
    x = w_start.copy()
    for t in range(steps):
        optimizer.step({"x": x}, {"x": x - targets}, 0.1 + 0.01 * (t % 3))
    return x


def test_with_w_all_one_over_n_the_three_coincide_with_parallel_momentum_sgd():
    n, d = 6, 5
    start = np.repeat(np.random.default_rng(1).normal(size=(1, d)), n, axis=0)
    full = mixing_matrix("full", n)
    runs = {
        "pmsgd": _quadratic_steps(PmSGD(n, momentum=0.9), start),
        "dmsgd": _quadratic_steps(DmSGD(full, momentum=0.9), start),
        "decentlam": _quadratic_steps(DecentLaM(full, momentum=0.9), start),
    }
    # parallel SGD: one model, the gradient of the average loss
    rng = np.random.default_rng(0)
    targets = rng.normal(size=(n, d))
    x = start[:1].copy()
    sgd = SGD(momentum=0.9)
    for t in range(30):
        g = (x - targets).mean(axis=0, keepdims=True)
        sgd.step({"x": x}, {"x": g}, 0.1 + 0.01 * (t % 3))
    for name, result in runs.items():
        np.testing.assert_allclose(result, np.repeat(x, n, axis=0), atol=1e-12, err_msg=name)


def test_on_a_ring_dmsgd_and_decentlam_differ_from_pmsgd_and_keep_the_average_moving():
    n, d = 6, 5
    start = np.zeros((n, d))
    ring = mixing_matrix("ring", n)
    dm = _quadratic_steps(DmSGD(ring), start)
    dl = _quadratic_steps(DecentLaM(ring), start)
    pm = _quadratic_steps(PmSGD(n), start)
    assert consensus_distance({"x": dm}) > 1e-4 and consensus_distance({"x": dl}) > 1e-4
    assert consensus_distance({"x": pm}) < 1e-20
    assert not np.allclose(dm, dl)


def test_frozen_nodes_keep_their_parameters():
    n = 4
    x = np.ones((n, 3))
    opt = DecentLaM(mixing_matrix("ring", n))
    opt.step(
        {"x": x}, {"x": np.arange(12.0).reshape(n, 3)}, 0.1, active=np.array([1, 0, 1, 1], bool)
    )
    np.testing.assert_array_equal(x[1], 1.0)
    assert not np.allclose(x[0], 1.0)


def test_build_optimizer_refuses_an_unknown_name():
    with pytest.raises(ParameterError, match="^optimizer must be one of"):
        build_optimizer("dsgd", mixing_matrix("ring", 4))


# --- DL-F1: the steady state of the least-squares problem -------------------------------------

PROBLEM = ls.LeastSquares(nodes=6, dim=4, rows=50, seed=2)
RING = mixing_matrix("ring", 6)


@pytest.mark.parametrize("optimizer", ["dmsgd", "decentlam"])
def test_full_gradient_runs_settle_on_the_closed_form_fixed_point(optimizer):
    fixed = ls.fixed_point(PROBLEM, RING, optimizer, lr=0.05, momentum=0.8)
    sim = ls.simulate(PROBLEM, RING, optimizer, 0.05, 0.8, batch=PROBLEM.rows, steps=3000)
    assert sim["error"] == pytest.approx(ls.error(fixed, PROBLEM.optimum()), rel=1e-6)


def test_dmsgd_bias_grows_with_momentum_and_decentlam_bias_does_not():
    optimum = PROBLEM.optimum()
    dm = [ls.error(ls.fixed_point(PROBLEM, RING, "dmsgd", 0.02, b), optimum) for b in (0, 0.5, 0.9)]
    dl = [
        ls.error(ls.fixed_point(PROBLEM, RING, "decentlam", 0.02, b), optimum)
        for b in (0, 0.5, 0.9)
    ]
    assert dm[0] < dm[1] < dm[2] and dm[2] > 20 * dm[0]
    np.testing.assert_allclose(dl, dl[0])
    assert dl[0] == pytest.approx(dm[0])  # without momentum both are decentralised SGD
    # DmSGD at momentum beta is decentralised SGD at the step gamma / (1 - beta)
    assert dm[2] == pytest.approx(
        ls.error(ls.fixed_point(PROBLEM, RING, "decentlam", 0.2, 0.9), optimum)
    )


def test_homogeneous_nodes_have_no_bias():
    same = ls.LeastSquares(nodes=6, dim=4, rows=50, heterogeneity=0.0, noise=0.0, seed=2)
    fixed = ls.fixed_point(same, RING, "dmsgd", 0.05, 0.9)
    assert ls.error(fixed, same.optimum()) < 1e-20


def test_a_short_decentralised_run_records_consensus_and_the_average_model():
    spec = DecentralisedSpec(
        optimizer="dmsgd", topology="ring", nodes=4, node_batch=32, data_size=2560, epochs=1
    )
    result = run_decentralised(spec)
    table = result["consensus"]
    assert list(table.columns) == ["step", "consensus", "average_test_loss", "average_test_acc"]
    assert (table.consensus > 0).all() and table.step.is_monotonic_increasing
    assert 0 <= result["final_acc"] <= 100
    row = frame([result]).iloc[0]
    assert row.batch == 128 and row.optimizer == "dmsgd"


# --- no host read inside a step (the DeviceOnly arrays of test_no_host_sync) -------------------


@pytest.fixture
def counted_to_host(monkeypatch):
    """Arrays on the "device" refuse host reads; moving one back is counted."""
    calls = []

    def to_host(a):
        calls.append(1)
        return np.asarray(a).view(np.ndarray)

    monkeypatch.setattr(backend, "to_host", to_host)
    monkeypatch.setattr(backend, "asarray", lambda a, dtype=None: _on_device(np.asarray(a, dtype)))
    return calls


def _decentralised_transfers(make_optimizer, steps, calls, conadv_tau=None):
    from largebatch_sim.adversarial.conadv import ConAdvSampler
    from largebatch_sim.decentral.consensus import ConsensusRecorder
    from largebatch_sim.nn.models import build_model
    from largebatch_sim.train import train

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 1, 1, 40)).astype(np.float32)
    y = rng.integers(0, 10, size=256)
    model = build_model("mlp", (1, 1, 40), 10).init([0] * 4)
    sampler = ShardSampler(x, y, 4, 8, "label_skew")
    if conadv_tau is not None:
        sampler = ConAdvSampler(sampler, model, eps=0.1, tau=conadv_tau)
    calls.clear()
    train(
        model,
        make_optimizer(),
        np.full(steps, 0.01),
        sampler,
        (x[:64], y[:64]),
        eval_every=steps // 2,
        hooks=[ConsensusRecorder(x[:64], y[:64])],
        progress=False,
    )
    return len(calls)


@pytest.mark.parametrize("name", ["pmsgd", "dmsgd", "decentlam"])
@pytest.mark.parametrize("conadv_tau", [None, 0, 2])
def test_decentralised_and_conadv_steps_never_read_device_values(name, conadv_tau, counted_to_host):
    def make():
        return build_optimizer(name, mixing_matrix("exponential", 4), momentum=0.9)

    few = _decentralised_transfers(make, 4, counted_to_host, conadv_tau)
    many = _decentralised_transfers(make, 16, counted_to_host, conadv_tau)
    assert few == many > 0
