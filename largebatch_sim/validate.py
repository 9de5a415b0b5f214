"""One home for argument checks: every way into the library (the CLI, config files, ``RunConfig``,
``sweep``, the layers' and optimizers' constructors, the notebooks' parameters, the environment
variables) checks its inputs with these functions, before any compute.

Each check returns the value in its canonical form (a float, an int, a tuple) or raises
``ParameterError``, a ``ValueError`` whose message names the parameter, repeats the value given
and says what is allowed. The CLI prints such an error as one line and exits with status 2.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")


class ParameterError(ValueError):
    """A bad value for a named parameter; ``parameter`` is that name."""

    def __init__(self, parameter: str, value: Any, allowed: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter} must be {allowed}, got {value!r}")


def is_real(value: Any) -> bool:
    """A real number that is not a bool (``True`` is an int in Python, never a rate)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """An integer (Python or NumPy) that is not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_number(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in the interval [low, high] (ends open where asked)."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    if math.isfinite(low) and math.isfinite(high):
        bounds = f" in {lo}{low:g}, {high:g}{hi}"
    elif math.isfinite(low):
        bounds = f" {'>' if low_open else '>='} {low:g}"
    elif math.isfinite(high):
        bounds = f" {'<' if high_open else '<='} {high:g}"
    else:
        bounds = ""
    allowed = "a finite number" + bounds
    if not (is_real(value) and math.isfinite(value)):
        raise ParameterError(name, value, allowed)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        raise ParameterError(name, value, allowed)
    return float(value)


def check_integer(name: str, value: Any, *, low: int = 0, high: float = math.inf) -> int:
    """An integer in [low, high]."""
    if not (is_integer(value) and low <= value <= high):
        bound = f" <= {high:g}" if math.isfinite(high) else ""
        raise ParameterError(name, value, f"an integer >= {low}{bound}")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """True or False (or NumPy's bool), never a string or a number standing for one."""
    if not isinstance(value, bool | np.bool_):  # NumPy 2 names its type "bool", not "bool_"
        raise ParameterError(name, value, "True or False")
    return bool(value)


def check_choice(name: str, value: Any, accepted: Iterable[T]) -> T:
    """One of the accepted values."""
    accepted = tuple(accepted)
    bool_allowed = any(isinstance(a, bool) for a in accepted)
    if (isinstance(value, bool) and not bool_allowed) or value not in accepted:
        raise ParameterError(name, value, f"one of {accepted}")
    return value


def check_sequence(
    name: str, value: Any, item: Callable[[str, Any], T], *, min_length: int = 0
) -> tuple[T, ...]:
    """A sequence (tuple, list, NumPy array) of items each passing ``item``; a tuple back.

    A bare string or number is refused rather than read as a one-element sequence."""
    if (
        isinstance(value, str | bytes)
        or not isinstance(value, Sequence | np.ndarray)
        or getattr(value, "ndim", 1) != 1
    ):
        raise ParameterError(name, value, "a sequence (tuple, list or 1-D array)")
    items = tuple(value.tolist() if hasattr(value, "tolist") else value)
    if len(items) < min_length:
        plural = "s" if min_length != 1 else ""
        raise ParameterError(name, value, f"a sequence of at least {min_length} value{plural}")
    return tuple(item(f"{name}[{i}]", v) for i, v in enumerate(items))


def check_string(name: str, value: Any) -> str:
    """A string (a name, a prefix), never a number or None standing for one."""
    if not isinstance(value, str):
        raise ParameterError(name, value, "a string")
    return value


def check_callable(name: str, value: Any, what: str) -> Callable[..., Any]:
    """A function; ``what`` says which (``"a schedule, a function of the step"``)."""
    if not callable(value):
        raise ParameterError(name, value, what)
    return value


@contextmanager
def within(where: str) -> Iterator[None]:
    """Prefix the message of a ``ParameterError`` raised inside with ``where`` (the layer or
    builder whose argument it is), so that the layers of a model can be told apart."""
    try:
        yield
    except ParameterError as error:
        if where:
            error.args = (f"{where}: {error.args[0]}",)
        raise


def check_output_path(name: str, path: Any) -> Path:
    """A file path we can write: its parent folder exists and is writable, and it is not a
    folder itself. Checked before any compute, so no result is lost to a bad path."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ParameterError(name, path, "a file path")
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ParameterError(name, str(path), "a file path, not a folder")
    if not parent.is_dir():
        raise ParameterError(name, str(path), f"a path in an existing folder ({parent} is not one)")
    if not os.access(parent, os.W_OK):
        raise ParameterError(name, str(path), f"a path in a writable folder ({parent} is not)")
    return path


def check_folder(name: str, path: Any) -> Path:
    """A folder path, to read from: a folder, or nothing yet, but not a file."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ParameterError(name, path, "a folder path")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ParameterError(name, str(path), "a folder, not a file")
    return path


def check_output_dir(name: str, path: Any) -> Path:
    """A folder we can write into: it exists and is writable, or it can be created (its
    nearest existing ancestor is a writable folder)."""
    path = check_folder(name, path)
    ancestor = path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ParameterError(name, str(path), f"a folder ({ancestor} is a file)")
    if not os.access(ancestor, os.W_OK):
        raise ParameterError(name, str(path), f"a writable folder ({ancestor} is not writable)")
    return path
