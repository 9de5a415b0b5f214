"""The training loop and the run configs: learning, divergence, ensembles, bad input."""

from dataclasses import replace

import numpy as np
import pytest

from largebatch_sim import train
from largebatch_sim.data import BatchSampler
from largebatch_sim.nn.base import Sequential
from largebatch_sim.nn.linear import Linear
from largebatch_sim.optim import SGD
from largebatch_sim.runs import RunConfig, run_ensemble

TINY = RunConfig(data="digits", model="mlp", batch=64, lr=0.05, base_batch=64, epochs=3, evals=3)


def test_training_lowers_the_loss_on_digits():
    (result,) = run_ensemble([TINY], progress=False)
    loss = result.history.query("metric == 'train_loss'").value.to_numpy()
    assert loss[-1] < 0.5 * loss[0]
    assert result.summary["final_test_acc"] > 0.8
    assert not result.diverged


def test_training_lowers_the_loss_on_mnist1d(tmp_path, monkeypatch):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path))
    config = replace(TINY, data="mnist1d", data_size=2000, model="alexnet_bn", workers=2, epochs=4)
    (result,) = run_ensemble([config], progress=False)
    loss = result.history.query("metric == 'train_loss'").value.to_numpy()
    assert loss[-1] < 0.8 * loss[0]


def test_a_diverging_learning_rate_is_detected_and_frozen():
    configs = [replace(TINY, lr=lr, scaling="none") for lr in (0.05, 1e4)]
    good, bad = run_ensemble(configs, progress=False)
    assert bad.diverged and bad.summary["diverged_step"] >= 0
    assert np.isnan(bad.summary["final_test_acc"])  # never a silent number for a dead run
    assert not good.diverged and good.summary["final_test_acc"] > 0.8


def test_ensemble_member_equals_the_run_done_alone():
    configs = [
        replace(TINY, lr=lr, seed=s, epochs=1, dtype="float64") for lr, s in [(0.02, 1), (0.1, 2)]
    ]
    together = run_ensemble(configs, progress=False)
    alone = run_ensemble(configs[1:], progress=False)
    a = together[1].history.value.to_numpy()
    b = alone[0].history.value.to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_hooks_see_nan_metrics_for_a_diverged_member():
    """A diverged member adds nothing to the loss sums: a hook reading its train_loss (an
    adaptive warmup, a live plot) must see NaN, not the 0 of an empty sum."""
    seen = []

    class Record(train.Hook):
        def at_evaluation(self, step, model, metrics):
            seen.append(metrics)
            return False

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(64, 5)), rng.integers(0, 3, size=64)
    model = Sequential([Linear(5, 3, name="fc1")]).init([0, 0])
    lrs = np.tile([0.1, 1e4], (8, 1))  # member 1 diverges within the first steps
    with np.errstate(all="ignore"):
        train.train(
            model,
            SGD(),
            lrs,
            BatchSampler(x, y, 16, seeds=[0]),
            (x, y),
            eval_every=4,
            hooks=[Record()],
            progress=False,
        )
    assert len(seen) == 2
    for metrics in seen:
        assert np.isfinite(metrics["train_loss"][0]) and np.isfinite(metrics["test_loss"][0])
        assert all(np.isnan(values[1]) for values in metrics.values())


def test_precise_bn_leaves_training_and_its_dropout_stream_alone(tmp_path, monkeypatch):
    """The hook forwards its own batches with dropout off: the device's dropout generator and
    the training sampler draw the same numbers with and without it."""
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path))
    config = replace(
        TINY, data="mnist1d", data_size=1000, model="alexnet_bn", workers=2, epochs=2, dropout=0.5
    )
    (hooked,) = run_ensemble([config], progress=False)
    (plain,) = run_ensemble([replace(config, precise_bn_examples=0)], progress=False)
    train_rows = hooked.history.metric.isin(["train_loss", "train_acc"])
    assert train_rows.any()
    np.testing.assert_array_equal(hooked.history[train_rows].value, plain.history[train_rows].value)
    test_loss = [r.history.query("metric == 'test_loss'").value.to_numpy() for r in (hooked, plain)]
    assert not np.array_equal(*test_loss)  # the hook ran and changed the statistics


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(lr=-0.1), "lr"),
        (dict(lr=float("nan")), "lr"),
        (dict(batch=100, workers=3), "divisible by workers"),
        (dict(data="imagenet"), "data must be one of"),
        (dict(model="vgg"), "model must be one of"),
        (dict(warmup="slow"), "warmup must be one of"),
        (dict(scaling="cubic"), "scaling must be one of"),
        (dict(momentum=1.0), "momentum"),
        (dict(epochs=0), "epochs"),
    ],
)
def test_bad_config_fails_before_any_compute(change, message):
    with pytest.raises(ValueError, match=message):
        replace(TINY, **change)


