"""AutoWU (Kim et al. 2021, "Automated Learning Rate Scheduler for Large-batch Training", arXiv
2107.05855): a warmup that ends itself when the training loss stops falling.

Warmup. The rate grows exponentially from lr_min towards lr_max over at most T_w steps,

    lr_t = lr_min (lr_max / lr_min)^(t / T_w),

so it sweeps every scale of rate; a rate that is too large makes the loss turn up.

The test, once per ``every`` steps (an epoch). The per-step training losses y_1..y_n of the
warmup so far, at x_j = (j - 1) / n in [0, 1), are smoothed by a Gaussian process with a
constant mean and an RBF kernel of fixed length scale l = 0.2,

    k(x, x') = s^2 exp(-(x - x')^2 / (2 l^2)),   y = f(x) + noise of variance r^2,

whose posterior at grid points X (100 points on [0, 1]; the authors use 500) is, in closed form,

    mean = m + K_Xx (K_xx + r^2 I)^-1 (y - m),   cov = K_XX - K_Xx (K_xx + r^2 I)^-1 K_xX.

The minimum lies in the past with probability p = max_{i < last} P(f(X_i) < f(X_last)) =
max_i Phi((mean_last - mean_i) / sd(f(X_i) - f(X_last))), the sd from the posterior covariance
(+ 1e-4 for round-off, as in the authors' code). The test is run on 5 posteriors, each fitted
to a random subsample of at most 500 of the losses, and votes yes when p > 0.95 on a majority
of them; three yes votes in a row switch. The switch rate is the mean over the 5 posteriors of
the warmup's rate at the posterior mean's minimum, lr_min (lr_now / lr_min)^(x_argmin); from
there the rate decays to 0 by a cosine over the rest of training. A member that reaches T_w
without switching switches there, at lr_max.

Settings read from the authors' public code (autowu.py): length scale 0.2 (not fitted), noise
1e-3, 5 subsampled posteriors of at most 500 points, confidence 0.95, patience 3, T_w at most
half of training, a test per epoch. The authors fit the constant mean, the signal variance and
the noise by maximum likelihood; here they are closed form on the standardised losses: m = 0
(their mean), r^2 = max(1e-3, half the mean square of successive differences) (the noise of a
curve that is smooth at the scale of a step), s^2 = max(1e-3, 1 - r^2) (the rest of the
variance). With r^2 from the data, losses that are noise alone give a flat posterior and p near
1/2, so they do not switch.

``AutoWarmup`` is this controller on the training loop (``train.RateController``): it owns the
rates of an ensemble (one column per member, each member its own test), keeps the losses on the
device after each step and reads them on the host once per ``every`` steps while a member is
still warming up: the one host synchronisation it adds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.linalg import cholesky, solve_triangular
from scipy.special import ndtr

from . import backend
from .nn.base import Layer
from .train import RateController
from .validate import ParameterError, check_integer, check_number

LENGTH_SCALE = 0.2
NOISE_FLOOR = 1e-3
SUBSAMPLES = 5
MAX_POINTS = 500
GRID_POINTS = 100  # the authors use 500; at a length scale of 0.2, 100 resolve the posterior
CONFIDENCE = 0.95
PATIENCE = 3
ROUNDOFF = 1e-4
FLOAT_DTYPES = (np.float32, np.float64, np.dtype(np.float32), np.dtype(np.float64))
SUBSAMPLE_SEED = 0  # the subsamples are drawn from a fixed stream, like the authors'


def rbf(a: np.ndarray, b: np.ndarray, length_scale: float = LENGTH_SCALE) -> np.ndarray:
    """exp(-(a_i - b_j)^2 / (2 l^2)), (len(a), len(b))."""
    return np.exp(-(np.subtract.outer(a, b) ** 2) / (2 * length_scale**2))


def gp_posterior(
    x: np.ndarray, y: np.ndarray, grid: np.ndarray, length_scale: float = LENGTH_SCALE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The GP posterior of the losses ``y`` at ``x`` on ``grid``, in the losses' units.

    Returns the mean (G,), the variance (G,) and the covariance of every grid point with the
    last (G,). Mean, signal and noise variances are the closed forms of the module docstring."""
    centre, scale = y.mean(), y.std()
    scale = scale if scale > 0 else 1.0
    z = (y - centre) / scale
    noise = max(NOISE_FLOOR, 0.5 * np.mean(np.diff(z) ** 2)) if len(z) > 1 else 1.0
    signal = max(NOISE_FLOOR, 1.0 - noise)
    k_xx = signal * rbf(x, x, length_scale) + noise * np.eye(len(x))
    k_gx = signal * rbf(grid, x, length_scale)
    chol = cholesky(k_xx, lower=True)
    alpha = solve_triangular(chol.T, solve_triangular(chol, z, lower=True), lower=False)
    v = solve_triangular(chol, k_gx.T, lower=True)  # (n, G)
    mean = k_gx @ alpha
    var = signal - np.sum(v * v, axis=0)
    cov_last = signal * rbf(grid, grid[-1:], length_scale)[:, 0] - v.T @ v[:, -1]
    return centre + scale * mean, scale**2 * var, scale**2 * cov_last


