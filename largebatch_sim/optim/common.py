"""What SGD and LARS share: per-member broadcasting, norms, the masked update, argument checks.

Every parameter, gradient and state buffer has a leading ensemble axis E; a global rate is a
number or an (E,) array (one per member), possibly on the device. Nothing here syncs to the
host: no ``float()``, no ``.item()``, no Python ``if`` on an array's values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from types import ModuleType
from typing import Any

import numpy as np

from ..nn.base import KINDS
from ..validate import ParameterError, check_bool, check_choice, check_number, check_sequence


def per_member(x: Any, like: Any, xp: ModuleType) -> Any:
    """``x`` (a number, or shape (E,)) as an array that broadcasts against ``like`` (E, ...):
    (E,) becomes (E, 1, ..., 1); a number stays 0-d. Cast to ``like``'s dtype (bool stays)."""
    x = xp.asarray(x)
    x = x if x.dtype == bool else x.astype(like.dtype, copy=False)
    if x.ndim == 1:
        return x.reshape(x.shape + (1,) * (like.ndim - 1))
    return x


def check_hyperparameter(name: str, value: Any, **bounds: Any) -> float | np.ndarray:
    """A scalar hyperparameter (``check_number``'s ``bounds``) or one per member: a sequence or
    1-D array of them, returned as a float64 host array (E,), each value checked, so that a
    sweep over momentum, weight decay, a trust coefficient or Adam's betas is one ensemble."""
    if np.ndim(value) == 0:
        return check_number(name, value, **bounds)
    values = np.asarray(value, dtype=object)
    if values.ndim != 1 or values.size == 0:
        raise ParameterError(name, value, "a number, or one number per member (a 1-D sequence)")
    return np.array([check_number(f"{name}[{i}]", v, **bounds) for i, v in enumerate(values)])


def select_hyperparameter(value: float | np.ndarray, keep: np.ndarray) -> float | np.ndarray:
    """A per-member hyperparameter for the members at ``keep``; a scalar is shared by all."""
    return value[keep] if isinstance(value, np.ndarray) else value


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
# argument checks


def check_kinds(name: str, kinds: Iterable[str] | str | None) -> frozenset[str]:
    """A collection of parameter kinds (``weight``, ``bias``, ``norm``) to exclude: a sequence
    or a set of them, one kind alone, or None for none."""
    if kinds is None:
        return frozenset()
    if isinstance(kinds, str):  # ("norm") without the comma is the string "norm"
        kinds = (kinds,)
    if isinstance(kinds, AbstractSet):
        kinds = tuple(kinds)
    return frozenset(check_sequence(name, kinds, lambda n, v: check_choice(n, v, KINDS)))


def check_step(params: Any, grads: Any, lr: Any, kinds: Any, active: Any) -> None:
    """The arguments of an optimizer's ``step``, checked without reading an array's values.

    A host number ``lr`` must be finite and >= 0; an array ``lr`` (one rate per member) may
    live on the device and is left to the caller (the training loop checks its table)."""
    for name, value in (("params", params), ("grads", grads)):
        if not isinstance(value, Mapping):
            raise ParameterError(name, value, "a dict of arrays by parameter name")
    if np.isscalar(lr):  # a Python or NumPy scalar, on the host by definition
        check_number("lr", lr, low=0)
    if kinds is not None and not isinstance(kinds, Mapping):
        raise ParameterError("kinds", kinds, "None or a dict of parameter kinds by name")
    dtype_kind = getattr(getattr(active, "dtype", None), "kind", None)  # metadata: no sync
    if active is not None and dtype_kind != "b":
        allowed = "None or one bool per member (a bool array or a sequence of bools)"
        if not isinstance(active, Sequence) or isinstance(active, str):
            raise ParameterError("active", active, allowed)
        check_sequence("active", active, check_bool)
