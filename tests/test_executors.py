"""Sweeps spread over worker processes (a Dask LocalCluster of 2): the same tables as in process,
a lost worker costing only its unit, two sweeps into one cache training each run once."""

import json
import os
import pickle
import signal
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from largebatch_sim.runs import (
    ResultCache,
    RunConfig,
    cache_key,
    results_frame,
    sweep,
)
from largebatch_sim.runs.executors import (
    DaskExecutor,
    LocalProcesses,
    UnitClaim,
    as_executor,
    cores,
)
from largebatch_sim.validate import ParameterError

TINY = RunConfig(data="digits", model="mlp", batch=64, lr=0.05, base_batch=64, epochs=1, evals=2)


def grid(epochs: float = 1, batches=(32, 64, 128)) -> list[RunConfig]:
    """One unit per batch, two learning rates in each."""
    return [replace(TINY, batch=b, lr=lr, epochs=epochs) for b in batches for lr in (0.05, 0.1)]


@pytest.fixture(scope="module")
def two_workers():
    with LocalProcesses(workers=2, threads=1) as executor:
        yield executor


def _cache_files(cache: ResultCache) -> list:
    return sorted(cache.root.glob("*/*.pkl"))


def test_a_spread_sweep_gives_the_in_process_tables_byte_for_byte(tmp_path, two_workers):
    configs = grid(epochs=1)
    with threadpool_limits(1):  # as the workers: the last bits of a sum depend on the threads
        here = sweep(configs, ResultCache(tmp_path / "here"), progress=False)
    spread = sweep(configs, ResultCache(tmp_path / "spread"), progress=False, executor=two_workers)
    assert [r.config for r in spread] == configs
    for table in ("summary", "history"):
        assert results_frame(spread, table).to_csv() == results_frame(here, table).to_csv()
    assert sorted(two_workers.trained.values()) == [1] * len(configs)


def test_a_spread_sweep_reads_cached_runs_back_without_training(tmp_path, two_workers):
    cache = ResultCache(tmp_path)
    configs = grid(epochs=1, batches=(48,))
    sweep(configs, cache, progress=False)  # in process
    before = dict(two_workers.trained)
    again = sweep(configs, cache, progress=False, executor=two_workers)
    assert two_workers.trained == before
    assert [r.config for r in again] == configs
    idle = LocalProcesses(workers=1)
    sweep(configs, cache, progress=False, executor=idle)
    assert idle._client is None  # all cached: no cluster started