def test_ensemble_of_size_zero_is_refused():
    with pytest.raises(ValueError, match="at least one"):
        run_ensemble([])


def test_batch_larger_than_the_data_is_refused():
    with pytest.raises(ValueError, match="batch"):
        run_ensemble([replace(TINY, batch=4096)], progress=False)


def test_a_member_stuck_at_chance_is_recorded_as_collapsed():
    from largebatch_sim.data import BatchSampler, load_dataset
    from largebatch_sim.nn.models import build_model
    from largebatch_sim.optim import SGD
    from largebatch_sim.train import train

    data = load_dataset("digits")
    model = build_model("mlp", data.in_shape, data.classes).init([0, 1])
    model.layers[-1].params["w"][0] = 0  # member 0: constant logits, loss ln(10), chance accuracy
    model.layers[-1].params["b"][0] = 0
    sampler = BatchSampler(data.x_train, data.y_train, 128, seeds=[0])
    lrs = np.array([[0.0, 0.05]] * 40)  # member 0 never moves
    result = train(model, SGD(momentum=0.9), lrs, sampler, eval_every=5, progress=False)
    collapsed = result.summary.set_index("member")
    assert collapsed.loc[0, "collapsed"] and collapsed.loc[0, "collapsed_step"] == 15
    assert not collapsed.loc[1, "collapsed"] and not collapsed.loc[0, "diverged"]


def test_diverged_step_is_the_step_of_the_loss_trace_that_gave_it_away():
    """Counted from 1 as the history and the loss trace count, the diverged step is the first
    whose loss is non-finite or above divergence_factor times the first loss; the rate it
    trained with is kept as final_lr."""
    config = replace(TINY, lr=1e4, scaling="none", trace_loss=True)
    (bad,) = run_ensemble([config], progress=False)
    trace = bad.instruments["loss_trace"].set_index("step").value
    first_bad = trace.index[
        ~np.isfinite(trace) | (trace > config.divergence_factor * trace.iloc[0])
    ]
    assert bad.summary["diverged_step"] == first_bad[0]
    assert (bad.history.step < first_bad[0]).all()  # no row after the member diverged
    assert bad.summary["final_lr"] == pytest.approx(1e4)


def test_a_collapsed_member_is_frozen_and_keeps_its_metrics_at_the_collapse():
    """A stuck-at-chance member stops training at the evaluation that declares the collapse:
    its history ends there, and its final metrics are those of that evaluation."""
    layer = Linear(64, 10)
    model = Sequential([layer]).init([0, 1])
    layer.params["w"][1] = 0  # member 1 outputs zeros: loss ln 10, chance accuracy, forever
    layer.params["b"][1] = 0
    x = np.random.default_rng(0).normal(size=(256, 64)).astype(np.float32)
    y = np.arange(256) % 10
    lr = np.array([[0.1, 0.0]] * 40)  # member 1 never moves
    result = train.train(model, SGD(), lr, BatchSampler(x, y, 32), eval_every=4, progress=False)
    summary = result.summary.set_index("member")
    assert summary.loc[1, "collapsed"] and not summary.loc[0, "collapsed"]
    collapsed_at = summary.loc[1, "collapsed_step"]
    assert result.history.query("member == 1").step.max() == collapsed_at
    assert result.history.query("member == 0").step.max() == 40
    assert np.isfinite(summary.loc[1, "final_train_loss"])


def test_training_stops_when_no_member_is_left(recwarn):
    """Every member diverged: the loop ends at the next evaluation, with no warning."""
    configs = [replace(TINY, lr=lr, scaling="none", epochs=20, evals=20) for lr in (1e4, 1e5)]
    results = run_ensemble(configs, progress=False)
    assert all(r.diverged for r in results)
    assert not [w for w in recwarn if "largebatch_sim" in str(w.filename)]
    assert all(r.summary["final_lr"] > 0 for r in results)
