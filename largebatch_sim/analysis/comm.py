"""A stated model of data-parallel communication: what G-F8 adds to measured compute time.

Nothing here is measured: every time comes from the alpha-beta model of a message, t = alpha +
bytes / beta (latency alpha in seconds, bandwidth beta in bytes per second), applied to the two
all-reduce algorithms Goyal et al. discuss (section 4), for p participants and N bytes:

- ring:                          T = 2 (p - 1) alpha + 2 (p - 1) / p * N / beta
- recursive halving/doubling:    T = 2 log2(p) alpha + 2 (p - 1) / p * N / beta

Both move the bandwidth-optimal 2 (p - 1) / p * N bytes per participant; they differ in the
number of latency terms, which is what matters for small models. Goyal's three-phase scheme
(their section 4) is modelled as: an all-reduce among the GPUs of a server over the fast
intra-server link, then an all-reduce among the servers over Ethernet with the chosen algorithm
(the final broadcast inside a server is part of the first phase's cost). The backward pass can
hide part of it: a fraction ``overlap`` of the backward time runs concurrently with the
communication, so the exposed time is max(0, T_comm - overlap * t_backward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ALGORITHMS = ("ring", "halving_doubling")


@dataclass(frozen=True)
class Link:
    """One network: latency alpha in seconds, bandwidth beta in bytes per second."""

    latency: float
    bandwidth: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.latency) and self.latency >= 0):
            raise ValueError(f"latency must be a finite number >= 0 seconds, got {self.latency}")
        if not (math.isfinite(self.bandwidth) and self.bandwidth > 0):
            raise ValueError(f"bandwidth must be a finite number > 0 bytes/s, got {self.bandwidth}")


def _check(nbytes: float, participants: int) -> None:
    if not (math.isfinite(nbytes) and nbytes >= 0):
        raise ValueError(f"nbytes must be a finite number >= 0, got {nbytes}")
    if isinstance(participants, bool) or not isinstance(participants, int) or participants < 1:
        raise ValueError(f"participants must be a positive int, got {participants!r}")


def ring_allreduce(nbytes: float, participants: int, link: Link) -> float:
    """T = 2 (p - 1) alpha + 2 (p - 1) / p * N / beta seconds (reduce-scatter, then all-gather)."""
    _check(nbytes, participants)
    p = participants
    return 2 * (p - 1) * link.latency + 2 * (p - 1) / p * nbytes / link.bandwidth


def halving_doubling_allreduce(nbytes: float, participants: int, link: Link) -> float:
    """T = 2 log2(p) alpha + 2 (p - 1) / p * N / beta seconds (p a power of two, as in Goyal)."""
    _check(nbytes, participants)
    p = participants
    if p & (p - 1):
        raise ValueError(f"recursive halving/doubling needs a power of two participants, got {p}")
    return 2 * math.log2(p) * link.latency + 2 * (p - 1) / p * nbytes / link.bandwidth


@dataclass(frozen=True)
class Cluster:
    """Servers of ``gpus_per_server`` GPUs: a fast ``intra`` link inside, ``inter`` between."""

    intra: Link
    inter: Link
    gpus_per_server: int = 8
    algorithm: str = "halving_doubling"
    overlap: float = 0.0

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")
        if not 0 <= self.overlap <= 1:
            raise ValueError(f"overlap must be in [0, 1], got {self.overlap}")
        if self.gpus_per_server < 1:
            raise ValueError(f"gpus_per_server must be >= 1, got {self.gpus_per_server}")

    def allreduce(self, nbytes: float, workers: int) -> float:
        """Seconds to sum ``nbytes`` of gradients over ``workers`` GPUs (three phases, above)."""
        _check(nbytes, workers)
        local = min(workers, self.gpus_per_server)
        if workers > local and workers % local:
            raise ValueError(
                f"{workers} workers do not fill whole servers of {self.gpus_per_server} GPUs"
            )
        servers = workers // local
        between = ring_allreduce if self.algorithm == "ring" else halving_doubling_allreduce
        inside = ring_allreduce(nbytes, local, self.intra) if local > 1 else 0.0
        return inside + (between(nbytes, servers, self.inter) if servers > 1 else 0.0)

    def iteration_time(self, compute: float, backward: float, nbytes: float, workers: int) -> float:
        """compute + max(0, T_allreduce - overlap * backward): one iteration with k workers,
        each doing the same per-worker ``compute`` seconds (n fixed), ``backward`` of it in
        the backward pass."""
        if not (0 <= backward <= compute):
            raise ValueError(f"backward ({backward}) must be in [0, compute = {compute}]")
        exposed = max(0.0, self.allreduce(nbytes, workers) - self.overlap * backward)
        return compute + exposed

    def efficiency(
        self, compute: float, backward: float, nbytes: float, workers: int, reference: int = 1
    ) -> float:
        """Scaling efficiency from ``reference`` to ``workers`` GPUs: per-GPU throughput ratio,
        T(reference) / T(workers), since each GPU processes n examples per iteration either way."""
        base = self.iteration_time(compute, backward, nbytes, reference)
        return base / self.iteration_time(compute, backward, nbytes, workers)


# Goyal et al.'s setting (section 5.1 and 6): 8 P100 GPUs per server joined by NVLink,
# servers joined by 50 Gbit/s Ethernet; ResNet-50 has about 25.6 M parameters (102 MB of fp32
# gradients). The latencies are assumptions (typical values), not numbers from the paper.
GOYAL_CLUSTER = Cluster(
    intra=Link(latency=5e-6, bandwidth=20e9),
    inter=Link(latency=20e-6, bandwidth=50e9 / 8),
)
RESNET50_GRADIENT_BYTES = 25.6e6 * 4


__all__ = [
    "ALGORITHMS",
    "GOYAL_CLUSTER",
    "RESNET50_GRADIENT_BYTES",
    "Cluster",
    "Link",
    "halving_doubling_allreduce",
    "ring_allreduce",
]
