"""Where generated data are cached and where downloaded files are looked for."""

from __future__ import annotations

import os
from pathlib import Path

from ..validate import check_folder, check_output_dir


def cache_dir() -> Path:
    """``$LBSIM_CACHE``, or ``~/.cache/largebatch_sim`` when it is unset or empty.

    The one place the variable is read: generated data, the result cache and the adaptive
    runs all live under it. A value that is no folder we can write into (a file, a path under
    a file, a read-only folder) is an error that names the variable."""
    root = os.environ.get("LBSIM_CACHE")
    if not root:
        return Path.home() / ".cache" / "largebatch_sim"
    return check_output_dir("LBSIM_CACHE", Path(root).expanduser())


def data_dir(name: str) -> Path:
    """Default folder of the files of data set ``name``: ``$LBSIM_DATA/<name>`` when the
    variable is set, else ``<cache_dir>/data/<name>``. ``$LBSIM_DATA`` is read from, so it
    may be read-only, but it must not be a file."""
    root = os.environ.get("LBSIM_DATA")
    if not root:
        return cache_dir() / "data" / name
    return check_folder("LBSIM_DATA", Path(root).expanduser()) / name
