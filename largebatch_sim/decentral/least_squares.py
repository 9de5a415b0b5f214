"""DL-F1's problem: least squares on heterogeneous nodes, where the steady state is known.

Node i holds m rows (A_i, b_i) with its own solution x_i^o = x^o + h u_i (h: heterogeneity,
u_i ~ N(0, I)), b_i = A_i x_i^o + noise, and the local loss f_i(x) = ||A_i x - b_i||^2 / (2 m),
so H_i = A_i^T A_i / m, c_i = A_i^T b_i / m and grad f_i(x) = H_i x - c_i. The nodes agree on
one optimum only jointly: x* = (sum_i H_i)^{-1} sum_i c_i minimises (1/n) sum_i f_i.

The steady state of a method with full gradients is a fixed point, linear in the stacked
X = (x_1 .. x_n), and solvable in closed form (``fixed_point``):

- DmSGD: m_i = g_i / (1 - beta), so X = W (X - a G(X)) with a = gamma / (1 - beta);
- DecentLaM: m_i = 0, so g_hat = 0, i.e. X = W (X - gamma G(X)), whatever beta;
- PmSGD: x_i = x* (no bias).

so the *inconsistency bias* (1/n) sum_i ||x_i - x*||^2 of DmSGD is that of decentralised SGD
run at the step gamma / (1 - beta): momentum amplifies it, and a large batch, whose linearly
scaled step is large, amplifies it again. With stochastic gradients (``simulate``, B rows per
node per step) the steady-state error adds the gradient noise, O(gamma sigma^2 / B), which a
linearly scaled step keeps constant in B: at large batch the bias dominates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import backend
from ..validate import check_integer, check_number
from .optimizers import build_optimizer
from .topology import check_doubly_stochastic


@dataclass(frozen=True)
class LeastSquares:
    """n nodes of m rows in d dimensions, heterogeneity h, label noise ``noise``."""

    nodes: int = 8
    dim: int = 10
    rows: int = 200
    heterogeneity: float = 1.0
    noise: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_integer("nodes", self.nodes, low=1)
        check_integer("dim", self.dim, low=1)
        check_integer("rows", self.rows, low=self.dim)
        check_number("heterogeneity", self.heterogeneity, low=0)
        check_number("noise", self.noise, low=0)
        check_integer("seed", self.seed, low=0)

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """A (n, m, d) and b (n, m)."""
        rng = np.random.default_rng(self.seed)
        a = rng.normal(size=(self.nodes, self.rows, self.dim))
        centre = rng.normal(size=self.dim)
        local = centre + self.heterogeneity * rng.normal(size=(self.nodes, self.dim))
        noise = self.noise * rng.normal(size=(self.nodes, self.rows))
        return a, np.einsum("nmd,nd->nm", a, local) + noise

    def hessians(self) -> tuple[np.ndarray, np.ndarray]:
        """H (n, d, d) and c (n, d): grad f_i(x) = H_i x - c_i."""
        a, b = self.data()
        h = np.einsum("nmd,nme->nde", a, a) / self.rows
        return h, np.einsum("nmd,nm->nd", a, b) / self.rows

    def optimum(self) -> np.ndarray:
        """x* of the average loss."""
        h, c = self.hessians()
        return np.linalg.solve(h.sum(axis=0), c.sum(axis=0))


def error(x: np.ndarray, optimum: np.ndarray) -> float:
    """(1/n) sum_i ||x_i - x*||^2."""
    return float(np.mean(np.sum((x - optimum) ** 2, axis=1)))


def fixed_point(
    problem: LeastSquares, w: np.ndarray, optimizer: str, lr: float, momentum: float
) -> np.ndarray:
    """The full-gradient steady state X (n, d) of ``optimizer`` (see the module docstring)."""
    h, c = problem.hessians()
    n, d = c.shape
    if optimizer == "pmsgd":
        return np.repeat(problem.optimum()[None], n, axis=0)
    step = lr / (1 - momentum) if optimizer == "dmsgd" else lr  # DecentLaM: beta drops out
    w = check_doubly_stochastic("w", w)
    mix = np.kron(w, np.eye(d))
    blocks = np.zeros((n * d, n * d))
    for i in range(n):
        blocks[i * d : (i + 1) * d, i * d : (i + 1) * d] = h[i]
    # X - W X + step W (H X - c) = 0
    lhs = np.eye(n * d) - mix + step * mix @ blocks
    return np.linalg.solve(lhs, step * mix @ c.reshape(-1)).reshape(n, d)


def simulate(
    problem: LeastSquares,
    w: np.ndarray,
    optimizer: str,
    lr: float,
    momentum: float,
    batch: int,
    steps: int = 4000,
    seed: int = 0,
) -> dict[str, float]:
    """Run ``optimizer`` with ``batch`` rows per node per step (drawn with replacement; batch =
    rows gives the full gradient) from x_i = 0, through the optimizer objects of this package;
    the steady-state error is the mean of (1/n) sum_i ||x_i - x*||^2 over the last half of the
    steps, the consensus distance likewise."""
    check_integer("batch", batch, low=1, high=problem.rows)
    check_integer("steps", steps, low=2)
    a, b = problem.data()
    optimum = problem.optimum()
    opt = build_optimizer(optimizer, w, momentum)
    x = backend.asarray(np.zeros((problem.nodes, problem.dim)))
    a_dev, b_dev = backend.asarray(a), backend.asarray(b)
    xp = backend.get_array_module(x)
    rng = np.random.default_rng(seed)
    nodes = xp.arange(problem.nodes)[:, None]
    errors, consensus = [], []
    for t in range(steps):
        if batch == problem.rows:
            a_s, b_s = a_dev, b_dev
        else:
            rows = backend.asarray(rng.integers(0, problem.rows, size=(problem.nodes, batch)))
            a_s, b_s = a_dev[nodes, rows], b_dev[nodes, rows]
        residual = xp.einsum("nbd,nd->nb", a_s, x) - b_s
        grad = xp.einsum("nbd,nb->nd", a_s, residual) / batch
        opt.step({"x": x}, {"x": grad}, lr)
        if t >= steps // 2:
            host = backend.to_host(x)
            errors.append(error(host, optimum))
            consensus.append(error(host, host.mean(axis=0)))
    return {"error": float(np.mean(errors)), "consensus": float(np.mean(consensus))}


def steady_state_table(
    problem: LeastSquares,
    w: np.ndarray,
    settings: list[dict[str, float]],
    steps: int = 4000,
) -> pd.DataFrame:
    """One row per (optimizer, lr, momentum, batch) setting: the simulated steady-state error
    and consensus distance, and the closed-form full-gradient bias of the same method."""
    optimum = problem.optimum()
    rows = []
    for s in settings:
        sim = simulate(problem, w, s["optimizer"], s["lr"], s["momentum"], s["batch"], steps)
        fixed = fixed_point(problem, w, s["optimizer"], s["lr"], s["momentum"])
        rows.append({**s, **sim, "bias": error(fixed, optimum)})
    return pd.DataFrame(rows)
