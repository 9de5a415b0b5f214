"""Run outcomes extracted from synthetic histories, then judged by the registry (Goyal)."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import outcomes
from largebatch_sim.report import targets
from largebatch_sim.runs import RunConfig, RunResult


def fake_run(
    batch=32, seed=0, test_err=2.0, train_err=None, loss=None, diverged=False, lr=0.05, w_norm=None
):
    """A RunResult whose history has 20 evaluations: train error ``train_err(fraction)`` and
    test error ``test_err`` (%, a number or a function of the fraction of training); ``loss``
    gives the per-step training loss trace, ``w_norm`` the weight norm of one layer."""
    config = RunConfig(batch=batch, base_batch=32, seed=seed, lr=lr)
    fractions = np.arange(1, 21) / 20
    rows = []
    for f in fractions:
        tr = train_err(f) if train_err else 10.0
        te = test_err(f) if callable(test_err) else test_err
        rows += [
            dict(step=int(f * 100), epoch=10 * f, metric="train_acc", value=1 - tr / 100),
            dict(step=int(f * 100), epoch=10 * f, metric="test_acc", value=1 - te / 100),
        ]
    instruments = {}
    if loss is not None:
        instruments["loss_trace"] = pd.DataFrame(
            {"step": np.arange(1, len(loss) + 1), "member": 0, "value": loss}
        )
    if w_norm is not None:
        instruments["norms"] = pd.DataFrame(
            [dict(step=100, layer="fc", kind="weight", metric="w_norm", value=w_norm)]
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


def _seeds(value, **kw):
    """Three fake runs whose ``value`` keyword differs a little by seed."""
    return [fake_run(seed=s, **{k: v + 0.05 * s for k, v in value.items()}, **kw) for s in range(3)]


def test_g_t1_warmup_table():
    def table(errors):
        groups = {g: _seeds({"test_err": e}) for g, e in errors.items()}
        return outcomes.per_seed(groups, outcomes.final_error)

    paper = {"baseline": 2.0, "none": 3.5, "constant": 4.5, "gradual": 2.1}
    absent = {"baseline": 2.0, "none": 2.0, "constant": 2.0, "gradual": 5.0}
    assert targets.judge("G-T1", table(paper)).verdict == "yes"
    assert targets.judge("G-T1", table(absent)).verdict == "no"


def test_g_f4_gap_closes_after_the_second_drop():
    base = [fake_run(seed=s, test_err=2.0 + 0.05 * s) for s in range(3)]

    def table(large_err):
        large = [
            fake_run(seed=s, test_err=lambda f, s=s: large_err(f) + 0.05 * s) for s in range(3)
        ]
        before = np.mean([outcomes.error_at(r, 7.5) for r in base])
        end = np.mean([outcomes.final_error(r) for r in base])
        return pd.concat(
            [
                outcomes.per_seed({"large_end": large, "base_end": base}, outcomes.final_error),
                outcomes.per_seed(
                    {"gap_before": large}, lambda r: outcomes.error_at(r, 7.5) - before
                ),
                outcomes.per_seed({"gap_end": large}, lambda r: outcomes.final_error(r) - end),
            ]
        )

    closes = table(lambda f: 6.0 if f <= 0.75 else 2.1)
    stays = table(lambda f: 6.0)
    assert (
        targets.judge("G-F4", {"matches at the end": closes, "gap closes": closes}).verdict == "yes"
    )
    assert targets.judge("G-F4", {"matches at the end": stays, "gap closes": stays}).verdict == "no"


def test_g_f5_early_shape_and_final_error_each_in_its_own_spread():
    def table(x2_early, x2_final):
        x1 = [
            fake_run(seed=s, test_err=2.0 + 0.05 * s, train_err=lambda f, s=s: 20 + s * 0.1)
            for s in range(3)
        ]
        x2 = [
            fake_run(
                seed=s, test_err=x2_final + 0.05 * s, train_err=lambda f, s=s: x2_early + s * 0.1
            )
            for s in range(3)
        ]
        early = outcomes.per_seed(
            {"x1_early": x1, "x2_early": x2}, lambda r: outcomes.mean_error_before(r, 5.0)
        )
        final = outcomes.per_seed({"x1_final": x1, "x2_final": x2}, outcomes.final_error)
        return {"early curves differ": early, "final errors match": final}

    assert targets.judge("G-F5", table(x2_early=30.0, x2_final=2.1)).verdict == "yes"
    assert targets.judge("G-F5", table(x2_early=20.0, x2_final=5.0)).verdict == "no"


def test_g_t2a_linear_rule_best():
    def table(errors):
        groups = {g: _seeds({"test_err": e}) for g, e in errors.items()}
        return outcomes.per_seed(groups, outcomes.final_error)

    best = {"x0.5": 2.6, "x1": 2.0, "x2": 2.5, "none": 8.0, "sqrt": 3.0}
    worst = {"x0.5": 2.0, "x1": 3.0, "x2": 2.0, "none": 2.0, "sqrt": 2.0}
    assert targets.judge("G-T2a", table(best)).verdict == "yes"
    assert targets.judge("G-T2a", table(worst)).verdict == "no"


def test_g_r_remarks_are_sign_aware():
    def tables(sign):
        def err(good, bad):
            return {
                "bad": _seeds({"test_err": good + sign * bad}),
                "good": _seeds({"test_err": good}),
            }

        norms = {
            "loss_scaled": _seeds({"w_norm": 10.0 + sign * 3.0}),
            "lr_scaled": _seeds({"w_norm": 10.0}),
        }
        pairs = {
            "2 momentum correction": ("uncorrected", "corrected"),
            "3 per-worker loss": ("per_worker", "global"),
            "4 shuffles": ("independent", "shared"),
        }
        out = {"1 loss scale": outcomes.per_seed(norms, outcomes.weight_norm)}
        for part, (bad, good) in pairs.items():
            runs = err(2.0, 5.0)
            out[part] = outcomes.per_seed(
                {bad: runs["bad"], good: runs["good"]}, outcomes.final_error
            )
        return out

    assert targets.judge("G-R", tables(+1)).verdict == "yes"
    # each pitfall helping instead (G-R remark 2 measured once: ON 14.89 %, OFF 2.73 %) says no
    assert targets.judge("G-R", tables(-0.3)).verdict == "no"


def test_weight_norm_is_undefined_without_a_record():
    assert outcomes.weight_norm(fake_run(w_norm=3.0)) == pytest.approx(3.0)
    assert np.isnan(outcomes.weight_norm(fake_run()))


def test_a_diverged_setting_reads_as_the_worst_not_as_missing_seeds():
    good = _seeds({"test_err": 2.0})
    blown = [fake_run(seed=s, diverged=True) for s in range(3)]
    groups = {"per_worker": blown, "global": good}
    dropped = outcomes.per_seed(groups, outcomes.final_error)
    scored = outcomes.per_seed(groups, outcomes.scored_error)
    assert targets.get("G-R").criterion.parts[2][1].judge(dropped).verdict == "not resolved"
    assert targets.get("G-R").criterion.parts[2][1].judge(scored).verdict == "yes"
