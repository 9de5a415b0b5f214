"""What every notebook does first: check its papermill parameters, pick its sizes by profile.

Invalid parameters fail here, with a message naming the parameter and the accepted values,
before any compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import backend
from ..validate import (
    ParameterError,
    check_choice,
    check_folder,
    check_integer,
    check_output_dir,
)
from .plots import set_style

PROFILES = ("smoke", "quick", "full")


def setup(
    profile: Any, backend_name: Any, seed: Any, out_dir: Any, sizes: Mapping[str, Mapping]
) -> dict[str, Any]:
    """Validate the parameters cell, select the backend, set the plot style.

    ``sizes`` maps each profile to that notebook's sizes (epochs, grids, ...); the chosen
    profile's entry is returned, with ``out_dir`` (created, see ``resolve_out_dir``) and
    ``backend`` added.
    """
    check_choice("profile", profile, PROFILES)
    check_choice("backend", backend_name, backend.BACKENDS)  # the notebook's name for it
    check_integer("seed", seed)
    check_folder("out_dir", out_dir)  # a folder path at all, before it is resolved
    out = check_output_dir("out_dir", resolve_out_dir(out_dir))  # where the figures will go
    if not isinstance(sizes, Mapping) or set(sizes) != set(PROFILES):
        raise ParameterError(
            "sizes", sizes, f"a mapping with an entry for every profile {PROFILES}"
        )
    backend.set_backend(backend_name)
    set_style()
    out.mkdir(parents=True, exist_ok=True)
    return {**sizes[profile], "out_dir": out, "backend": backend.backend_name()}


def resolve_out_dir(out_dir: str | Path) -> Path:
    """A relative ``out_dir`` is read from the repository's root when the package runs from a
    checkout, so a notebook run from JupyterLab (whose working folder is ``notebooks/``) writes
    where ``make figures`` writes, never into ``notebooks/figures``; elsewhere (an installed
    package), from the working folder."""
    out = Path(out_dir)
    root = Path(__file__).parents[2]
    in_checkout = (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir()
    return root / out if in_checkout and not out.is_absolute() else out
