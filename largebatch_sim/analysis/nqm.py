"""The noisy quadratic model (NQM) of Zhang et al. 2019, "Which Algorithmic Choices Matter at
Which Batch Sizes? Insights From a Noisy Quadratic Model" (arXiv 1907.04164).

**The model.** The loss is a quadratic with a diagonal Hessian H = diag(h),

    L(theta) = 1/2 sum_i h_i theta_i^2,      h_i = 1 / i,  i = 1 .. d  (d = 10^4),

and the gradient of one example is the true gradient H theta plus noise of covariance
Sigma = H, so a batch of B examples gives g = H theta + eps with eps ~ N(0, H / B). The start is
theta_0 ~ N(0, I), so s_0 = E theta_0^2 = 1 in every dimension. Dimensions never mix, and the
expected loss at step t is

    E L_t = 1/2 sum_i h_i s_i(t),      s_i(t) = E theta_{t,i}^2.

Everything here is exact in expectation: no sampling (``monte_carlo`` samples, as a check).

**SGD** (theta <- theta - a g). Per dimension, theta <- (1 - a h) theta - a eps, so

    s <- (1 - a h)^2 s + a^2 h / B,
    s_t = s_inf + (1 - a h)^(2t) (s_0 - s_inf),     s_inf = a / (B (2 - a h)),

which converges where |1 - a h| < 1, i.e. 0 < a h < 2.

**Preconditioning** with P = H^-p (theta <- theta - a P g): the curvature seen by the update is
h^(1-p) and the noise variance a^2 h^(-2p) h / B; p = 0 is SGD. Below, x = a h^(1-p) and
sigma^2 = a^2 h^(1-2p) / B.

**Heavy-ball momentum** (v <- beta v + g, theta <- theta - a P v, with v_0 = 0; the "lr
outside the buffer" form of ``optim``). Eliminating v,

    theta_{t+1} = c theta_t - beta theta_{t-1} - a h^-p eps_t,      c = 1 + beta - x,

with theta_{-1} = theta_0. The second moments m_t = (A, C, D) = (E theta_t^2,
E theta_t theta_{t-1}, E theta_{t-1}^2) follow an affine map (eps_t is independent of both):

    A' = c^2 A - 2 c beta C + beta^2 D + sigma^2
    C' = c A - beta C                                 m_{t+1} = M m_t + (sigma^2, 0, 0),
    D' = A

with m_0 = (s_0, s_0, s_0) (``transition_matrix`` builds M). Its fixed point m* = (I - M)^-1
(sigma^2, 0, 0) is

    A* = sigma^2 (1 + beta) / ((1 - beta) x (2 (1 + beta) - x)),   C* = c A* / (1 + beta),  D* = A*,

(beta = 0 gives s_inf above), and m_t = m* + M^t (m_0 - m*), so only M^t is needed. M acts on
the 2x2 covariance S of (theta_t, theta_{t-1}) as S -> T S T^T with T = [[c, -beta], [1, 0]]
(the deterministic part of the update), hence M^t acts as S -> T^t S (T^t)^T: the power of
the 3x3 matrix is the power of the 2x2 one. By Cayley-Hamilton (T^2 = c T - beta I),

    T^t = p_t T - beta p_{t-1} I,    p_0 = 0, p_1 = 1, p_{n+1} = c p_n - beta p_{n-1},

so the first row of T^t is (P, -Q) = (p_{t+1}, -beta p_t) and

    A_t = A* + (P^2 + Q^2) (s_0 - A*) - 2 P Q (s_0 - C*)
        = s_0 (P - Q)^2 + A* (1 - P^2 - Q^2 + 2 P Q c / (1 + beta)).

With r_1, r_2 the roots of z^2 - c z + beta (|r_1| >= |r_2|, r_1 r_2 = beta), p_n =
(r_1^n - r_2^n) / (r_1 - r_2), computed without cancellation near a double root:

- complex roots (discriminant c^2 - 4 beta < 0): r = sqrt(beta) e^(+-i phi),
  p_n = beta^((n-1)/2) sin(n phi) / sin(phi);
- real roots: with q = r_2 / r_1 in (0, 1], p_n = r_1^(n-1) (1 - q^n) / (1 - q), the last
  factor as expm1(n log q) / expm1(log q) (n at q = 1, the double root).

The discriminant is factored as (x - (1 + sqrt beta)^2)(x - (1 - sqrt beta)^2), which is
accurate near zero. The three eigenvalues of M are r_1^2, r_1 r_2 = beta and r_2^2: the
iteration converges iff |r_1| < 1, i.e. 0 < x < 2 (1 + beta) (beta = 0: 0 < a h < 2).

**Divergence.** A dimension with x >= 2 (1 + beta) is unstable: its second moment grows
without bound. ``second_moments`` gives its exact (growing) value, +inf where that overflows or
where x = 2 (1 + beta) exactly (the formula has no fixed point there); ``expected_loss`` counts
a setting with any unstable dimension as *diverged* and returns +inf for every t >= 1, as a
trainer would once the loss has run away: never NaN. Any transient dip of such a run below the
target is not counted.

**Steps to a target.** ``steps_to_target`` returns the smallest integer t with E L_t <= target,
found in two stages: a scan over a geometric grid of t (cheap, because on a shared t the loss is
D_t(a) + N_t(a) / B for every batch size at once), then bisection on integers inside the first
bracket [t_k-1, t_k] where the scan crosses the target; +inf when no grid step up to
``max_steps`` reaches it. The loss of an under-damped momentum run is not monotone in t, so a
crossing between two grid points that the scan does not see would be missed; with the default
grid (ratio about 1.2 between points) this does not happen near the best learning rate.

Nothing loops in Python over dimensions, grid points and steps together: the closed forms are
evaluated on arrays (lr, batch or t, dimension), in chunks of lr to bound memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

DEFAULT_DIM = 10_000
MAX_STEPS = 10**9
CHUNK_ELEMENTS = 2_000_000  # elements per temporary array: bounds memory at any d


# ---------------------------------------------------------------------------------------------
# the model and its inputs


def curvatures(d: int = DEFAULT_DIM) -> np.ndarray:
    """Zhang et al.'s spectrum h_i = 1 / i, i = 1 .. d (float64)."""
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    return 1.0 / np.arange(1, d + 1, dtype=np.float64)


