"""One pickle per computed result under ``$LBSIM_CACHE/<kind>``, keyed by a spec and the code.

For results that are not training runs of ``RunConfig`` (those live in ``ResultCache``): the
B_noise checkpoints, the adaptive-batch runs, the branches from checkpoints. The key hashes the
spec (a dataclass, as sorted JSON) and ``code_version(entry)``, the sources the computing module
imports, itself included: a change to the estimators recomputes, a change to a plot does not.
Writes are atomic, so two notebooks filling the cache at once corrupt nothing.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from ..atomic import atomic_write
from ..data.paths import cache_dir
from ..validate import check_output_dir
from .cache import code_version

T = TypeVar("T")


def spec_key(spec: Any, entry: str) -> str:
    """A 20-hex-digit key from the dataclass ``spec`` and the sources ``entry`` imports."""
    payload = json.dumps(asdict(spec), sort_keys=True, default=str) + code_version(entry)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def cached(
    kind: str, spec: Any, entry: str, compute: Callable[[], T], root: str | Path | None = None
) -> T:
    """``compute()`` through ``<root>/<key>.pkl`` (default root: ``$LBSIM_CACHE/<kind>``);
    ``entry`` is the computing module's path in the package, e.g. ``"runs/adaptive.py"``."""
    folder = cache_dir() / kind if root is None else check_output_dir("root", root)
    path = folder / f"{spec_key(spec, entry)}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    result = compute()
    atomic_write(path, lambda f: pickle.dump(result, f))
    return result
