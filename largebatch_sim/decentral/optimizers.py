"""PmSGD, DmSGD and DecentLaM (Yuan et al. 2021, arXiv 2104.11981) on the ensemble axis.

The n nodes of a decentralised run are the n members of one ensemble: every parameter has
the node axis first, (n, ...), and gossip is a product with the n x n doubly stochastic mixing
matrix W over that axis, (W x)_i = sum_j w_ij x_j (``topology.py``). Per node i, with local
gradient g_i (weight decay lambda folded in, g_i + lambda x_i), step size gamma and momentum
beta:

PmSGD (parallel momentum SGD: a global all-reduce every step, equal to large-batch SGD)::

    m_i <- beta m_i + (1/n) sum_j g_j;       x_i <- x_i - gamma m_i

DmSGD (decentralised momentum SGD: gossip the momentum step)::

    m_i <- beta m_i + g_i;                   x_i <- sum_j w_ij (x_j - gamma m_j)

DecentLaM (momentum on the gradient that gossip *effectively* applied)::

    g_hat_i = (x_i - sum_j w_ij (x_j - gamma g_j)) / gamma
    m_i <- beta m_i + g_hat_i;               x_i <- x_i - gamma m_i

Why DecentLaM: at a fixed point of DmSGD with full gradients, m_i = g_i / (1 - beta), so the
nodes gossip with the effective step gamma / (1 - beta), and the inconsistency bias of
decentralised SGD (the nodes' optima differ; gossip pulls them together only partly) grows with
that step: momentum amplifies it, and so does the large step of a large batch. DecentLaM's
fixed point has m_i = 0, hence g_hat_i = 0, i.e. x = W (x - gamma g): the fixed point of plain
decentralised SGD at step gamma, whatever beta.

With W = J = all 1/n and all nodes started equal, the three coincide: gossip is then an exact
average, DmSGD's x_i = x_bar - gamma m_bar, DecentLaM's g_hat_i = (1/n) sum_j g_j, both PmSGD's
update (tests/test_decentral.py checks it to rounding).

``step(params, grads, lr, kinds, active)`` follows the training loop's optimizer protocol: in
place, ``lr`` a number or one per node (E,), frozen nodes (``active`` False) keep their
parameters and momentum (their copies still enter their neighbours' averages). DecentLaM
divides by gamma: at gamma = 0 the consensus term is taken as 0 (no step is taken anyway).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from ..optim.common import check_step, masked_assign, per_member, safe_divide
from ..validate import ParameterError, check_number
from .topology import check_doubly_stochastic


class Decentralised:
    """What the three optimizers share: W on the device, momentum buffers, weight decay."""

    def __init__(self, w: Any, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        self.w = check_doubly_stochastic("w", w)
        self.n = self.w.shape[0]
        self.momentum = check_number("momentum", momentum, low=0, high=1, high_open=True)
        self.weight_decay = check_number("weight_decay", weight_decay, low=0)
        self.velocity: dict[str, Any] = {}
        self._w_device: dict[Any, Any] = {}  # W per dtype, moved once

    def mix(self, a: Any) -> Any:
        """Gossip over the node axis: (W a)_i = sum_j w_ij a_j."""
        xp = backend.get_array_module(a)
        w = self._w_device.get(a.dtype)
        if w is None:
            w = self._w_device[a.dtype] = backend.asarray(self.w, dtype=a.dtype)
        return xp.tensordot(w, a, axes=(1, 0))

    def step(
        self,
        params: dict[str, Any],
        grads: dict[str, Any],
        lr: Any,
        kinds: dict[str, str] | None = None,
        active: Any = None,
    ) -> None:
        check_step(params, grads, lr, kinds, active)
        for name, x in params.items():
            g = grads.get(name)
            if g is None:
                continue
            if x.shape[0] != self.n:
                raise ParameterError(
                    "params", f"{name} of shape {tuple(x.shape)}", f"{self.n} nodes on axis 0"
                )
            xp = backend.get_array_module(x)
            if self.weight_decay:
                g = g + self.weight_decay * x
            m = self.velocity.get(name)
            if m is None:
                m = self.velocity[name] = xp.zeros_like(x)
            gamma = per_member(lr, x, xp)
            new_m, new_x = self.update(x, g, m, gamma, xp)
            masked_assign(m, new_m, active, xp)
            masked_assign(x, new_x, active, xp)

    def update(self, x: Any, g: Any, m: Any, gamma: Any, xp: Any) -> tuple[Any, Any]:
        """The new momentum and parameters of every node."""
        raise NotImplementedError


class PmSGD(Decentralised):
    """Parallel momentum SGD: the gradients are averaged over all nodes (an all-reduce), then
    m_i <- beta m_i + g_bar, x_i <- x_i - gamma m_i, over ``n`` nodes (its W is J)."""

    def __init__(self, n: int, momentum: float = 0.9, weight_decay: float = 0.0) -> None:
        super().__init__(np.full((n, n), 1.0 / n), momentum, weight_decay)

    def update(self, x: Any, g: Any, m: Any, gamma: Any, xp: Any) -> tuple[Any, Any]:
        new_m = self.momentum * m + g.mean(axis=0, keepdims=True)
        return new_m, x - gamma * new_m


class DmSGD(Decentralised):
    """m_i <- beta m_i + g_i;  x_i <- sum_j w_ij (x_j - gamma m_j)."""

    def update(self, x: Any, g: Any, m: Any, gamma: Any, xp: Any) -> tuple[Any, Any]:
        new_m = self.momentum * m + g
        return new_m, self.mix(x - gamma * new_m)


class DecentLaM(Decentralised):
    """g_hat_i = (x_i - sum_j w_ij (x_j - gamma g_j)) / gamma;  m_i <- beta m_i + g_hat_i;
    x_i <- x_i - gamma m_i."""

    def update(self, x: Any, g: Any, m: Any, gamma: Any, xp: Any) -> tuple[Any, Any]:
        g_hat = safe_divide(x - self.mix(x - gamma * g), gamma, 0.0, xp)
        new_m = self.momentum * m + g_hat
        return new_m, x - gamma * new_m


OPTIMIZERS = {"pmsgd": PmSGD, "dmsgd": DmSGD, "decentlam": DecentLaM}


def build_optimizer(
    name: str, w: Any, momentum: float = 0.9, weight_decay: float = 0.0
) -> Decentralised:
    """One of ``OPTIMIZERS`` over the mixing matrix ``w`` (PmSGD reads only its size)."""
    if name not in OPTIMIZERS:
        raise ParameterError("optimizer", name, f"one of {tuple(OPTIMIZERS)}")
    w = check_doubly_stochastic("w", w)
    if name == "pmsgd":
        return PmSGD(w.shape[0], momentum, weight_decay)
    return OPTIMIZERS[name](w, momentum, weight_decay)