def past_minimum_probability(mean: np.ndarray, var: np.ndarray, cov_last: np.ndarray) -> float:
    """max_{i < last} P(f_i < f_last) for jointly Gaussian f with these moments."""
    diff_var = var[:-1] + var[-1] - 2 * cov_last[:-1]
    sd = np.sqrt(np.maximum(diff_var, 0) + ROUNDOFF)
    return float(np.max(ndtr((mean[-1] - mean[:-1]) / sd)))


def switch_vote(
    losses: np.ndarray, rng: np.random.Generator, grid_points: int = GRID_POINTS
) -> tuple[bool, float]:
    """One test on the warmup's per-step ``losses``: whether a majority of the subsampled
    posteriors put the minimum in the past with probability > 0.95, and the mean position in
    [0, 1] of their minima. Non-finite losses are left out; fewer than 3 finite ones vote no."""
    n = len(losses)
    finite = np.flatnonzero(np.isfinite(losses))
    if len(finite) < 3:
        return False, 1.0
    grid = np.linspace(0.0, 1.0, grid_points)
    # with no more than MAX_POINTS losses every subsample is all of them: one posterior
    subsamples = SUBSAMPLES if len(finite) > MAX_POINTS else 1
    votes, minima = 0, []
    for _ in range(subsamples):
        chosen = finite
        if subsamples > 1:
            chosen = np.sort(rng.choice(finite, MAX_POINTS, replace=False))
        mean, var, cov_last = gp_posterior(chosen / n, losses[chosen], grid)
        votes += past_minimum_probability(mean, var, cov_last) > CONFIDENCE
        minima.append(grid[np.argmin(mean)])
    return votes > subsamples / 2, float(np.mean(minima))


def cosine_tail(lr: np.ndarray, start: int, steps: int) -> np.ndarray:
    """lr (1 + cos(pi (t - start) / (steps - start))) / 2 for t = start .. steps - 1: (T', E)."""
    t = np.arange(start, steps)[:, None]
    return lr * (1 + np.cos(np.pi * (t - start) / max(1, steps - start))) / 2


