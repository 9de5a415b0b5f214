"""Results on disk, keyed by a run's config and the version of the code that trains it."""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import threading
import time
from functools import cache
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write
from ..data.paths import cache_dir
from ..validate import check_bool, check_number, check_output_dir
from .config import RunConfig
from .result import RunResult

PACKAGE = Path(__file__).parents[1]
# The module that trains a run: everything it imports, directly or not, decides the results.
TRAINING_ENTRY = "runs/recipe.py"


def imported_modules(entry: str = TRAINING_ENTRY, package: Path = PACKAGE) -> list[str]:
    """The package's source files that ``entry`` imports, transitively, entry included.

    Read from the import statements themselves (``ast``), relative (``from ..nn import x``)
    and absolute (``import largebatch_sim.nn``); a package contributes its ``__init__.py``, and
    ``from pkg import name`` also the submodule ``pkg/name.py`` where it exists. Paths relative
    to the package, sorted. Editing a module outside this set (a plot, a verdict, a fit) leaves
    the cached runs valid.
    """
    seen: set[str] = set()
    todo = _resolve(list(Path(entry).with_suffix("").parts), package)
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        todo += [m for m in _imports_of(rel, package) if m not in seen]
    return sorted(seen)


def _imports_of(rel: str, package: Path) -> list[str]:
    path = package / rel
    tree = ast.parse(path.read_text(), filename=str(path))
    here = Path(rel).parent.parts  # the importing module's package, as parts
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[: len(here) - (node.level - 1)])
            elif node.module and node.module.split(".")[0] == package.name:
                base = []
            else:
                continue
            parts = base + (node.module.split(".") if node.module else [])
            if not node.level:
                parts = parts[1:]  # drop the package's own name
            found += _resolve(parts, package)
            for alias in node.names:  # ``from . import backend`` names a module
                found += _resolve([*parts, alias.name], package)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == package.name:
                    found += _resolve(names[1:], package)
    return found


def _resolve(parts: list[str], package: Path) -> list[str]:
    """The files Python runs to import module ``parts``: a.py or a/__init__.py, after the
    ``__init__.py`` of every enclosing package. Empty for a name that is not a module."""
    module = package.joinpath(*parts).with_suffix(".py") if parts else None
    init = package.joinpath(*parts, "__init__.py")
    target = module if module is not None and module.is_file() else init
    if not target.is_file():
        return []
    enclosing = [package.joinpath(*parts[:i], "__init__.py") for i in range(len(parts))]
    return [str(p.relative_to(package)) for p in [*enclosing, target] if p.is_file()]


_VERSION_LOCK = threading.Lock()  # CPython 3.11's ast.parse is not thread-safe


def code_version(entry: str = TRAINING_ENTRY) -> str:
    """A hash of the sources ``entry`` imports (by default those a training run imports):
    changing any of them invalidates the cache; editing anything else (analysis, plots,
    verdicts) does not. Computed once per process; safe to call from sweeps in threads."""
    with _VERSION_LOCK:
        return _code_version(entry)


@cache
def _code_version(entry: str) -> str:
    digest = hashlib.sha256()
    for rel in imported_modules(entry, package=PACKAGE):
        digest.update(rel.encode() + b"\0" + (PACKAGE / rel).read_bytes())
    return digest.hexdigest()[:12]


def cache_key(config: RunConfig) -> str:
    payload = json.dumps(config.to_dict(), sort_keys=True) + code_version()
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


class ResultCache:
    """Results on disk, one pickle per run, keyed by config and code version:
    ``<root>/<code version>/<key>.pkl``, so the runs of an older version of the training code
    (never read again) can be listed and pruned together.

    Writes are atomic, so two processes filling the same cache corrupt nothing (the last
    complete write wins) and an interrupted run leaves no partial file.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        """``root``: a folder we can write into (created at the first store); by default
        ``runs`` under ``$LBSIM_CACHE`` (``data.cache_dir``)."""
        self.root = cache_dir() / "runs" if root is None else check_output_dir("root", root)

    def path(self, config: RunConfig) -> Path:
        return self.root / code_version() / f"{cache_key(config)}.pkl"

    def load(self, config: RunConfig) -> RunResult | None:
        path = self.path(config)
        if not path.exists():
            return None
        with open(path, "rb") as f:
            return pickle.load(f)

    def store(self, result: RunResult) -> None:
        atomic_write(self.path(result.config), lambda f: pickle.dump(result, f))

    def versions(self) -> pd.DataFrame:
        """One row per code version in the cache: runs, MiB, the newest run's date, and
        whether it is the current code's (the only one that is read)."""
        rows = []
        for folder in sorted(p for p in self.root.glob("*") if p.is_dir()):
            files = list(folder.glob("*.pkl"))
            if files:
                stats = [f.stat() for f in files]
                rows.append(
                    {
                        "code version": folder.name,
                        "current": folder.name == code_version(),
                        "runs": len(files),
                        "MiB": round(sum(s.st_size for s in stats) / 2**20, 1),
                        "newest": pd.Timestamp(max(s.st_mtime for s in stats), unit="s").floor("s"),
                    }
                )
        return pd.DataFrame(rows, columns=["code version", "current", "runs", "MiB", "newest"])

    def prune(self, other_versions: bool = False, older_than_days: float | None = None) -> int:
        """Remove the runs of other code versions and/or those older than ``older_than_days``;
        returns how many were removed."""
        check_bool("other_versions", other_versions)
        if older_than_days is not None:  # a negative age would remove every run
            check_number("older_than_days", older_than_days, low=0)
        cutoff = None if older_than_days is None else time.time() - older_than_days * 86400
        removed = 0
        for path in self.root.glob("*/*.pkl"):
            stale = other_versions and path.parent.name != code_version()
            old = cutoff is not None and path.stat().st_mtime < cutoff
            if stale or old:
                path.unlink()
                removed += 1
        for folder in self.root.glob("*"):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return removed
