"""Choosing the array backend: clear errors for CuPy where there is none and unknown names.

These run everywhere (no GPU needed): CuPy's absence is simulated, so they are deterministic.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from largebatch_sim import backend

# Blocks ``import cupy`` (a None entry in sys.modules raises ImportError), so the child sees
# no CuPy even on a machine that has it.
_CHILD = "import sys; sys.modules['cupy'] = None; import largebatch_sim.backend"


@pytest.mark.parametrize(
    ("name", "error", "words"),
    [
        ("cupy", "RuntimeError", ["cupy", "numpy"]),
        (
            "tpu",
            "largebatch_sim.validate.ParameterError",
            ["lbsim_backend", "'tpu'", "'auto'", "'numpy'", "'cupy'"],
        ),
    ],
)
def test_lbsim_backend_variable_fails_clearly_at_import(name, error, words):
    env = {**os.environ, "LBSIM_BACKEND": name}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert child.returncode != 0
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith(error), child.stderr
    for word in words:
        assert word in last.lower(), last


def test_asking_for_cupy_without_it_is_an_error_not_a_fallback(monkeypatch, on_backend):
    monkeypatch.setattr(backend, "cupy_available", lambda: False)
    with on_backend("numpy"):
        with pytest.raises(RuntimeError, match="CuPy") as excinfo:
            backend.set_backend("cupy")
        assert "numpy" in str(excinfo.value)
        assert backend.get_backend() is np  # unchanged by the failed request
        assert backend.set_backend("auto") is np  # auto falls back, silently and rightly


def test_unknown_backend_name_lists_the_accepted_names(on_backend):
    with on_backend("numpy"):
        with pytest.raises(ValueError) as excinfo:
            backend.set_backend("torch")
        message = str(excinfo.value)
        assert "'torch'" in message
        for name in backend.BACKENDS:
            assert repr(name) in message
        assert backend.get_backend() is np
