"""Shared test setup: the array backend the suite runs on, and the ``gpu`` marker.

The tests are written for NumPy arrays. On a machine with CuPy and a GPU the library's
``auto`` backend would pick CuPy at import, so unless ``LBSIM_BACKEND`` names a backend
explicitly the suite is pinned to NumPy here; tests that want CuPy switch to it with the
``on_backend`` fixture, which restores the previous backend afterwards. Tests marked ``gpu``
are skipped where ``backend.cupy_available()`` is False.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from largebatch_sim import backend

if os.environ.get("LBSIM_BACKEND", "auto") == "auto":
    backend.set_backend("numpy")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu") is not None]
    if gpu_items and not backend.cupy_available():
        skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture
def on_backend() -> Iterator[Callable[[str], contextlib.AbstractContextManager[ModuleType]]]:
    """``with on_backend("cupy") as xp: ...`` runs a block on that backend, then switches back.

    Whatever happens inside the test, the backend it started with is restored at teardown.
    """
    start = backend.backend_name()

    @contextlib.contextmanager
    def switch(name: str) -> Iterator[ModuleType]:
        previous = backend.backend_name()
        xp = backend.set_backend(name)
        try:
            yield xp
        finally:
            backend.set_backend(previous)

    yield switch
    backend.set_backend(start)
