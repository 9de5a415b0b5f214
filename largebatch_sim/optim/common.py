"""What SGD and LARS share: per-member broadcasting, norms, the masked update, argument checks.

Every parameter, gradient and state buffer has a leading ensemble axis E; a global rate is a
number or an (E,) array (one per member), possibly on the device. Nothing here syncs to the
host: no ``float()``, no ``.item()``, no Python ``if`` on an array's values.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from ..nn.base import KINDS


def per_member(x: Any, like: Any, xp: ModuleType) -> Any:
    """``x`` (a number, or shape (E,)) as an array that broadcasts against ``like`` (E, ...):
    (E,) becomes (E, 1, ..., 1); a number stays 0-d. Cast to ``like``'s dtype (bool stays)."""
    x = xp.asarray(x)
    x = x if x.dtype == bool else x.astype(like.dtype, copy=False)
    if x.ndim == 1:
        return x.reshape(x.shape + (1,) * (like.ndim - 1))
    return x


def member_norm(x: Any, xp: ModuleType) -> Any:
    """||x_e||_2 of every member e: reduce over all axes but the first. Shape (E,)."""
    return xp.sqrt((x * x).sum(axis=tuple(range(1, x.ndim))))


def masked_assign(dst: Any, new: Any, active: Any, xp: ModuleType) -> None:
    """dst[...] = new in place, except for frozen members (``active[e]`` False), which keep dst.

    A masked copy, never a product with the mask: a NaN in a frozen member's ``new`` would
    survive ``0 * NaN`` but is never copied."""
    if active is None:
        dst[...] = new
    else:  # a masked copy: no temporary the size of dst, unlike dst[...] = where(...)
        xp.copyto(dst, new, where=per_member(active, dst, xp))


def safe_divide(num: Any, den: Any, fallback: float, xp: ModuleType) -> Any:
    """num / den where den > 0, else ``fallback``, per element, with no division by zero."""
    ok = den > 0
    return xp.where(ok, num / xp.where(ok, den, 1), fallback)


# ---------------------------------------------------------------------------------------------
# constructor checks


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def check_momentum(momentum: float) -> float:
    if not (_is_number(momentum) and 0 <= momentum < 1):
        raise ValueError(f"momentum must be a number in [0, 1), got {momentum!r}")
    return float(momentum)


def check_nonnegative(name: str, value: float) -> float:
    if not (_is_number(value) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_kinds(name: str, kinds: Iterable[str] | None) -> frozenset[str]:
    """A collection of parameter kinds (``weight``, ``bias``, ``norm``) to exclude."""
    if kinds is None:
        return frozenset()
    if isinstance(kinds, str):  # ("norm") without the comma is the string "norm"
        kinds = (kinds,)
    kinds = frozenset(kinds)
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(
            f"{name} must hold parameter kinds from {KINDS}, got unknown {sorted(unknown)}"
        )
    return kinds
