"""Where a sweep's work units run: in this process, in local processes, or on a Dask cluster.

A unit is one ensemble (the configs ``sweep`` groups to train together). A worker trains it,
stores every member's result in the run cache (atomic writes) and reports back; the sweep then
reads the results from that cache, so a sweep spread over workers returns the same tables, byte
for byte, as the same sweep in one process on as many BLAS threads as a worker has. The cache
folder must therefore be visible to every worker at the same path (a local disk for local
processes, a shared file system on a cluster).

A worker lost midway costs only its unit: Dask hands the unit to another worker. Two sweeps
started at once into one cache do not train a unit twice: before training, a worker claims the
unit with a file beside its results (created atomically, refused if it exists); a worker that
finds a live claim leaves the unit to its owner and the sweep asks again later, when the results
are there or the claim has gone stale (its owner's process is gone, or its heartbeat stopped).

This module is not imported by ``runs/recipe.py``: editing it leaves the cached runs valid.
``sweep`` only calls an executor's ``run_units``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, wait
from tqdm.auto import tqdm

from .. import backend
from ..validate import ParameterError, check_integer, check_number
from .cache import ResultCache, cache_key, code_version
from .config import RunConfig
from .recipe import run_ensemble
from .result import RunResult

# A claim whose file has not been touched for this long is taken over (its owner is presumed
# lost on another machine); the owner touches it every quarter of this while it trains.
STALE_AFTER_S = 120.0
# How long a sweep waits before asking again about units that another sweep is training.
POLL_S = 2.0
EXECUTOR_SPECS = (
    "None or 'in-process'; 'local' (one process per core); a number of local processes; "
    "a scheduler address ('tcp://host:8786'); a dask Client or cluster object; a DaskExecutor"
)


def cores() -> int:
    """The CPU cores this process may use (its affinity mask, not the whole machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class DaskExecutor:
    """Units run on a Dask cluster: ``DaskExecutor(client)``, ``DaskExecutor(cluster)`` (a
    ``LocalCluster``, dask-jobqueue's ``SLURMCluster``, dask-cuda's ``LocalCUDACluster``) or
    ``DaskExecutor("tcp://host:8786")``.

    Each worker should run one unit at a time (``--nthreads 1``; Dask's workers default to one
    BLAS thread): the ensemble inside a unit fills its core. ``trained`` counts, per cache key,
    the runs this executor's workers trained (a run read back from the cache is not counted).
    """

    def __init__(
        self, target: Any, stale_after_s: float = STALE_AFTER_S, poll_s: float = POLL_S
    ) -> None:
        if not (isinstance(target, str | Client) or hasattr(target, "scheduler_address")):
            allowed = "a dask Client, a cluster object or a scheduler address ('tcp://host:8786')"
            raise ParameterError("target", target, allowed)
        self.target = target
        self._setup(stale_after_s, poll_s)

    def _setup(self, stale_after_s: float, poll_s: float) -> None:
        self.stale_after_s = check_number("stale_after_s", stale_after_s, low=0, low_open=True)
        self.poll_s = check_number("poll_s", poll_s, low=0)
        self.trained: dict[str, int] = {}
        self._client: Client | None = None

    def client(self) -> Client:
        """The Dask client, connected at first use."""
        if self._client is None:
            target = self.target
            self._client = target if isinstance(target, Client) else Client(target)
        return self._client

    def close(self) -> None:
        """Close the client this executor opened (not one it was given)."""
        if self._client is not None and self._client is not self.target:
            self._client.close()
        self._client = None

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_units(
        self, units: Sequence[Sequence[RunConfig]], cache: ResultCache, progress: bool = True
    ) -> Iterator[RunResult]:
        """Train every unit on the cluster; yield each unit's results as it finishes."""
        if not units:  # every run cached: no cluster to start
            return
        client = self.client()
        args = (str(cache.root), backend.backend_name(), self.stale_after_s)

        def submit(unit: Sequence[RunConfig]) -> Any:
            # pure=False: a unit submitted twice (by two sweeps, or again after a deferral)
            # is a new task; Dask must not answer it from the first one's result.
            return client.submit(train_unit, list(unit), *args, pure=False)

        pending = {submit(unit): unit for unit in units}
        deferred: list[Sequence[RunConfig]] = []
        with tqdm(total=len(units), desc="sweep", unit="unit", disable=not progress) as bar:
            while pending or deferred:
                if not pending:  # only units another sweep is training: look again shortly
                    time.sleep(self.poll_s)
                    pending = {submit(unit): unit for unit in deferred}
                    deferred = []
                done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
                for future in done:
                    unit = pending.pop(future)
                    trained = future.result()  # a unit's error is the sweep's error
                    if trained is None:
                        deferred.append(unit)
                        continue
                    for key in trained:
                        self.trained[key] = self.trained.get(key, 0) + 1
                    bar.update()
                    yield from _read_back(unit, cache)


class LocalProcesses(DaskExecutor):
    """Units run in ``workers`` local processes (default: one per core), each with
    ``threads`` BLAS threads (default 1); workers x threads <= cores.

    One BLAS thread by default because the last bits of a float sum depend on the thread
    count: these workers then give, byte for byte, what one process pinned to one thread gives
    (as ``make figures`` runs its notebooks). A Dask ``LocalCluster``, started at the first
    sweep and kept for the next ones.
    """

    def __init__(
        self,
        workers: int | None = None,
        threads: int | None = None,
        stale_after_s: float = STALE_AFTER_S,
        poll_s: float = POLL_S,
    ) -> None:
        available = cores()
        self.workers = available if workers is None else check_integer("workers", workers, low=1)
        if self.workers > available:
            raise ParameterError("workers", workers, f"at most the {available} cores here")
        limit = available // self.workers
        self.threads = 1 if threads is None else check_integer("threads", threads, low=1)
        if self.threads > limit:
            allowed = f"at most {limit}: {self.workers} workers x threads <= {available} cores"
            raise ParameterError("threads", threads, allowed)
        self.target = None
        self._setup(stale_after_s, poll_s)

    def client(self) -> Client:
        if self._client is None:
            blas = {v: self.threads for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
            # BLAS reads its thread count when NumPy is imported: it must be in the
            # environment before a worker process starts.
            with dask.config.set({"distributed.nanny.pre-spawn-environ": blas}):
                cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: two clusters may run at once
                    env={"MKL_NUM_THREADS": str(self.threads)},
                )
            self._client = Client(cluster)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            cluster = self._client.cluster
            self._client.close()
            cluster.close()
        self._client = None


# One executor per name or number: a notebook's sweeps share one cluster, one connection.
_NAMED: dict[Any, DaskExecutor] = {}


def as_executor(spec: Any = "local") -> DaskExecutor | None:
    """The executor a parameter names (see ``EXECUTOR_SPECS``); None means in process.

    On the CuPy backend ``local`` trains in process: one GPU serves one process best (for
    several GPUs, pass a dask-cuda cluster).
    """
    if spec is None or spec == "in-process":
        return None
    if isinstance(spec, DaskExecutor):
        return spec
    if isinstance(spec, Client) or hasattr(spec, "scheduler_address"):
        return DaskExecutor(spec)
    if not isinstance(spec, str | int) or isinstance(spec, bool):
        raise ParameterError("executor", spec, EXECUTOR_SPECS)
    if spec == "local" and backend.backend_name() == "cupy":
        return None
    if spec not in _NAMED:
        if spec == "local":
            _NAMED[spec] = LocalProcesses()
        elif isinstance(spec, int) and not isinstance(spec, bool):
            _NAMED[spec] = LocalProcesses(workers=check_integer("executor", spec, low=1))
        elif isinstance(spec, str) and ":" in spec:
            _NAMED[spec] = DaskExecutor(spec)
        else:
            raise ParameterError("executor", spec, EXECUTOR_SPECS)
    return _NAMED[spec]


def train_unit(
    configs: list[RunConfig], cache_root: str, backend_name: str, stale_after_s: float
) -> list[str] | None:
    """On a worker: train the unit's runs missing from the cache and store them.

    Returns the cache keys it trained (empty when all were cached), or None when another live
    worker holds the unit's claim.
    """
    cache = ResultCache(cache_root)
    if all(cache.path(c).exists() for c in configs):
        return []
    claim = UnitClaim(cache, configs, stale_after_s)
    if not claim.acquire():
        return None
    try:
        with claim.heartbeat():
            # After claiming, look again: another worker may have finished it meanwhile.
            missing = [c for c in configs if not cache.path(c).exists()]
            if not missing:
                return []
            if backend.backend_name() != backend_name:
                backend.set_backend(backend_name)
            for result in run_ensemble(missing, progress=False):
                _check_on_host(result)
                cache.store(result)
            return [cache_key(c) for c in missing]
    finally:
        claim.release()


class UnitClaim:
    """A file saying which process trains a unit: ``<cache>/<code version>/<unit>.claim``.

    Created whole or not at all (written beside, then hard-linked into place, which fails if the
    name exists). Stale when its process is gone (same host) or it was not touched for
    ``stale_after_s``; a stale claim is removed and taken once more. Two takers of one stale
    claim can both win, at the cost of one unit trained twice (results are atomic writes).
    """

    def __init__(self, cache: ResultCache, configs: Sequence[RunConfig], stale_after_s: float):
        keys = "".join(sorted(cache_key(c) for c in configs))
        name = hashlib.sha256(keys.encode()).hexdigest()[:20]
        self.path = Path(cache.root) / code_version() / f"{name}.claim"
        self.stale_after_s = stale_after_s
        self.owner = {"host": socket.gethostname(), "pid": os.getpid()}

    def acquire(self) -> bool:
        """Take the claim; False when another live process holds it."""
        if self._create():
            return True
        if not self.is_stale():
            return False
        self.path.unlink(missing_ok=True)
        return self._create()

    def _create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".claim.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(self.owner, f)
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def is_stale(self) -> bool:
        try:
            owner = json.loads(self.path.read_text())
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True  # released meanwhile
        if age > self.stale_after_s:
            return True
        return owner["host"] == self.owner["host"] and not _alive(owner["pid"])

    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Touch the claim every quarter of ``stale_after_s`` while the block runs."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.stale_after_s / 4):
                with contextlib.suppress(FileNotFoundError):
                    os.utime(self.path)

        thread = threading.Thread(target=beat, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _check_on_host(result: RunResult) -> None:
    """Results cross process boundaries as NumPy: a CuPy value here is a bug upstream."""
    values = [*result.summary.values(), result.history, *result.instruments.values()]
    if any(type(v).__module__.startswith("cupy") for v in values):
        raise TypeError(f"a result of {result.config} holds CuPy arrays; move them to the host")


def _read_back(unit: Sequence[RunConfig], cache: ResultCache) -> Iterator[RunResult]:
    for config in unit:
        result = cache.load(config)
        if result is None:
            raise RuntimeError(
                f"a worker trained {config} but its result is not in {cache.root}: the cache "
                "folder must be shared by the workers, at the same path"
            )
        yield result
