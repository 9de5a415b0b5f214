"""Where generated data are cached and where downloaded files are looked for."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$LBSIM_CACHE``, or ``~/.cache/largebatch_sim`` (shared with the result cache)."""
    root = os.environ.get("LBSIM_CACHE") or Path.home() / ".cache" / "largebatch_sim"
    return Path(root).expanduser()


def data_dir(name: str) -> Path:
    """Default folder of the files of data set ``name``: ``$LBSIM_DATA/<name>`` when the
    variable is set, else ``<cache_dir>/data/<name>``."""
    root = os.environ.get("LBSIM_DATA")
    return Path(root).expanduser() / name if root else cache_dir() / "data" / name
