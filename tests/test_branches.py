"""Branches from checkpoints (analysis.branches), the three definitions of the critical batch
(analysis.critical_batch_definitions) and the pickle cache they share (runs.memo)."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.analysis import branches
from largebatch_sim.analysis import critical_batch_definitions as cbd
from largebatch_sim.runs import RunConfig
from largebatch_sim.runs.memo import memoised
from largebatch_sim.runs.recipe import run_ensemble
from largebatch_sim.validate import ParameterError

RUN = RunConfig(
    data="digits",
    model="mlp",
    batch=32,
    lr=0.2,
    scaling="none",
    schedule="constant",
    momentum=0.0,
    weight_decay=0.0,
    epochs=1,
    evals=10,
    noise_chunks=4,
)


def test_the_replay_is_the_recipes_run_and_keeps_the_checkpoints():
    (reference,) = run_ensemble([RUN], progress=False)
    replayed, params = branches.replay(RUN, (5, 20))
    assert replayed.history.equals(reference.history)  # copying parameters changes nothing
    assert sorted(params) == [5, 20]
    assert params[5]["fc1.w"].shape[0] == 1
    assert not np.array_equal(params[5]["fc1.w"], params[20]["fc1.w"])


def test_a_branch_starts_from_its_checkpoint():
    # with a vanishing rate every branch stays where its checkpoint is
    spec = branches.BranchSpec(
        run=RUN,
        checkpoints=(10,),
        batches=(8, 32),
        lrs=(1e-12, 1e-12),
        examples=64,
        lr_factors=(1.0,),
        seeds=(1, 2),
        eval_examples=256,
    )
    table = branches.branch(spec)
    final = table[table.step == table.steps]
    assert len(final) == 2 * 2 and set(final.steps) == {8, 2} and set(table.step) >= {1, 2, 8}
    np.testing.assert_allclose(table.loss, table.loss_start, rtol=1e-5)
    moving = branches.branch(
        branches.BranchSpec(
            run=RUN,
            checkpoints=(10,),
            batches=(8, 32),
            lrs=(0.05, 0.05),
            examples=64,
            lr_factors=(1.0,),
            seeds=(1,),
            eval_examples=256,
        )
    )
    final = moving[moving.step == moving.steps]
    assert (final.loss < final.loss_start).all()


def test_only_parameter_only_models_branch():
    with pytest.raises(ParameterError, match="run"):
        branches.BranchSpec(
            run=RunConfig(model="cnn_bn"), checkpoints=(1,), batches=(8,), lrs=(0.1,), examples=8
        )
    with pytest.raises(ParameterError, match="lrs"):
        branches.BranchSpec(run=RUN, checkpoints=(1,), batches=(8, 16), lrs=(0.1,), examples=8)
    with pytest.raises(ParameterError, match="spec"):
        branches.cached(RUN)
    with pytest.raises(ParameterError, match="extend_rounds"):
        branches.BranchSpec(
            run=RUN, checkpoints=(1,), batches=(8,), lrs=(0.1,), examples=8, extend_rounds=-1
        )


def _branch_table(eta_of_batch, batches=(16, 32, 64, 128, 256, 512), seeds=(1, 2)):
    """A branch table whose loss falls linearly in the examples, at a rate per example
    proportional to eta(B) for the best rate (factor 1; the others lag behind it)."""
    examples, rows = 1024, []
    for seed in seeds:
        for b in batches:
            steps = examples // b
            for factor, lag in ((0.5, 0.1), (1.0, 0.0), (2.0, 0.2)):
                for step in range(1, steps + 1):
                    loss = 2.0 - 0.5 * eta_of_batch(b) * step * b / examples + lag * step / steps
                    rows.append(
                        dict(
                            checkpoint=100,
                            run_loss=1.0,
                            batch=b,
                            seed=seed,
                            lr=0.1 * factor,
                            lr_factor=factor,
                            steps=steps,
                            step=step,
                            loss_start=2.0,
                            loss=loss,
                        )
                    )
    return pd.DataFrame(rows)


def test_the_keep_pace_batch_recovers_the_hyperbolas_critical_batch():
    b_crit, b0 = 200.0, 16
    progress = branches.progress_per_batch(
        _branch_table(lambda b: (1 + b0 / b_crit) / (1 + b / b_crit))
    )
    assert (progress.best_lr == 0.1).all() and not progress.lr_at_edge.any()
    np.testing.assert_allclose(progress[progress.batch == b0].eta, 1.0)
    eta = (1 + b0 / b_crit) / (1 + progress.batch / b_crit)
    np.testing.assert_allclose(progress.eta, eta, rtol=1e-9)
    # the loss falls linearly in the examples: the same loss read agrees with it
    np.testing.assert_allclose(progress.eta_same_loss, eta, rtol=1e-9)
    keep = branches.keep_pace_batch(progress)
    # eta = 1/1.2 at B = 1.2 b0 + 0.2 b_crit = 59.2; interpolation in log B is close to it
    assert np.allclose(keep.b_keep, 59.2, rtol=0.05) and (keep.censored == "").all()
    assert np.allclose(keep.b_crit_equivalent, b_crit, rtol=0.15)


def test_perfect_scaling_keeps_pace_at_every_batch():
    keep = branches.keep_pace_batch(branches.progress_per_batch(_branch_table(lambda b: 1.0)))
    assert (keep.censored == "above").all() and (keep.b_keep == 512).all()


def test_examples_to_reads_the_reference_trajectory():
    examples, losses = np.array([0.0, 10, 20, 30]), np.array([2.0, 1.5, 1.6, 1.0])
    assert branches.examples_to(1.25, examples, losses) == pytest.approx(25)  # 1.5 held to 20
    assert branches.examples_to(0.5, examples, losses) == 30  # never that low: its end
    assert branches.examples_to(3.0, examples, losses) == 0


def test_bcrit_from_the_overhead_batch_inverts_the_hyperbola():
    assert branches.bcrit_from_overhead_batch(1.2 * 16 + 0.2 * 500, 16) == pytest.approx(500)
    assert np.isnan(branches.bcrit_from_overhead_batch(16, 16))


def _best(b_crit, batches=(16, 32, 64, 128, 256, 512, 1024), s_min=100.0):
    steps = s_min * (1 + b_crit / np.array(batches, float))
    return pd.DataFrame(
        dict(task="t", target=1.0, batch=batches, steps=steps, examples=steps * batches)
    )


def test_the_overhead_batch_of_a_hyperbola_is_a_fifth_of_its_critical_batch():
    z = cbd.overhead_batch(_best(400.0)).iloc[0]
    assert z.bracket_lo == 64 and z.bracket_hi == 128  # 1.2 x 16 + 0.2 x 400 = 99
    assert z.b_overhead == pytest.approx(99.2, rel=0.1)  # interpolated in log B
    assert z.b_crit_equivalent == pytest.approx(400, rel=0.1)
    flat = cbd.overhead_batch(_best(1e7)).iloc[0]  # perfect scaling over the whole grid
    assert flat.censored == "above" and np.isnan(flat.b_overhead)


def test_gain_points_compare_the_speedup_with_adascales_gain():
    b_crit = 200.0
    progress = branches.progress_per_batch(_branch_table(lambda b: 1 / (1 + b / b_crit)))
    points = cbd.gain_points(progress, {100: b_crit})
    # progress per step ~ 1 / (1 + B_noise / B): the gain with B_simple = B_noise predicts it
    np.testing.assert_allclose(points.ratio, 1.0, rtol=1e-9)
    np.testing.assert_allclose(points.efficiency, points.eta, rtol=1e-9)
    wrong = cbd.gain_points(progress, {100: 100 * b_crit})  # a noise scale 100x too high
    assert cbd.cbsf2_table(wrong).value.iloc[0] < 1 / 1.5  # outside CBS-F2's yes band


def test_the_pickle_cache_computes_once(tmp_path):
    calls = []

    def compute(spec):
        calls.append(1)
        return {"x": 1}

    spec = branches.BranchSpec(run=RUN, checkpoints=(1,), batches=(8,), lrs=(0.1,), examples=8)
    for _ in range(2):
        assert memoised(spec, "analysis/branches.py", compute, tmp_path) == {"x": 1}
    assert len(calls) == 1 and len(list(tmp_path.glob("*.pkl"))) == 1


def test_a_censored_median_is_censored_when_its_middle_seed_is():
    def median(values, censored):
        return cbd.censored_median(pd.Series(values, dtype=float), pd.Series(censored))

    assert median([100.0, 300, 200], ["", "", ""]) == (200.0, "")
    assert median([np.nan, np.nan, 900], ["below", "below", ""]) == (
        pytest.approx(np.nan, nan_ok=True),
        "below",
    )
    assert median([400.0, 512, 512], ["", "above", "above"]) == (512.0, "above")
    assert median([np.nan, 300, 512], ["below", "", "above"]) == (300.0, "")


def test_loss_along_keeps_the_original_members_after_compaction():
    from largebatch_sim.data import BatchSampler, load_dataset
    from largebatch_sim.nn.models import build_model
    from largebatch_sim.optim import SGD
    from largebatch_sim.train import train

    data = load_dataset("digits")
    model = build_model("mlp", data.in_shape, data.classes).init([0, 0, 0])
    along = branches.LossAlong(data.x_test, data.y_test, 3)
    rates = np.tile([0.05, 1e4, 0.1], (20, 1))  # member 1 diverges and leaves the ensemble
    sampler = BatchSampler(data.x_train, data.y_train, 64, seeds=[0])
    train(model, SGD(momentum=0.9), rates, sampler, eval_every=5, hooks=[along], progress=False)
    assert model.ensemble == 2
    last = along.records[-1][1]
    assert last.shape == (3,) and np.isnan(last[1]) and np.isfinite(last[[0, 2]]).all()


def test_the_rate_grid_is_extended_beyond_an_edge_where_a_seed_is_best_there():
    tried = [(1, 0.5, 3.0), (1, 1.0, 2.0), (1, 2.0, 1.0), (2, 0.5, 1.5), (2, 1.0, 2.0)]
    grid = (0.5, 1.0, 2.0)
    assert branches._beyond_the_edges(tried, grid) == (0.25, 4.0)  # seed 2 low, seed 1 high
    inside = [(1, 0.5, 3.0), (1, 1.0, 1.0), (1, 2.0, 2.0)]
    assert branches._beyond_the_edges(inside, grid) == ()
    assert branches._beyond_the_edges([(1, 1.0, 1.0)], (1.0,)) == ()  # a fixed rate


def test_a_branch_whose_best_rate_is_at_the_top_tries_larger_ones():
    # rates far too small: the largest tried always learns fastest, so the grid grows twice
    spec = branches.BranchSpec(
        run=RUN,
        checkpoints=(10,),
        batches=(32,),
        lrs=(1e-4,),
        examples=64,
        lr_factors=(0.5, 1.0, 2.0),
        seeds=(1,),
        eval_examples=256,
        extend_rounds=2,
    )
    table = branches.branch(spec)
    assert sorted(table.lr_factor.unique()) == [0.5, 1.0, 2.0, 4.0, 8.0]
    progress = branches.progress_per_batch(table)
    assert progress.best_lr.iloc[0] == pytest.approx(8e-4) and progress.lr_at_edge.iloc[0]


def test_the_multiplicative_spread_is_a_factor_over_the_defined_values():
    assert cbd.multiplicative_spread(pd.Series([100.0, 100.0, np.nan])) == pytest.approx(1.0)
    spread = cbd.multiplicative_spread(pd.Series([50.0, 200.0, 0.0]))  # logs +-ln 2 around 100
    assert spread == pytest.approx(np.exp(np.log(4) / np.sqrt(2)))
    assert np.isnan(cbd.multiplicative_spread(pd.Series([80.0])))
