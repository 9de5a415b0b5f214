"""One pickle per computation, keyed by its spec and the source of the code that computes it.

The notebooks' derived computations (checkpoint measurements, adaptive-batch runs,
decentralised and adversarial runs) are not ``RunConfig`` runs, so ``ResultCache`` cannot hold
them; ``memoised`` gives them the same guarantees: the key is a hash of the spec (a dataclass)
and of every module the computing entry imports (``code_version``), so editing that code
recomputes, and the write is atomic, so two processes or an interrupted run corrupt nothing.
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
from .cache import code_version

T = TypeVar("T")


def memo_key(spec: Any, entry: str) -> str:
    """A hash of the dataclass ``spec`` and of the sources ``entry`` (a module path inside the
    package, such as ``"runs/adaptive.py"``) imports, itself included."""
    payload = json.dumps(asdict(spec), sort_keys=True, default=str) + code_version(entry)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def memoised(
    spec: Any, entry: str, compute: Callable[[Any], T], folder: str | Path | None = None
) -> T:
    """``compute(spec)`` through a pickle ``<folder>/<memo_key>.pkl``; ``folder`` defaults to
    ``$LBSIM_CACHE/<the entry's module name>``."""
    folder = Path(folder) if folder is not None else cache_dir() / Path(entry).stem
    path = folder / f"{memo_key(spec, entry)}.pkl"
    if path.exists():
        with open(path, "rb") as f:
            return pickle.load(f)
    result = compute(spec)
    atomic_write(path, lambda f: pickle.dump(result, f))
    return result