class AutoWarmup(RateController):
    """AutoWU's rates for an ensemble: ``lr_min`` and ``lr_max`` one per member (or one for
    all), a warmup of at most ``warmup_steps``, ``steps`` in all, a test every ``every`` steps.

    ``table`` (steps, E) holds the rates: the warmup, then the plan from each member's switch
    (until a switch, the cosine from lr_max at ``warmup_steps``); the loop reads ``device``,
    its copy on the device, updated in place for the steps after each test. ``switch_step``
    (E,) is the first step of the decay a member's test chose (-1 where the test never
    switched: its decay starts at ``warmup_steps``); ``reads`` counts the host reads.
    ``frame()``: the rate of every step (member, step, lr, phase).
    """

    def __init__(
        self,
        lr_min: Any,
        lr_max: Any,
        warmup_steps: int,
        steps: int,
        every: int,
        members: int,
        dtype: Any = np.float32,
    ) -> None:
        self.steps = check_integer("steps", steps, low=1)
        self.warmup_steps = check_integer("warmup_steps", warmup_steps, low=1, high=self.steps)
        self.every = check_integer("every", every, low=1)
        members = check_integer("members", members, low=1)
        if self.every * PATIENCE > self.warmup_steps:
            raise ParameterError(
                "every",
                every,
                f"at most warmup_steps / {PATIENCE} ({self.warmup_steps // PATIENCE}): the "
                f"controller must read the loss {PATIENCE} times during the warmup to switch",
            )
        if dtype not in FLOAT_DTYPES:
            raise ParameterError("dtype", dtype, f"one of {FLOAT_DTYPES}")
        rates = {}
        for name, value in (("lr_min", lr_min), ("lr_max", lr_max)):
            values = np.ravel(value) if np.ndim(value) else [value]
            if len(values) not in (1, members):
                raise ParameterError(name, value, f"one rate or one per member ({members})")
            checked = [check_number(name, v, low=0, low_open=True) for v in values]
            rates[name] = np.broadcast_to(np.array(checked, np.float64), (members,))
        lr_min, lr_max = rates["lr_min"], rates["lr_max"]
        if np.any(lr_max <= lr_min):
            raise ParameterError("lr_max", lr_max.tolist(), f"above lr_min ({lr_min.tolist()})")
        self.lr_min, self.lr_max = lr_min.copy(), lr_max.copy()
        t = np.arange(self.warmup_steps)[:, None]
        ramp = self.lr_min * (self.lr_max / self.lr_min) ** (t / self.warmup_steps)
        self.table = np.concatenate([ramp, cosine_tail(self.lr_max, self.warmup_steps, self.steps)])
        self.device = backend.asarray(self.table, dtype=dtype)
        self.switch_step = np.full(members, -1)
        self._votes = np.zeros((members, PATIENCE), dtype=bool)
        xp = backend.get_backend()
        self._losses = xp.full((self.warmup_steps, members), np.nan, dtype=np.float64)
        self._rng = np.random.default_rng(SUBSAMPLE_SEED)
        self.reads = 0

    def after_step(self, step: int, model: Layer, loss: Any) -> None:
        if step >= self.warmup_steps:
            return
        self._losses[step] = loss
        warming = self.switch_step < 0
        if (step + 1) % self.every or not warming.any():
            return
        losses = backend.to_host(self._losses[: step + 1])  # the one host read
        self.reads += 1
        for e in np.flatnonzero(warming):
            vote, at = switch_vote(losses[:, e], self._rng)
            self._votes[e] = np.roll(self._votes[e], -1)
            self._votes[e, -1] = vote
            if self._votes[e].all() and step + 1 < self.warmup_steps:
                lr_now = self.table[step, e]
                self._switch(e, step + 1, self.lr_min[e] * (lr_now / self.lr_min[e]) ** at)
        self.device[step + 1 :] = backend.asarray(self.table[step + 1 :], dtype=self.device.dtype)

    def _switch(self, member: int, start: int, lr: float) -> None:
        self.table[start:, member] = cosine_tail(np.array([lr]), start, self.steps)[:, 0]
        self.switch_step[member] = start

    def frame(self) -> pd.DataFrame:
        """The rate of every step per member, with its phase (warmup or decay)."""
        steps, members = self.table.shape
        first_decay = np.where(self.switch_step >= 0, self.switch_step, self.warmup_steps)
        step = np.repeat(np.arange(steps), members)
        member = np.tile(np.arange(members), steps)
        return pd.DataFrame(
            {
                "member": member,
                "step": step + 1,
                "lr": self.table.reshape(-1),
                "phase": np.where(step >= first_decay[member], "decay", "warmup"),
            }
        )

    def select_members(self, keep: np.ndarray) -> None:
        """Keep only the members at positions ``keep`` (in order), every per-member array."""
        keep = np.asarray(keep, dtype=np.int64)
        self.lr_min, self.lr_max = self.lr_min[keep], self.lr_max[keep]
        self.table = self.table[:, keep]
        self.device = self.device[:, backend.asarray(keep)]
        self.switch_step = self.switch_step[keep]
        self._votes = self._votes[keep]
        self._losses = self._losses[:, backend.asarray(keep)]
