"""Run outcomes extracted from synthetic histories, then judged by the registry (Goyal)."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import outcomes
from largebatch_sim.report import targets
from largebatch_sim.runs import RunConfig, RunResult


def fake_run(batch=32, seed=0, test_err=2.0, train_err=None, loss=None, diverged=False, lr=0.05):
    """A RunResult whose history has 20 evaluations: train error ``train_err(fraction)`` and a
    final test error ``test_err`` (%); ``loss`` gives the per-step training loss trace."""
    config = RunConfig(batch=batch, base_batch=32, seed=seed, lr=lr)
    fractions = np.arange(1, 21) / 20
    rows = []
    for f in fractions:
        tr = train_err(f) if train_err else 10.0
        rows += [
            dict(step=int(f * 100), epoch=10 * f, metric="train_acc", value=1 - tr / 100),
            dict(step=int(f * 100), epoch=10 * f, metric="test_acc", value=1 - test_err / 100),
        ]
    instruments = {}
    if loss is not None:
        instruments["loss_trace"] = pd.DataFrame(
            {"step": np.arange(1, len(loss) + 1), "member": 0, "value": loss}
        )
    summary = {"diverged": diverged, "collapsed": False}
    return RunResult(config, pd.DataFrame(rows), summary, instruments)


def test_final_error_is_the_median_of_the_last_evaluations():
    assert outcomes.final_error(fake_run(test_err=3.0)) == pytest.approx(3.0)
    assert np.isnan(outcomes.final_error(fake_run(diverged=True)))


def test_g_f1_knee_through_the_extraction():
    def errors(per_batch):
        runs = [fake_run(b, s, e + 0.05 * s) for b, e in per_batch.items() for s in range(3)]
        return outcomes.knee_table(outcomes.error_table(runs, workers_of=32))

    knee = {32: 2.0, 64: 2.1, 128: 2.2, 256: 2.3, 512: 6.0, 1024: 30.0}
    at_once = {32: 2.0, 64: 4.0, 128: 8.0, 256: 16.0, 512: 30.0, 1024: 60.0}
    assert targets.judge("G-F1", errors(knee)).verdict == "yes"
    assert targets.judge("G-F1", errors(at_once)).verdict == "no"


def test_g_f2_spike_through_the_loss_trace():
    steps = np.arange(1, 101)
    smooth = 2.0 * np.exp(-steps / 30)  # falls through the end of warmup at step 40
    spiked = smooth + np.where((steps > 40) & (steps < 50), 1.5, 0.0)
    rng = np.random.default_rng(0)

    def group(base):
        return [fake_run(512, s, loss=base + 0.01 * rng.standard_normal(100)) for s in range(3)]

    def table(constant_loss):
        groups = {"constant": group(constant_loss), "gradual": group(smooth)}
        return outcomes.per_seed(groups, lambda r: outcomes.warmup_spike(r, end_step=40))

    assert targets.judge("G-F2", table(spiked)).verdict == "yes"
    assert targets.judge("G-F2", table(smooth)).verdict == "no"
    with pytest.raises(ValueError, match="trace_loss"):
        outcomes.warmup_spike(fake_run(), 40)


def test_g_f3_curve_gaps():
    base = [fake_run(32, s, train_err=lambda f, s=s: 20 * (1 - f) + 1 + 0.1 * s) for s in range(3)]

    def gaps(small_offset, large_offset):
        def runs(batch, offset):
            return [
                fake_run(batch, s, train_err=lambda f, s=s: 20 * (1 - f) + 1 + offset + 0.1 * s)
                for s in range(3)
            ]

        groups = {"base": base, "small": runs(128, small_offset), "large": runs(2048, large_offset)}
        t = outcomes.per_seed(groups, lambda r: outcomes.curve_gap(r, base))
        return {"small matches": t, "large separates": t}

    assert targets.judge("G-F3", gaps(0.1, 8.0)).verdict == "yes"
    assert targets.judge("G-F3", gaps(8.0, 0.1)).verdict == "no"


def test_curve_gap_compares_the_second_half_by_fraction_of_training():
    base = [fake_run(train_err=lambda f: 10.0)]
    late = fake_run(train_err=lambda f: 10.0 + (4.0 if f > 0.5 else 0.0))
    assert outcomes.curve_gap(late, base) == pytest.approx(4.0 * 10 / 11)  # 10 of 11 points
    assert outcomes.error_at(late, 5.0, "train_acc") == pytest.approx(10.0)
    assert outcomes.mean_error_before(late, 5.0) == pytest.approx(10.0)
