"""Fits of McCandlish et al. 2018: the steps/examples Pareto front and the best learning rate.

**Pareto front.** To reach a given loss, training with batch B takes S steps and E = B S
examples, and the trade-off follows the hyperbola

    (S / S_min - 1) (E / E_min - 1) = 1,

i.e. S(B) = S_min (1 + B_crit / B) and E(B) = E_min (1 + B / B_crit), with the critical batch
B_crit = E_min / S_min: below it the steps fall as 1/B (perfect scaling), above it they level
off at S_min. ``fit_pareto`` fits S(B) by least squares on log S (the measured steps are
multiplicatively noisy and span decades), with the parameters log S_min and log B_crit so that
both stay positive.

**Best learning rate.** eps_opt(B) = eps_max / (1 + B* / B): linear in B for B << B*, flat at
eps_max for B >> B* (the paper's SVHN fit: eps = 0.27 B / (96 + B), i.e. eps_max = 0.27,
B* = 96). ``fit_lr`` fits it the same way, on log eps.

Uncertainties: standard errors from the covariance of the log-space fit (scaled by the residual
variance, as ``scipy.optimize.curve_fit`` does by default) carried to the parameters by the delta
method, or (``se="bootstrap"``) the spread of refits on points resampled with replacement:
crude with a handful of points, but free of the linearisation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import curve_fit

SE_METHODS = ("covariance", "bootstrap")
BOUND = 1e6  # B_crit and B* are searched within [min B / BOUND, max B * BOUND]
OUTSIDE = 10.0  # a fitted B_crit or B* further than this outside the measured range warns


def _check_points(where: str, batch: Any, values: Any, name: str) -> tuple[np.ndarray, ...]:
    batch = np.asarray(batch, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if batch.ndim != 1 or values.shape != batch.shape:
        raise ValueError(
            f"{where}: batch and {name} must be 1-D arrays of the same length, got shapes "
            f"{batch.shape} and {values.shape}"
        )
    if len(batch) < 3:
        raise ValueError(f"{where}: needs at least 3 points to fit 2 parameters, got {len(batch)}")
    for label, a in (("batch", batch), (name, values)):
        bad = ~np.isfinite(a) | (a <= 0)
        if bad.any():
            raise ValueError(
                f"{where}: {label} must be finite and positive, got {a[bad].tolist()} "
                f"(drop the batch sizes that never reached the target)"
            )
    if len(np.unique(batch)) < 2:
        raise ValueError(f"{where}: needs at least 2 distinct batch sizes, got {np.unique(batch)}")
    return batch, values


def _log_model(sign: float):
    """log y = a + sign * log(1 + exp(b) / B): the Pareto steps (sign +1) and the best lr (-1)."""

    def f(batch: np.ndarray, a: float, b: float) -> np.ndarray:
        return a + sign * np.log1p(np.exp(b) / batch)

    return f


def _fit(batch: np.ndarray, y: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) and their covariance for log y = a + sign log(1 + exp(b) / B)."""
    # starting values from the model's linear form in 1/B: y = c0 + c1 / B for the steps,
    # 1/y = c0 + c1 / B for the learning rate; c1 / c0 is the critical batch either way
    target = y if sign > 0 else 1.0 / y
    c1, c0 = np.polyfit(1.0 / batch, target, 1)
    if c0 > 0 and c1 > 0:
        a0, b0 = np.log(c0) * sign, np.log(c1 / c0)
    else:
        a0, b0 = np.log(y.min() if sign > 0 else y.max()), np.log(np.median(batch))
    lo, hi = np.log(batch.min() / BOUND), np.log(batch.max() * BOUND)
    b0 = float(np.clip(b0, lo + 1e-3, hi - 1e-3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OptimizeWarning on exact data: pcov is checked below
        p, pcov = curve_fit(
            _log_model(sign),
            batch,
            np.log(y),
            p0=[a0, b0],
            bounds=([-np.inf, lo], [np.inf, hi]),
        )
    if not batch.min() / OUTSIDE < np.exp(p[1]) < batch.max() * OUTSIDE:
        warnings.warn(
            f"the fitted critical batch size {np.exp(p[1]):.3g} lies more than {OUTSIDE:g}x "
            f"outside the measured batch sizes [{batch.min():g}, {batch.max():g}]: it is not "
            f"constrained by the data (steps still falling as 1/B at the largest batch, or "
            f"already flat at the smallest)",
            RuntimeWarning,
            stacklevel=3,
        )
    return p, pcov


def _bootstrap(batch, y, sign, derived, n_boot, seed) -> np.ndarray:
    """Standard deviations of ``derived(a, b)`` over refits to resampled points."""
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 2:
        raise ValueError(f"n_boot must be an int >= 2, got {n_boot!r}")
    rng = np.random.default_rng(seed)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(n_boot):
            idx = rng.integers(0, len(batch), len(batch))
            if len(np.unique(batch[idx])) < 2:
                continue  # no curve through a single batch size
            try:
                p, _ = _fit(batch[idx], y[idx], sign)
            except (RuntimeError, ValueError):
                continue
            out.append(derived(*p))
    if len(out) < 2:
        raise RuntimeError("bootstrap: fewer than 2 resamples could be fitted")
    return np.std(np.array(out), axis=0, ddof=1)


def _check_se(se: str) -> None:
    if se not in SE_METHODS:
        raise ValueError(f"se must be one of {SE_METHODS}, got {se!r}")


@dataclass(frozen=True)
class ParetoFit:
    """S(B) = S_min (1 + B_crit / B), E(B) = E_min (1 + B / B_crit), B_crit = E_min / S_min,
    with standard errors (``se_method``: covariance or bootstrap) from ``n_points`` points."""

    s_min: float
    e_min: float
    b_crit: float
    s_min_se: float
    e_min_se: float
    b_crit_se: float
    n_points: int
    se_method: str

    def steps(self, batch: Any) -> np.ndarray:
        """Fitted steps to the target at batch size B."""
        return self.s_min * (1.0 + self.b_crit / np.asarray(batch, dtype=np.float64))

    def examples(self, batch: Any) -> np.ndarray:
        """Fitted examples to the target at batch size B (= B S(B))."""
        return self.e_min * (1.0 + np.asarray(batch, dtype=np.float64) / self.b_crit)


def fit_pareto(
    batch: Any, steps: Any, *, se: str = "covariance", n_boot: int = 1000, seed: int = 0
) -> ParetoFit:
    """Fit (S/S_min - 1)(E/E_min - 1) = 1 to steps-to-target measured at several batch sizes.

    ``batch`` and ``steps`` are 1-D, positive and finite (at least 3 points, 2 distinct batch
    sizes; a batch size that never reached the target has no point). Least squares on
    log S(B) = log S_min + log(1 + B_crit / B) (``scipy.optimize.curve_fit``); E_min =
    S_min B_crit. With exact points the errors are 0. Warns (``RuntimeWarning``) when B_crit
    comes out more than 10x outside the measured batch sizes: the data do not constrain it.
    """
    _check_se(se)
    batch, steps = _check_points("fit_pareto", batch, steps, "steps")
    p, pcov = _fit(batch, steps, +1.0)
    a, b = p
    if se == "covariance":
        var_a, var_b, cov_ab = pcov[0, 0], pcov[1, 1], pcov[0, 1]
        errors = (
            np.exp(a) * np.sqrt(var_a),
            np.exp(a + b) * np.sqrt(max(var_a + var_b + 2 * cov_ab, 0.0)),
            np.exp(b) * np.sqrt(var_b),
        )
    else:
        errors = _bootstrap(
            batch, steps, +1.0, lambda a, b: (np.exp(a), np.exp(a + b), np.exp(b)), n_boot, seed
        )
    return ParetoFit(
        s_min=float(np.exp(a)),
        e_min=float(np.exp(a + b)),
        b_crit=float(np.exp(b)),
        s_min_se=float(errors[0]),
        e_min_se=float(errors[1]),
        b_crit_se=float(errors[2]),
        n_points=len(batch),
        se_method=se,
    )


def pareto_curve(fit: ParetoFit, batch: Any) -> pd.DataFrame:
    """The fitted front at the given batch sizes (e.g. ``np.geomspace(8, 4096, 100)``): a tidy
    table with columns batch, steps, examples, for plotting steps against examples."""
    batch = np.asarray(batch, dtype=np.float64)
    if batch.ndim != 1 or np.any(~np.isfinite(batch) | (batch <= 0)):
        raise ValueError("pareto_curve: batch must be a 1-D array of positive batch sizes")
    return pd.DataFrame(
        {"batch": batch, "steps": fit.steps(batch), "examples": fit.examples(batch)}
    )


@dataclass(frozen=True)
class LRFit:
    """eps(B) = eps_max / (1 + B* / B), with standard errors (``se_method``)."""

    eps_max: float
    b_star: float
    eps_max_se: float
    b_star_se: float
    n_points: int
    se_method: str

    def lr(self, batch: Any) -> np.ndarray:
        """Fitted best learning rate at batch size B."""
        return self.eps_max / (1.0 + self.b_star / np.asarray(batch, dtype=np.float64))


def fit_lr(
    batch: Any, best_lr: Any, *, se: str = "covariance", n_boot: int = 1000, seed: int = 0
) -> LRFit:
    """Fit the best learning rate per batch size to eps(B) = eps_max / (1 + B* / B).

    Least squares on log eps(B) = log eps_max - log(1 + B* / B) (the best rate of a grid is
    known to within a multiplicative step); inputs as ``fit_pareto``. McCandlish et al.'s SVHN
    example: eps = 0.27 B / (96 + B), eps_max = 0.27, B* = 96. Warns like ``fit_pareto``
    when B* comes out more than 10x outside the measured batch sizes.
    """
    _check_se(se)
    batch, best_lr = _check_points("fit_lr", batch, best_lr, "best_lr")
    p, pcov = _fit(batch, best_lr, -1.0)
    a, b = p
    if se == "covariance":
        errors = (np.exp(a) * np.sqrt(pcov[0, 0]), np.exp(b) * np.sqrt(pcov[1, 1]))
    else:
        errors = _bootstrap(batch, best_lr, -1.0, lambda a, b: (np.exp(a), np.exp(b)), n_boot, seed)
    return LRFit(
        eps_max=float(np.exp(a)),
        b_star=float(np.exp(b)),
        eps_max_se=float(errors[0]),
        b_star_se=float(errors[1]),
        n_points=len(batch),
        se_method=se,
    )