def _curv(h: Any) -> np.ndarray:
    h = curvatures() if h is None else np.asarray(h, dtype=np.float64)
    if h.ndim != 1 or h.size == 0 or not np.all(np.isfinite(h) & (h > 0)):
        raise ValueError("h must be a non-empty 1-D array of positive, finite curvatures")
    return h


def _check_beta_p(beta: Any, p: Any) -> tuple[float, float]:
    if not np.isscalar(beta) or not 0.0 <= float(beta) < 1.0:
        raise ValueError(f"momentum beta must be a number in [0, 1), got {beta!r}")
    if not np.isscalar(p) or not np.isfinite(float(p)):
        raise ValueError(f"preconditioning power p must be a finite number, got {p!r}")
    return float(beta), float(p)


def _positive(name: str, values: Any, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {a.shape}")
    if a.size == 0 or not np.all(np.isfinite(a) & (a > 0)):
        raise ValueError(f"{name} must be positive and finite, got {values!r}")
    return a


def _steps(values: Any) -> np.ndarray:
    t = np.asarray(values, dtype=np.float64)
    if not np.all((t >= 0) & (t == np.floor(t))):
        raise ValueError("steps must be non-negative integers")
    return t


def max_stable_lr(h: Any = None, beta: float = 0.0, p: float = 0.0) -> float:
    """The learning rate at which the stiffest dimension becomes unstable: 2 (1 + beta) /
    max h^(1-p). Rates at or above it diverge."""
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    return 2.0 * (1.0 + beta) / float(np.max(h ** (1.0 - p)))


def lr_grid(
    lo: float,
    h: Any = None,
    beta: float = 0.0,
    p: float = 0.0,
    per_octave: int = 3,
    edge_points: int = 16,
) -> np.ndarray:
    """Learning rates to search: geometric from ``lo`` up to half the stability limit a_max
    (``max_stable_lr``), ``per_octave`` per factor 2, then ``edge_points`` rates a_max (1 -
    2^(-j/2)), j = 2, 3, ..., geometric in the distance to the limit (0.5, 0.65, 0.75, ... of
    a_max): at large batches the best rate sits within a few percent of the limit."""
    top = max_stable_lr(h, beta, p)
    lo = float(_positive("lo", lo))
    if not lo < top / 2:
        raise ValueError(f"lo must be below half the stability limit {top / 2:.4g}, got {lo}")
    n = int(np.floor(per_octave * np.log2(top / 2 / lo)))
    low = top / 2 * 2.0 ** (-np.arange(n, 0, -1) / per_octave)
    edge = top * (1.0 - 2.0 ** (-np.arange(2, edge_points + 2) / 2))
    return np.concatenate([low, edge])


def diverges(lrs: Any, h: Any = None, beta: float = 0.0, p: float = 0.0) -> np.ndarray:
    """True where a learning rate makes some dimension unstable (x >= 2 (1 + beta))."""
    lrs = _positive("lrs", lrs)
    return lrs >= max_stable_lr(h, beta, p)


def initial_loss(h: Any = None, s0: float = 1.0) -> float:
    """E L_0 = 1/2 s_0 sum h_i (about 4.89 for d = 10^4)."""
    return 0.5 * float(s0) * float(np.sum(_curv(h)))


def transition_matrix(lr: float, h: Any, beta: float = 0.0, p: float = 0.0) -> np.ndarray:
    """M of the module docstring, shape (d, 3, 3), and the noise term is (sigma^2, 0, 0).

    For checking the closed forms (``tests/test_nqm.py`` iterates it); the library never
    iterates it over steps.
    """
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    c = 1.0 + beta - lr * h ** (1.0 - p)
    m = np.zeros((h.size, 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = c**2, -2.0 * c * beta, beta**2
    m[:, 1, 0], m[:, 1, 1] = c, -beta
    m[:, 2, 0] = 1.0
    return m


def noise_variance(lr: float, batch: float, h: Any, p: float = 0.0) -> np.ndarray:
    """sigma^2 = a^2 h^(-2p) h / B: the variance the batch noise adds to theta per step."""
    h = _curv(h)
    return lr**2 * h ** (1.0 - 2.0 * p) / batch


# ---------------------------------------------------------------------------------------------
# the closed forms


class _Dynamics:
    """Per (learning rate, dimension) constants of the closed form, arrays of shape (n, 1, d).

    ``parts(t)`` returns (D, N) summed over dimensions, with E L_t = D + N / B.
    """

    def __init__(self, lrs: np.ndarray, h: np.ndarray, beta: float, p: float, s0: float):
        self.beta, self.s0 = beta, s0
        a = lrs.reshape(-1, 1, 1)
        self.w = 0.5 * h  # loss weights
        x = a * h ** (1.0 - p)
        c = 1.0 + beta - x
        self.stable = (x < 2.0 * (1.0 + beta)).all(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            # A* = k / B (module docstring: sigma^2 / x = a h^-p / B)
            self.k = a * h ** (-p) * (1.0 + beta) / ((1.0 - beta) * (2.0 * (1.0 + beta) - x))
        if beta == 0.0:
            # (1 - x)^(2t) as exp(t log (1 - x)^2), faster than power; log 0 -> -huge, not
            # -inf, so that t = 0 still gives 1
            with np.errstate(divide="ignore"):
                self.log_c2 = np.maximum(np.log(c * c), -np.finfo(np.float64).max)
            return
        self.gamma = c / (1.0 + beta)
        rb = np.sqrt(beta)
        disc = (x - (1.0 + rb) ** 2) * (x - (1.0 - rb) ** 2)
        self.cplx = disc < 0
        root = np.sqrt(np.abs(disc))
        mag = np.where(self.cplx, rb, 0.5 * (np.abs(c) + root))  # |r_1|
        self.log_mag = np.log(mag)
        # P = sign^t |r_1|^t G_{t+1} and Q = beta p_t = sign^t |r_1|^t b G_t with b = beta / r_1
        # (real r_1 carries the sign of c; complex roots: b = sqrt(beta)); sign^t cancels in
        # the squares and in P Q
        self.b = beta / np.where(self.cplx, mag, np.copysign(mag, c))
        self.phi = np.arctan2(root, c)  # complex case: arg r_1
        self.sin_phi = np.sin(self.phi)
        self.log_q = -2.0 * np.arcsinh(root / (2.0 * rb))  # real case: log(r_2 / r_1)
        self.em1_q = np.expm1(self.log_q)

    def take(self, rows: np.ndarray) -> _Dynamics:
        new = object.__new__(_Dynamics)
        for key, value in vars(self).items():
            keep = isinstance(value, np.ndarray) and value.ndim == 3  # per lr: (n, 1, d)
            setattr(new, key, value[rows] if keep else value)
        new.stable = self.stable[rows]
        return new

    def _g(self, n: np.ndarray) -> np.ndarray:
        """p_n / (sign r_1)^(n-1) / |r_1|^(n-1): sin(n phi) / sin(phi) or (1 - q^n) / (1 - q).

        Each branch is computed only where it applies (ufunc ``where=``).
        """
        shape = np.broadcast_shapes(n.shape, self.phi.shape)
        out, arg = np.empty(shape), np.empty(shape)
        cplx, real = np.broadcast_to(self.cplx, shape), np.broadcast_to(~self.cplx, shape)
        np.multiply(n, self.phi, out=arg, where=cplx)
        np.sin(arg, out=out, where=cplx)
        np.divide(out, self.sin_phi, out=out, where=cplx)
        np.multiply(n, self.log_q, out=arg, where=real)
        np.expm1(arg, out=out, where=real)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(out, self.em1_q, out=out, where=real)
        double = real & (self.log_q == 0.0)  # double root: (1 - q^n) / (1 - q) -> n
        if double.any():
            out[double] = np.broadcast_to(n, shape)[double]
        return out

    def moments(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(deterministic part, noise part / (1/B)) of s_i(t): s = det + noise / B."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if self.beta == 0.0:
                e = np.exp(t * self.log_c2)  # (1 - x)^(2t)
                return self.s0 * e, self.k * (1.0 - e)
            e2 = np.exp(2.0 * t * self.log_mag)  # |r_1|^(2t); the sign of r_1 cancels
            g1, g0 = self._g(t + 1.0), self._g(t)
            bg0 = self.b * g0
            det = self.s0 * e2 * (g1 - bg0) ** 2
            noise = self.k * (1.0 - e2 * (g1 * g1 + bg0 * bg0 - 2.0 * self.gamma * g1 * bg0))
            return det, noise

    def parts(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        det, noise = self.moments(t)
        return (self.w * det).sum(-1), (self.w * noise).sum(-1)


def _chunks(n: int, per_row: int) -> list[slice]:
    size = max(1, CHUNK_ELEMENTS // max(per_row, 1))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def second_moments(
    steps: Any,
    lr: float,
    batch: float,
    h: Any = None,
    beta: float = 0.0,
    p: float = 0.0,
    s0: float = 1.0,
) -> np.ndarray:
    """s_i(t) = E theta_{t,i}^2 for one (lr, batch), at each of ``steps``: shape steps.shape +
    (d,). Exact also in unstable dimensions (growing; +inf where that overflows)."""
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    lr = float(_positive("lr", lr))
    batch = float(_positive("batch", batch))
    t = _steps(steps)
    dyn = _Dynamics(np.array([lr]), h, beta, p, float(s0))
    det, noise = dyn.moments(t.reshape(1, -1, 1))
    s = (det + noise / batch)[0]
    s = np.where(np.isfinite(s), s, np.inf)
    s = np.where(t.reshape(-1, 1) == 0, float(s0), s)
    return s.reshape(t.shape + (h.size,))


def expected_loss(
    steps: Any,
    lrs: Any,
    batches: Any,
    h: Any = None,
    beta: float = 0.0,
    p: float = 0.0,
    s0: float = 1.0,
) -> np.ndarray:
    """E L_t on the grid of learning rates x batch sizes: shape (n_lr, n_B).

    ``steps`` is one step count or an array broadcastable to (n_lr, n_B). Diverged settings
    (``diverges``) give +inf for t >= 1.
    """
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    lrs = _positive("lrs", lrs, ndim=1)
    batches = _positive("batches", batches, ndim=1)
    t = np.broadcast_to(_steps(steps), (lrs.size, batches.size))
    out = np.empty((lrs.size, batches.size))
    inv_b = 1.0 / batches
    for rows in _chunks(lrs.size, batches.size * h.size):
        dyn = _Dynamics(lrs[rows], h, beta, p, float(s0))
        det, noise = dyn.parts(t[rows][..., None])
        loss = det + inv_b * noise
        out[rows] = np.where(dyn.stable[:, None] | (t[rows] == 0), loss, np.inf)
    out[t == 0] = initial_loss(h, s0)
    return out


def noise_floor(
    lrs: Any, batches: Any, h: Any = None, beta: float = 0.0, p: float = 0.0
) -> np.ndarray:
    """lim E L_t = 1/2 sum_i h_i A*_i on the grid lrs x batches, (n_lr, n_B); +inf where the
    rate diverges. For SGD and small a it is about a sum(h) / (4 B): it depends on a / B."""
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    lrs = _positive("lrs", lrs, ndim=1)
    batches = _positive("batches", batches, ndim=1)
    floor = np.empty(lrs.size)
    for rows in _chunks(lrs.size, h.size):
        dyn = _Dynamics(lrs[rows], h, beta, p, 1.0)
        floor[rows] = np.where(dyn.stable, (dyn.w * dyn.k).sum(axis=(1, 2)), np.inf)
    return floor[:, None] / batches[None, :]


def loss_curve(
    steps: Any,
    lr: float,
    batch: float,
    h: Any = None,
    beta: float = 0.0,
    p: float = 0.0,
    s0: float = 1.0,
) -> np.ndarray:
    """E L_t for one (lr, batch) at each of the 1-D ``steps`` (for curves and the widget)."""
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    lr = float(_positive("lr", lr))
    batch = float(_positive("batch", batch))
    t = _steps(steps)
    if t.ndim != 1:
        raise ValueError("steps must be a 1-D array")
    out = np.empty(t.size)
    dyn = _Dynamics(np.array([lr]), h, beta, p, float(s0))
    for cols in _chunks(t.size, h.size):
        det, noise = dyn.parts(t[cols].reshape(1, -1, 1))
        out[cols] = (det + noise / batch)[0]
    if not dyn.stable[0]:
        out[:] = np.inf
    out[t == 0] = initial_loss(h, s0)
    return out


def step_grid(max_steps: int = MAX_STEPS, per_decade: int = 12) -> np.ndarray:
    """0 and integers spaced geometrically from 1 to ``max_steps`` (the scan of
    ``steps_to_target``); ``per_decade`` = 12 gives a ratio of about 1.2 between points."""
    n = int(np.ceil(per_decade * np.log10(max(max_steps, 10)))) + 1
    return np.unique(np.concatenate([[0.0], np.round(np.geomspace(1, max_steps, n))]))


def steps_to_target(
    target: float,
    lrs: Any,
    batches: Any,
    h: Any = None,
    beta: float = 0.0,
    p: float = 0.0,
    s0: float = 1.0,
    max_steps: int = MAX_STEPS,
    per_decade: int = 12,
) -> np.ndarray:
    """The smallest integer t with E L_t <= target, on the grid lrs x batches: (n_lr, n_B).

    +inf for diverged learning rates and where no step up to ``max_steps`` reaches the target
    (the noise floor 1/2 sum h_i A*_i is above it, or the rate is too small). See the module
    docstring for the scan-then-bisect search and its one caveat.
    """
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    lrs = _positive("lrs", lrs, ndim=1)
    batches = _positive("batches", batches, ndim=1)
    target = float(_positive("target", target))
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    out = np.full((lrs.size, batches.size), np.inf)
    if target >= initial_loss(h, s0):
        out[:] = 0.0
        return out
    grid = step_grid(int(max_steps), per_decade)
    inv_b = 1.0 / batches
    for rows in _chunks(lrs.size, max(grid.size, batches.size) * h.size):
        dyn = _Dynamics(lrs[rows], h, beta, p, float(s0))
        det, noise = dyn.parts(grid.reshape(1, -1, 1))  # (n, n_t)
        loss = det[:, None, :] + inv_b[None, :, None] * noise[:, None, :]  # (n, n_B, n_t)
        below = loss <= target
        reached = below.any(-1) & dyn.stable[:, None]
        k = below.argmax(-1)
        hi = grid[k]
        lo = grid[np.maximum(k - 1, 0)]
        # bisection on integers: loss(lo) > target >= loss(hi), on the pairs that are open
        i, j = np.nonzero(reached)
        lo, hi = lo[i, j], hi[i, j]
        sub = dyn.take(i) if i.size else None
        active = np.nonzero(hi - lo > 1)[0]
        while active.size:
            mid = np.floor(0.5 * (lo[active] + hi[active]))
            part = sub.take(active)
            d_mid, n_mid = part.parts(mid.reshape(-1, 1, 1))
            ok = (d_mid[:, 0] + inv_b[j[active]] * n_mid[:, 0]) <= target
            hi[active] = np.where(ok, mid, hi[active])
            lo[active] = np.where(ok, lo[active], mid)
            active = active[hi[active] - lo[active] > 1]
        block = np.full((dyn.stable.size, batches.size), np.inf)
        block[i, j] = hi
        out[rows] = block
    return out


# ---------------------------------------------------------------------------------------------
# best learning rate, tidy tables, the critical batch size


def best_lr(steps: np.ndarray, lrs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per batch size (column of ``steps``), the grid rate with the fewest steps: (best lr,
    its steps, its row index). Ties go to the smaller rate; a column that never reaches the
    target gives lr NaN and steps +inf."""
    steps = np.asarray(steps, dtype=np.float64)
    lrs = _positive("lrs", lrs, ndim=1)
    if steps.ndim != 2 or steps.shape[0] != lrs.size:
        raise ValueError(f"steps must have shape (n_lr={lrs.size}, n_B), got {steps.shape}")
    idx = np.argmin(steps, axis=0)
    best = steps[idx, np.arange(steps.shape[1])]
    lr = np.where(np.isfinite(best), lrs[idx], np.nan)
    return lr, best, idx


def sweep(
    target: float,
    lrs: Any,
    batches: Any,
    h: Any = None,
    beta: float = 0.0,
    p: float = 0.0,
    s0: float = 1.0,
    max_steps: int = MAX_STEPS,
    label: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Steps to ``target`` on the grid, as two tidy tables.

    ``grid``: one row per (lr, batch) with columns setting, beta, p, lr, batch, steps
    (+inf when never reached), reached, diverged. ``best``: one row per batch with setting,
    beta, p, batch, best_lr, steps, examples (= batch * steps), lr_at_edge (the best rate is
    the first or last of the grid, so the optimum may lie outside it).
    """
    lrs = _positive("lrs", lrs, ndim=1)
    batches = _positive("batches", batches, ndim=1)
    label = label if label is not None else f"beta={beta:g}, p={p:g}"
    steps = steps_to_target(target, lrs, batches, h, beta, p, s0, max_steps)
    div = diverges(lrs, h, beta, p)
    ll, bb = np.meshgrid(lrs, batches, indexing="ij")
    grid = pd.DataFrame(
        {
            "setting": label,
            "beta": beta,
            "p": p,
            "lr": ll.ravel(),
            "batch": bb.ravel(),
            "steps": steps.ravel(),
            "reached": np.isfinite(steps).ravel(),
            "diverged": np.repeat(div, batches.size),
        }
    )
    lr, best_steps, idx = best_lr(steps, lrs)
    best = pd.DataFrame(
        {
            "setting": label,
            "beta": beta,
            "p": p,
            "batch": batches,
            "best_lr": lr,
            "steps": best_steps,
            "examples": batches * best_steps,
            "lr_at_edge": (idx == 0) | (idx == lrs.size - 1),
        }
    )
    return grid, best


def perfect_scaling_knee(
    batches: Sequence[float], steps: Sequence[float], factor: float = 2.0
) -> float:
    """The batch size where the steps reach ``factor`` times the perfect-scaling line
    S(B_0) B_0 / B drawn from the smallest batch B_0 (log-log interpolation between measured
    batch sizes); NaN if they never do. For S = S_min (1 + B_crit / B) and factor 2 this is
    B_crit + 2 B_0, i.e. about B_crit when B_0 << B_crit."""
    b = _positive("batches", batches, ndim=1)
    s = np.asarray(steps, dtype=np.float64)
    if s.shape != b.shape or not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError("steps must be positive, finite, one per batch size")
    order = np.argsort(b)
    b, s = b[order], s[order]
    ratio = np.log(s * b / (s[0] * b[0]))  # log(S / perfect line)
    level = np.log(factor)
    above = np.nonzero(ratio >= level)[0]
    if not above.size:
        return float("nan")
    k = above[0]
    if k == 0:
        return float(b[0])
    frac = (level - ratio[k - 1]) / (ratio[k] - ratio[k - 1])
    return float(np.exp(np.log(b[k - 1]) + frac * (np.log(b[k]) - np.log(b[k - 1]))))


# ---------------------------------------------------------------------------------------------
# noise scales of the quadratic (a check for the estimators of ``noise.py``)


class QuadraticNoiseScales(NamedTuple):
    """McCandlish et al.'s noise scales of the quadratic at theta, and their parts."""

    b_simple: np.ndarray  # tr(Sigma) / |G|^2
    b_noise: np.ndarray  # tr(H Sigma) / (G^T H G)
    grad_sq: np.ndarray  # |G|^2
    trace_sigma: np.ndarray  # tr(Sigma)
    trace_h_sigma: np.ndarray  # tr(H Sigma)
    g_h_g: np.ndarray  # G^T H G


def quadratic_noise_scales(h: Any, theta: Any, sigma: Any = None) -> QuadraticNoiseScales:
    """Closed-form B_simple and B_noise of L = 1/2 sum h_i theta_i^2 at ``theta``.

    G = H theta; the per-example gradient covariance is diagonal, ``sigma`` (default H, the
    NQM's): B_simple = tr(Sigma) / |G|^2 = sum sigma_i / sum h_i^2 theta_i^2 and B_noise =
    tr(H Sigma) / (G^T H G) = sum h_i sigma_i / sum h_i^3 theta_i^2. ``theta`` may carry
    leading axes (..., d); the results then have shape (...). Since only theta^2 enters,
    theta = sqrt(s) with s = E theta^2 gives the ratios of expectations E tr / E |G|^2.
    """
    h = _curv(h)
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape[-1:] != h.shape:
        raise ValueError(f"theta must end with the dimension d = {h.size}, got {theta.shape}")
    sigma = h if sigma is None else np.asarray(sigma, dtype=np.float64)
    if sigma.shape != h.shape or np.any(sigma < 0):
        raise ValueError("sigma must be the non-negative diagonal of Sigma, one per dimension")
    g2 = h * h * theta * theta
    grad_sq, g_h_g = g2.sum(-1), (h * g2).sum(-1)
    tr, tr_h = sigma.sum(), (h * sigma).sum()
    with np.errstate(divide="ignore"):
        return QuadraticNoiseScales(tr / grad_sq, tr_h / g_h_g, grad_sq, tr, tr_h, g_h_g)


# ---------------------------------------------------------------------------------------------
# the reference: the same quadratic, sampled


def monte_carlo(
    steps: Sequence[int],
    lr: float,
    batch: float,
    h: Any,
    beta: float = 0.0,
    p: float = 0.0,
    trials: int = 10_000,
    seed: int = 0,
) -> np.ndarray:
    """Mean of theta_i^2 over ``trials`` sampled runs at each of ``steps``: (len(steps), d).

    Runs the update itself (v <- beta v + g, theta <- theta - a h^-p v, g = h theta + eps,
    eps ~ N(0, h / B), theta_0 ~ N(0, 1)), a Python loop over steps vectorised over trials and
    dimensions: the check of the closed forms, for small d.
    """
    h = _curv(h)
    beta, p = _check_beta_p(beta, p)
    steps = sorted({int(s) for s in steps})
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((trials, h.size))
    v = np.zeros_like(theta)
    scale, pre = np.sqrt(h / batch), h ** (-p)
    out = []
    for t in range(steps[-1] + 1):
        if t in steps:
            out.append((theta * theta).mean(0))
        g = h * theta + scale * rng.standard_normal(theta.shape)
        v = beta * v + g
        theta = theta - lr * pre * v
    return np.array(out)
