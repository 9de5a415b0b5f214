"""The gain that adaptive systems read off the noise scale: AdaScale's and Pollux's.

With G the true gradient and Sigma the per-example covariance, a mean-loss gradient over B
examples has E |G_B|^2 = |G|^2 + tr(Sigma) / B (``noise.py``). Scaling a base batch B0 up by
S = B / B0:

- **AdaScale** (Johnson, Agrawal, Gu, Guestrin 2020, "AdaScale SGD"), the gain ratio

      r = (sigma^2 + mu^2) / (sigma^2 / S + mu^2),

  with mu^2 = |G|^2 and sigma^2 = tr(Sigma) / B0 the variance of a B0-batch gradient; so

      r(B) = (tr(Sigma) / B0 + |G|^2) / (tr(Sigma) / B + |G|^2)
           = (1 + B_simple / B0) / (1 + B_simple / B),      1 <= r <= S.

  AdaScale multiplies the base learning rate by r and counts a step at scale S as r base
  steps: r is the predicted speed-up per step over the base batch. It is McCandlish et al.'s
  progress per step, 1 / (1 + B_noise / B), taken relative to B0 with B_simple for B_noise.
- **Pollux** (Qiao et al. 2021, "Pollux: co-adaptive cluster scheduling"), the statistical
  efficiency of batch B against B0, EFFICIENCY = (phi + B0) / (phi + B) with phi the noise
  scale, is that gain per example: r / S = (B_simple + B0) / (B_simple + B), in (0, 1]; the
  fraction of the base batch's progress per example that batch B keeps.

Both take tr(Sigma) and |G|^2 as measured by the ``NoiseScale`` instrument (averaged over a
window: average each, then divide); where the averaged |G|^2 is not positive they are NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validate import ParameterError, check_number


def _b_simple(trace: Any, g2: Any) -> np.ndarray:
    trace, g2 = np.asarray(trace, dtype=np.float64), np.asarray(g2, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((g2 > 0) & (trace >= 0), trace / g2, np.nan)


def adascale_gain(trace: Any, g2: Any, batch: Any, base_batch: float) -> np.ndarray:
    """AdaScale's gain r = (tr(Sigma) / B0 + |G|^2) / (tr(Sigma) / B + |G|^2) of ``batch``
    over ``base_batch`` (arrays broadcast); NaN where |G|^2 <= 0 or tr(Sigma) < 0."""
    b0 = check_number("base_batch", base_batch, low=0, low_open=True)
    batch = np.asarray(batch, dtype=np.float64)
    if np.any(~np.isfinite(batch) | (batch <= 0)):
        raise ParameterError("batch", batch, "finite and positive batch sizes")
    b_simple = _b_simple(trace, g2)
    return (1.0 + b_simple / b0) / (1.0 + b_simple / batch)


def statistical_efficiency(trace: Any, g2: Any, batch: Any, base_batch: float) -> np.ndarray:
    """Pollux's statistical efficiency (B_simple + B0) / (B_simple + B): AdaScale's gain over
    the scale S = B / B0, the progress per example kept at ``batch``."""
    gain = adascale_gain(trace, g2, batch, base_batch)
    return gain * base_batch / np.asarray(batch, dtype=np.float64)
