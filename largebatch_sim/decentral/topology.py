"""Mixing matrices of decentralised training: who averages with whom.

n nodes hold their own copy x_i of the parameters. One gossip step replaces every copy by a
weighted average of its neighbours' copies, x_i <- sum_j w_ij x_j, with an n x n matrix W that
is *doubly stochastic* (w_ij >= 0, every row and every column sums to 1), so the average model
x_bar = (1/n) sum_i x_i is kept by gossip, and repeated gossip drives every copy to it at a rate
set by

    rho = || W - J ||_2,     J = (1/n) 1 1^T,     spectral gap = 1 - rho,

the largest singular value of W once its consensus direction is removed. A fully connected W
(= J) has rho = 0: one gossip step is an exact all-reduce (parallel SGD). A ring mixes slowly
(1 - rho = O(1 / n^2)); the exponential graph (node i talks to i +- 2^k mod n, k = 0 ..
log2(n) - 1, after Ying et al. 2021) keeps O(log2 n) neighbours and a gap that shrinks only
slowly with n (1 - rho = 2/3 for n = 4, 1/2 for n = 8, 0.4 for n = 16; the ring's is 0.20 at
n = 8 and 0.05 at n = 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..validate import ParameterError, check_choice, check_integer

TOPOLOGIES = ("ring", "exponential", "full")


def ring(n: int) -> np.ndarray:
    """Each node averages itself and its two neighbours on a ring, 1/3 each (n = 2: 1/2)."""
    n = check_integer("n", n, low=1)
    if n <= 2:
        return np.full((n, n), 1.0 / n)
    w = np.zeros((n, n))
    for i in range(n):
        for j in (i - 1, i, i + 1):
            w[i, j % n] = 1.0 / 3.0
    return w


def exponential(n: int) -> np.ndarray:
    """Exponential graph, symmetrised: node i averages itself and nodes i +- 2^k mod n for
    k = 0 .. ceil(log2 n) - 1, with equal weights per hop, W = (W_dir + W_dir^T) / 2.

    The directed graph W_dir (i sends to i + 2^k only, Ying et al. 2021) has complex
    eigenvalues, and DecentLaM, whose consensus error follows e_{k+1} = (W + beta) e_k -
    beta e_{k-1}, then diverges at beta = 0.9 (for n = 8 one mode grows by 1.12 per step);
    DecentLaM's analysis assumes a symmetric W, as this one is (real eigenvalues in (-1, 1])."""
    n = check_integer("n", n, low=1)
    hops = sorted({2**k % n for k in range(math.ceil(math.log2(n)))} - {0}) if n > 1 else []
    directed = np.zeros((n, n))
    for i in range(n):
        for hop in (0, *hops):
            directed[i, (i + hop) % n] = 1.0 / (1 + len(hops))
    return (directed + directed.T) / 2


def fully_connected(n: int) -> np.ndarray:
    """W = J = all 1/n: every node averages with all others (a global all-reduce)."""
    n = check_integer("n", n, low=1)
    return np.full((n, n), 1.0 / n)


BUILDERS = {"ring": ring, "exponential": exponential, "full": fully_connected}


def mixing_matrix(topology: str, n: int) -> np.ndarray:
    """The mixing matrix of ``topology`` (one of ``TOPOLOGIES``) over ``n`` nodes."""
    return BUILDERS[check_choice("topology", topology, TOPOLOGIES)](n)


def check_doubly_stochastic(name: str, w: object, atol: float = 1e-9) -> np.ndarray:
    """``w`` as a float64 (n, n) array, or a ``ParameterError`` naming ``name`` when it is not
    square, has a negative or non-finite entry, or a row or column that does not sum to 1."""
    a = np.asarray(w, dtype=np.float64) if not isinstance(w, str) else None
    if a is None or a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 1:
        raise ParameterError(name, w, "a square n x n mixing matrix")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ParameterError(name, w, "a mixing matrix with finite, non-negative entries")
    rows, cols = a.sum(axis=1), a.sum(axis=0)
    if not (np.allclose(rows, 1, atol=atol) and np.allclose(cols, 1, atol=atol)):
        raise ParameterError(
            name,
            w,
            "doubly stochastic (every row and every column summing to 1; "
            f"row sums {np.round(rows, 6).tolist()}, column sums {np.round(cols, 6).tolist()})",
        )
    return a


def spectral_gap(w: np.ndarray) -> float:
    """1 - rho with rho = ||W - J||_2 (see the module docstring); 1 for W = J."""
    a = check_doubly_stochastic("w", w)
    n = a.shape[0]
    return float(1.0 - np.linalg.norm(a - np.full((n, n), 1.0 / n), ord=2))


@dataclass(frozen=True)
class Topology:
    """A named mixing matrix over ``n`` nodes, built and checked once."""

    name: str
    n: int

    @property
    def matrix(self) -> np.ndarray:
        return mixing_matrix(self.name, self.n)

    @property
    def gap(self) -> float:
        return spectral_gap(self.matrix)
