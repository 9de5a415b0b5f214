"""Results on disk, keyed by a run's config and the version of the code that trains it."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from functools import cache
from pathlib import Path

from ..atomic import atomic_write
from .config import RunConfig
from .result import RunResult

# Modules that only read or present results (or model what is never trained): editing them
# must not invalidate the cached runs.
PRESENTATION_MODULES = frozenset(
    {"plots.py", "scorecard.py", "notebook.py", "cli.py", "stability.py", "comm.py"}
)


@cache
def code_version() -> str:
    """A hash of the sources that compute results: changing any of them invalidates the cache."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.parent.rglob("*.py")):
        if path.name not in PRESENTATION_MODULES:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cache_key(config: RunConfig) -> str:
    payload = json.dumps(config.to_dict(), sort_keys=True) + code_version()
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


class ResultCache:
    """Results on disk, one pickle per run, keyed by config and code version.

    Writes are atomic, so two processes filling the same cache corrupt nothing (the last
    complete write wins) and an interrupted run leaves no partial file.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        default = Path(os.environ.get("LBSIM_CACHE", Path.home() / ".cache" / "largebatch_sim"))
        self.root = Path(root) if root is not None else default / "runs"

    def path(self, config: RunConfig) -> Path:
        return self.root / f"{cache_key(config)}.pkl"

    def load(self, config: RunConfig) -> RunResult | None:
        path = self.path(config)
        if not path.exists():
            return None
        with open(path, "rb") as f:
            return pickle.load(f)

    def store(self, result: RunResult) -> None:
        atomic_write(self.path(result.config), lambda f: pickle.dump(result, f))
