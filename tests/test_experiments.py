"""The result cache and sweeps: keys, atomic writes, resuming an interrupted sweep."""

import subprocess
import sys
from dataclasses import replace

import pandas as pd
import pytest

from largebatch_sim.runs import ResultCache, RunConfig, cache_key, run_ensemble, sweep
from largebatch_sim.runs import cache as run_cache
from largebatch_sim.runs import sweeps as run_sweep

TINY = RunConfig(data="digits", model="mlp", batch=128, lr=0.05, base_batch=128, epochs=1, evals=1)


def test_cache_key_depends_on_config_and_code_version(monkeypatch):
    assert cache_key(TINY) == cache_key(replace(TINY))
    assert cache_key(TINY) != cache_key(replace(TINY, lr=0.1))
    before = cache_key(TINY)
    monkeypatch.setattr(run_cache, "code_version", lambda: "changed")
    assert cache_key(TINY) != before


def _count_ensembles(monkeypatch):
    calls = []
    real = run_sweep.run_ensemble

    def counting(configs, progress=True):
        calls.append(len(configs))
        return real(configs, progress=progress)

    monkeypatch.setattr(run_sweep, "run_ensemble", counting)
    return calls


def test_sweep_groups_runs_by_batch_and_reuses_the_cache(tmp_path, monkeypatch):
    calls = _count_ensembles(monkeypatch)
    cache = ResultCache(tmp_path)
    configs = [replace(TINY, batch=b, lr=lr) for b in (64, 128) for lr in (0.01, 0.05, 0.1)]
    first = sweep(configs, cache, progress=False)
    assert sorted(calls) == [3, 3]  # one ensemble per batch size
    again = sweep(configs, cache, progress=False)
    assert sorted(calls) == [3, 3]  # nothing recomputed
    assert [r.config for r in again] == configs
    assert [r.summary for r in again] == [r.summary for r in first]


def test_interrupted_sweep_resumes_without_recomputing(tmp_path, monkeypatch):
    cache = ResultCache(tmp_path)
    configs = [replace(TINY, batch=b) for b in (64, 128)]
    real = run_sweep.run_ensemble

    def interrupted(chunk, progress=True):
        if chunk[0].batch == 128:
            raise KeyboardInterrupt
        return real(chunk, progress=progress)

    monkeypatch.setattr(run_sweep, "run_ensemble", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep(configs, cache, progress=False)
    assert cache.load(configs[0]) is not None and cache.load(configs[1]) is None
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix != ".pkl"]

    monkeypatch.setattr(run_sweep, "run_ensemble", real)
    calls = _count_ensembles(monkeypatch)
    results = sweep(configs, cache, progress=False)
    assert calls == [1]  # only the missing batch size ran
    assert all(r is not None for r in results)


def test_code_version_hashes_what_a_training_run_imports():
    modules = set(run_cache.imported_modules())
    assert {"runs/recipe.py", "train.py", "nn/batchnorm.py", "optim/lars.py"} <= modules
    assert {"data/sampler.py", "instruments.py", "backend.py", "nn/__init__.py"} <= modules
    outside = {"cli.py", "analysis/stability.py", "analysis/comm.py", "report/scorecard.py"}
    assert not modules & outside
    assert not any(m.startswith(("report/", "analysis/")) for m in modules)


def test_hashed_modules_cover_what_python_loads_for_the_recipe():
    # the static reading of the imports against the modules Python loads, in a fresh process
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, pathlib, largebatch_sim.runs.recipe as r\n"
            "root = pathlib.Path(r.__file__).parents[1]\n"
            "for m in list(sys.modules.values()):\n"
            "    f = getattr(m, '__file__', None)\n"
            "    if f and pathlib.Path(f).is_relative_to(root):\n"
            "        print(pathlib.Path(f).relative_to(root).as_posix())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "runs/recipe.py" in loaded and "nn/models.py" in loaded
    assert set(loaded) <= set(run_cache.imported_modules())


@pytest.fixture
def fresh_code_version():
    """code_version() recomputed on every call, and its cache emptied again afterwards, so no
    other test sees a version of a fake package."""

    def version() -> str:
        run_cache._code_version.cache_clear()
        return run_cache.code_version()

    yield version
    run_cache._code_version.cache_clear()


