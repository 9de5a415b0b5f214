"""The result cache and sweeps: keys, atomic writes, resuming an interrupted sweep."""

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
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".pkl"]  # no partial files

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


def test_editing_outside_the_imports_keeps_the_version(tmp_path, monkeypatch):
    package = tmp_path / "largebatch_sim"
    (package / "runs").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "runs" / "__init__.py").write_text("")
    (package / "runs" / "recipe.py").write_text("from ..train import train\nimport numpy\n")
    (package / "train.py").write_text("from . import backend\n")
    (package / "backend.py").write_text("xp = None\n")
    (package / "plots.py").write_text("def plot(): ...\n")
    assert run_cache.imported_modules(package=package) == [
        "__init__.py",
        "backend.py",
        "runs/__init__.py",
        "runs/recipe.py",
        "train.py",
    ]

    def version():
        run_cache.code_version.cache_clear()
        return run_cache.code_version()

    monkeypatch.setattr(run_cache, "PACKAGE", package)
    before = version()
    (package / "plots.py").write_text("def plot(): return 1\n")
    assert version() == before
    (package / "backend.py").write_text("xp = 1\n")
    assert version() != before
    monkeypatch.undo()
    run_cache.code_version.cache_clear()


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
    with pytest.raises(ValueError, match="synthetic data set"):
        RunConfig(data="mnist1d", fresh_samples=True)