def test_a_worker_killed_mid_sweep_costs_only_its_unit(tmp_path, two_workers):
    cache = ResultCache(tmp_path)
    configs = grid(epochs=15, batches=(16, 24, 32, 40))
    done: dict = {}
    before = dict(two_workers.trained)
    thread = threading.Thread(
        target=lambda: done.update(results=sweep(configs, cache, False, executor=two_workers))
    )
    thread.start()
    claims = []
    deadline = time.monotonic() + 60
    while not claims and time.monotonic() < deadline:
        claims = list(cache.root.glob("*/*.claim"))
        time.sleep(0.02)
    assert claims, "no unit started within a minute"
    victim = json.loads(claims[0].read_text())["pid"]
    os.kill(victim, signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    results = done["results"]
    assert [r.config for r in results] == configs  # every run, once, in order
    files = _cache_files(cache)
    assert len(files) == len(configs)
    for path in files:  # none torn
        with open(path, "rb") as f:
            assert pickle.load(f).config in configs
    assert not list(cache.root.glob("*/*.claim"))  # the lost worker's claim was taken over
    trained = [two_workers.trained.get(k, 0) - before.get(k, 0) for k in _keys(configs)]
    assert trained == [1] * len(configs)  # the lost unit trained again, no other


def test_two_sweeps_at_once_into_one_cache_train_each_run_once(tmp_path, two_workers):
    cache = ResultCache(tmp_path)
    configs = grid(epochs=8, batches=(16, 24, 32, 40, 48))
    # A second cluster (one worker) stands for a second user's sweep, started at the same time.
    with LocalProcesses(workers=1, threads=1, poll_s=0.2) as other:
        other.client()
        first = DaskExecutor(two_workers.client())
        outcomes: dict = {}
        threads = [
            threading.Thread(
                target=lambda n=n, e=e: outcomes.update({n: sweep(configs, cache, False, 64, e)})
            )
            for n, e in (("first", first), ("other", other))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert {n: [r.config for r in rs] for n, rs in outcomes.items()} == {
        "first": configs,
        "other": configs,
    }
    trained = [first.trained.get(k, 0) + other.trained.get(k, 0) for k in _keys(configs)]
    # Each run trained once: a unit claimed by one sweep is left to it by the other. Which
    # sweep trains which unit is a race (on a fast machine one may take them all), so only
    # the sum is asserted; the claims themselves are tested one by one below.
    assert trained == [1] * len(configs)
    assert results_frame(outcomes["first"]).to_csv() == results_frame(outcomes["other"]).to_csv()


def _keys(configs):
    return [cache_key(c) for c in configs]


def test_a_live_claim_is_refused_and_a_dead_or_silent_one_taken_over(tmp_path):
    cache = ResultCache(tmp_path)
    unit = grid(batches=(64,))
    mine = UnitClaim(cache, unit, stale_after_s=60)
    assert mine.acquire()
    assert not UnitClaim(cache, unit, stale_after_s=60).acquire()  # held by a live process
    mine.release()
    assert UnitClaim(cache, unit, stale_after_s=60).acquire()  # released: free again

    dead = tmp_path / "dead"
    lost = UnitClaim(ResultCache(dead), unit, stale_after_s=60)
    lost.path.parent.mkdir(parents=True)
    lost.path.write_text(json.dumps({"host": socket.gethostname(), "pid": _a_dead_pid()}))
    assert UnitClaim(ResultCache(dead), unit, stale_after_s=60).acquire()

    silent = tmp_path / "silent"
    away = UnitClaim(ResultCache(silent), unit, stale_after_s=60)
    away.path.parent.mkdir(parents=True)
    away.path.write_text(json.dumps({"host": "another-machine", "pid": os.getpid()}))
    assert not UnitClaim(ResultCache(silent), unit, stale_after_s=60).acquire()
    old = time.time() - 120
    os.utime(away.path, (old, old))  # its heartbeat stopped two minutes ago
    assert UnitClaim(ResultCache(silent), unit, stale_after_s=60).acquire()


def _a_dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


@pytest.mark.parametrize(
    "make",
    [
        lambda: sweep([TINY], progress=False, executor="local"),  # a name, not an executor
        lambda: as_executor("nonsense"),
        lambda: as_executor(0),
        lambda: as_executor(2.5),
        lambda: as_executor(["local"]),
        lambda: as_executor(True),
        lambda: LocalProcesses(workers=cores() + 1),
        lambda: LocalProcesses(workers=1, threads=cores() + 1),
        lambda: DaskExecutor(42),
        lambda: DaskExecutor("tcp://host:8786", stale_after_s=0),
    ],
)
def test_bad_executor_arguments_fail_before_any_compute(make):
    with pytest.raises(ParameterError):
        make()


def test_executor_names_resolve():
    assert as_executor(None) is None and as_executor("in-process") is None
    local = as_executor("local")
    assert isinstance(local, LocalProcesses) and (local.workers, local.threads) == (cores(), 1)
    assert as_executor("local") is local  # one cluster for a notebook's sweeps
    assert as_executor(1).workers == 1
    assert as_executor("tcp://scheduler:8786").target == "tcp://scheduler:8786"


@pytest.mark.gpu
def test_local_means_in_process_on_the_gpu_backend(on_backend):
    with on_backend("cupy"):
        assert as_executor("local") is None  # one GPU serves one process
    assert as_executor("local") is not None


def test_a_notebook_refuses_a_bad_executor_before_compute(tmp_path):
    import papermill as pm

    notebook = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))[0]
    with pytest.raises(pm.PapermillExecutionError, match="executor"):
        pm.execute_notebook(
            str(notebook),
            str(tmp_path / "bad.ipynb"),
            cwd=str(notebook.parents[1]),
            progress_bar=False,
            parameters=dict(profile="smoke", executor="everywhere", out_dir=str(tmp_path)),
        )
