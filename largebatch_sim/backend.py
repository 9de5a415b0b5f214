"""One array module for the whole library: NumPy on the CPU, CuPy on a GPU.

The backend is chosen once, at import: CuPy when it imports and sees a GPU, NumPy otherwise.
``LBSIM_BACKEND=numpy|cupy|auto`` forces the choice; asking for CuPy where there is none is an
error, not a silent fallback. The package imports without CuPy installed.

Code that receives arrays asks them for their module (``get_array_module(x)``, as in Chainer),
so every layer, loss and optimizer works on both kinds of array. Code that *creates* data on the
device (the sampler, weight initialisation) uses ``asarray``, which targets the current backend.
All randomness that decides results is drawn on the host from NumPy Generators and then moved,
so a CPU and a GPU run start from the same numbers.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

from .validate import check_choice

BACKENDS = ("auto", "numpy", "cupy")

xp: ModuleType = np


def cupy_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, CUDA driver errors: both mean "no usable GPU"
        return False


def set_backend(name: str = "auto") -> ModuleType:
    """Select the array module (``auto``, ``numpy`` or ``cupy``) and return it."""
    global xp
    check_choice("backend", name, BACKENDS)
    if name == "numpy" or (name == "auto" and not cupy_available()):
        xp = np
        return xp
    if not cupy_available():
        raise RuntimeError(
            "backend 'cupy' was requested but CuPy is not installed or sees no GPU; "
            "install the extra with `pip install -e .[gpu]` or use backend 'numpy'"
        )
    import cupy

    xp = cupy
    return xp


def get_backend() -> ModuleType:
    """The current array module (``numpy`` or ``cupy``)."""
    return xp


def backend_name() -> str:
    return "cupy" if xp is not np else "numpy"


def get_array_module(*arrays: Any) -> ModuleType:
    """The module (numpy or cupy) that owns these arrays, whichever backend is selected."""
    cupy = sys.modules.get("cupy")  # CuPy arrays can exist only if CuPy was imported
    if cupy is not None:
        return cupy.get_array_module(*arrays)
    return np


def asarray(a: Any, dtype: Any = None) -> Any:
    """Move ``a`` to the current backend's device (a no-op on NumPy)."""
    return xp.asarray(a, dtype=dtype)


def to_host(a: Any) -> Any:
    """A NumPy copy of ``a`` wherever it lives (scalars and NumPy arrays pass through)."""
    cupy = sys.modules.get("cupy")
    if cupy is not None and isinstance(a, cupy.ndarray):
        return cupy.asnumpy(a)
    return a


def synchronize() -> None:
    """Wait for queued device work (for timing); a no-op on NumPy."""
    if xp is not np:
        xp.cuda.get_current_stream().synchronize()


def backend_from_environment() -> str:
    """The backend ``$LBSIM_BACKEND`` names (``auto`` when it is unset or empty), checked: a bad
    value is an error that names the variable."""
    return check_choice("LBSIM_BACKEND", os.environ.get("LBSIM_BACKEND") or "auto", BACKENDS)


set_backend(backend_from_environment())
