"""The communication model of G-F8 against values computed by hand."""

import math

import pytest

from largebatch_sim.analysis.comm import (
    GOYAL_CLUSTER,
    RESNET50_GRADIENT_BYTES,
    Cluster,
    Link,
    halving_doubling_allreduce,
    ring_allreduce,
)

LINK = Link(latency=1e-5, bandwidth=1e9)


def test_ring_by_hand():
    # 2 (4 - 1) 1e-5 + 2 (3 / 4) 1e6 / 1e9 = 6e-5 + 1.5e-3
    assert ring_allreduce(1e6, 4, LINK) == pytest.approx(1.56e-3)
    assert ring_allreduce(1e6, 1, LINK) == 0.0


def test_halving_doubling_by_hand():
    # 2 log2(16) 1e-5 + 2 (15 / 16) 1e6 / 1e9 = 8e-5 + 1.875e-3
    assert halving_doubling_allreduce(1e6, 16, LINK) == pytest.approx(1.955e-3)
    # same bandwidth term as the ring; far fewer latency terms
    assert ring_allreduce(0.0, 16, LINK) == pytest.approx(30e-5)
    assert halving_doubling_allreduce(0.0, 16, LINK) == pytest.approx(8e-5)
    with pytest.raises(ValueError, match="power of two"):
        halving_doubling_allreduce(1e6, 12, LINK)


def test_cluster_phases_by_hand():
    intra, inter = Link(1e-6, 1e10), Link(1e-5, 1e9)
    cluster = Cluster(intra=intra, inter=inter, gpus_per_server=4)
    # 2 workers: one server, ring over 2: 2 * 1e-6 + 1e6 / 1e10
    assert cluster.allreduce(1e6, 2) == pytest.approx(2e-6 + 1e-4)
    # 16 workers = 4 servers of 4: ring(4, intra) + halving/doubling(4, inter)
    inside = 6e-6 + 1.5e6 / 1e10
    between = 4e-5 + 1.5e6 / 1e9
    assert cluster.allreduce(1e6, 16) == pytest.approx(inside + between)
    with pytest.raises(ValueError, match="whole servers"):
        cluster.allreduce(1e6, 6)


def test_overlap_hides_communication_behind_the_backward_pass():
    cluster = Cluster(intra=LINK, inter=LINK, gpus_per_server=1, overlap=0.5)
    comm = halving_doubling_allreduce(1e6, 8, LINK)
    assert cluster.iteration_time(1.0, 0.6, 1e6, 8) == pytest.approx(1.0 + max(0, comm - 0.3))
    long = Cluster(intra=LINK, inter=Link(1e-5, 1e6), gpus_per_server=1, overlap=0.5)
    slow = halving_doubling_allreduce(1e6, 8, long.inter)
    assert long.iteration_time(1.0, 0.6, 1e6, 8) == pytest.approx(1.0 + slow - 0.3)
    with pytest.raises(ValueError, match="backward"):
        cluster.iteration_time(1.0, 2.0, 1e6, 8)


def test_goyal_setting_recovers_about_90_percent_from_8_to_256_gpus():
    """ResNet-50, ~0.22 s of compute per iteration at n = 32 (paper's Fig. 7), 50 Gbit/s."""
    efficiency = GOYAL_CLUSTER.efficiency(0.22, 0.15, RESNET50_GRADIENT_BYTES, 256, reference=8)
    # by hand: T(8) = 0.22 + 2*7*5e-6 + 1.75 * 1.024e8 / 2e10; T(256) adds the 32 servers'
    # 2*5*2e-5 + 2 * (31/32) * 1.024e8 / 6.25e9
    t8 = 0.22 + 7e-5 + 1.75 * 1.024e8 / 2e10
    t256 = t8 + 2e-4 + 2 * 31 / 32 * 1.024e8 / 6.25e9
    assert efficiency == pytest.approx(t8 / t256)
    assert 0.85 < efficiency < 0.92


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Link(-1.0, 1e9), "latency"),
        (lambda: Link(1e-6, 0.0), "bandwidth"),
        (lambda: Link(1e-6, math.inf), "bandwidth"),
        (lambda: Cluster(LINK, LINK, algorithm="tree"), "algorithm"),
        (lambda: Cluster(LINK, LINK, overlap=1.5), "overlap"),
        (lambda: ring_allreduce(1e6, 0, LINK), "participants"),
        (lambda: ring_allreduce(-1.0, 2, LINK), "nbytes"),
    ],
)
def test_bad_input_is_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()