def _write(package, files):
    for rel, text in files.items():
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(text)


def test_editing_outside_the_imports_keeps_the_version(tmp_path, monkeypatch, fresh_code_version):
    package = tmp_path / "largebatch_sim"
    _write(
        package,
        {
            "__init__.py": "",
            "runs/__init__.py": "from .config import Config\n",  # runs before runs/recipe.py
            "runs/config.py": "class Config: ...\n",
            "runs/recipe.py": "import numpy\nimport largebatch_sim.nn.layers\n"
            "from ..train import train\n",
            "train.py": "from . import backend\n\n\ndef train():\n"
            "    from largebatch_sim.optim import sgd\n",  # an import inside a function
            "backend.py": "xp = None\n",
            "nn/__init__.py": "",
            "nn/layers.py": "from .. import backend\n",
            "optim/__init__.py": "",
            "optim/sgd.py": "",
            "plots.py": "from .train import train\n",  # imports the training code, unimported
            "report/__init__.py": "from ..plots import train\n",
        },
    )
    assert run_cache.imported_modules(package=package) == [
        "__init__.py",
        "backend.py",
        "nn/__init__.py",
        "nn/layers.py",
        "optim/__init__.py",
        "optim/sgd.py",
        "runs/__init__.py",
        "runs/config.py",
        "runs/recipe.py",
        "train.py",
    ]
    monkeypatch.setattr(run_cache, "PACKAGE", package)
    before = fresh_code_version()
    assert fresh_code_version() == before  # deterministic
    (package / "plots.py").write_text("from .train import train\n\nWIDTH = 3\n")
    (package / "report" / "__init__.py").write_text("")
    assert fresh_code_version() == before
    for rel in ("optim/sgd.py", "runs/config.py"):  # reached lazily; through runs/__init__.py
        (package / rel).write_text("LR = 0.1\n")
        assert fresh_code_version() != before
        before = fresh_code_version()


def test_fresh_samples_draw_new_batches_from_the_process(tmp_path, monkeypatch):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path))
    base = RunConfig(
        data="teacher_student", data_size=500, model="mlp", batch=32, epochs=2, evals=2
    )
    fresh = replace(base, fresh_samples=True)
    a, b, again = (run_ensemble([c], progress=False)[0] for c in (base, fresh, fresh))
    pd.testing.assert_frame_equal(b.history, again.history)  # deterministic
    assert not a.history.equals(b.history)
    # a nominal epoch is n_train // batch steps, as with the finite sample
    assert b.history.step.max() == a.history.step.max() == 2 * (400 // 32)
    big = replace(fresh, batch=1024, epochs=3)  # larger than the finite sample
    assert run_ensemble([big], progress=False)[0].history.step.max() == 3


def test_fresh_samples_need_a_synthetic_set():
    with pytest.raises(ValueError, match="fresh_samples must be False.*synthetic sets"):
        RunConfig(data="mnist1d", fresh_samples=True)


def test_the_cache_lists_and_prunes_by_code_version_and_age(tmp_path):
    """Runs of another version of the training code are never read again: ``prune`` removes
    them (and, on request, runs older than a number of days), keeping the current ones."""
    cache = ResultCache(tmp_path)
    (result,) = sweep([TINY], cache, progress=False)
    stale = tmp_path / "0123456789ab" / "old.pkl"
    stale.parent.mkdir()
    stale.write_bytes(b"x")
    table = cache.versions()
    assert list(table["current"]) == [False, True] and list(table["runs"]) == [1, 1]
    assert cache.prune(other_versions=True) == 1
    assert not stale.parent.exists() and cache.load(TINY) is not None
    assert cache.prune(older_than_days=1) == 0
    assert cache.prune(older_than_days=0) == 1 and cache.versions().empty


def test_code_version_is_safe_to_compute_from_threads(fresh_code_version):
    """Sweeps in threads ask for it at once; ast.parse in CPython 3.11 is not thread-safe."""
    from concurrent.futures import ThreadPoolExecutor

    run_cache._code_version.cache_clear()
    with ThreadPoolExecutor(8) as pool:
        versions = set(pool.map(lambda _: run_cache.code_version(), range(32)))
    assert versions == {fresh_code_version()}
