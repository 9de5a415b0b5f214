"""AutoWU: the GP test on synthetic loss curves, the controller's rates, its validation."""

import numpy as np
import pytest

from largebatch_sim.auto_warmup import (
    AutoWarmup,
    gp_posterior,
    past_minimum_probability,
    switch_vote,
)
from largebatch_sim.runs import RunConfig
from largebatch_sim.runs.recipe import run_ensemble
from largebatch_sim.validate import ParameterError

N = 240
T = np.linspace(0, 1, N)


def _curve(kind, seed=0, noise=0.05):
    eps = noise * np.random.default_rng(seed).standard_normal(N)
    shapes = {
        "minimum": 2 * (T - 0.5) ** 2 + 0.5,  # falls, bottoms out at half-way, rises again
        "falling": np.exp(-3 * T),
        "noise": np.ones(N),
    }
    return shapes[kind] + eps


@pytest.mark.parametrize("seed", range(5))
def test_a_clear_minimum_votes_to_switch_and_finds_it(seed):
    vote, at = switch_vote(_curve("minimum", seed), np.random.default_rng(0))
    assert vote and abs(at - 0.5) < 0.1


@pytest.mark.parametrize("kind", ["falling", "noise"])
@pytest.mark.parametrize("seed", range(5))
def test_a_falling_curve_or_noise_alone_does_not_vote(kind, seed):
    assert not switch_vote(_curve(kind, seed), np.random.default_rng(0))[0]


def test_the_posterior_interpolates_a_smooth_curve_and_knows_its_minimum_is_past():
    x = np.linspace(0, 1, 50)
    y = (x - 0.3) ** 2
    grid = np.linspace(0, 1, 101)
    mean, var, cov_last = gp_posterior(x, y, grid)
    assert np.allclose(mean, (grid - 0.3) ** 2, atol=0.02)  # shrunk by the 1e-3 noise floor
    assert np.all(var >= -1e-12) and cov_last.shape == grid.shape
    assert past_minimum_probability(mean, var, cov_last) > 0.99
    falling = gp_posterior(x, -x, grid)
    assert past_minimum_probability(*falling) < 0.5


def test_long_histories_are_subsampled_and_non_finite_losses_left_out():
    y = np.concatenate([_curve("minimum"), _curve("minimum", 1), _curve("minimum", 2)])
    y = np.sort(y[:700])[::-1].copy()  # a falling curve of 700 points: subsampled posteriors
    y[::50] = np.nan
    assert not switch_vote(y, np.random.default_rng(0))[0]
    assert not switch_vote(np.full(10, np.nan), np.random.default_rng(0))[0]


def _drive(controller, losses):
    """Feed the controller per-step losses (steps, E) as the loop would."""
    for step, loss in enumerate(losses):
        controller.after_step(step, None, loss)


def test_the_controller_switches_on_a_minimum_and_decays_from_the_rate_there():
    warmup, steps, every = 240, 400, 20
    ctl = AutoWarmup(1e-3, 10.0, warmup, steps, every, members=2, dtype=np.float64)
    ramp = 1e-3 * 1e4 ** (np.arange(warmup) / warmup)
    assert np.allclose(ctl.table[:warmup, 0], ramp)
    losses = np.stack([_curve("minimum"), _curve("falling")], axis=1)
    _drive(ctl, losses)
    start = ctl.switch_step[0]
    assert 0.5 * N < start < warmup and ctl.switch_step[1] == -1
    peak = ctl.table[start, 0]
    assert ramp[N // 2] / 1.3 < peak < ramp[N // 2] * 1.3  # the rate at the loss's minimum
    assert np.all(np.diff(ctl.table[start:, 0]) <= 0) and ctl.table[-1, 0] < 1e-3 * peak
    assert np.allclose(ctl.table[:warmup, 1], ramp)  # the falling member keeps warming up
    assert np.allclose(ctl.device, ctl.table)
    assert ctl.reads == warmup // every
    frame = ctl.frame()
    first_decay = frame[(frame.member == 0) & (frame.phase == "decay")].step.min()
    assert first_decay == start + 1  # steps counted from 1


def test_select_members_slices_every_per_member_array():
    ctl = AutoWarmup([1e-3, 1e-2, 1e-1], 10.0, 60, 100, 10, members=3, dtype=np.float64)
    losses = np.stack([_curve("noise")[:30]] * 3, axis=1)
    _drive(ctl, losses)
    ctl.select_members(np.array([2, 0]))
    assert ctl.lr_min.tolist() == [1e-1, 1e-3] and ctl.table.shape == (100, 2)
    assert ctl.device.shape == (100, 2) and ctl.switch_step.shape == (2,)
    assert ctl._votes.shape == (2, 3) and ctl._losses.shape == (60, 2)
    for step in range(30, 60):
        ctl.after_step(step, None, np.ones(2))
    assert ctl.reads == 6


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"every": 30}, "every"),  # three reads of 30 steps do not fit a warmup of 60
        ({"lr_max": 1e-4}, "lr_max"),
        ({"lr_min": 0.0}, "lr_min"),
        ({"warmup_steps": 200}, "warmup_steps"),
    ],
)
def test_a_controller_that_cannot_read_the_loss_or_ramp_is_refused(kwargs, name):
    args = {"lr_min": 1e-3, "lr_max": 1.0, "warmup_steps": 60, "steps": 100, "every": 10}
    with pytest.raises(ParameterError, match=name):
        AutoWarmup(**(args | kwargs), members=1)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"warmup_epochs": 2.0}, "warmup_epochs"),  # fewer than three reads, once per epoch
        ({"warmup_epochs": 4.0, "schedule": "step"}, "schedule"),
        ({"warmup_epochs": 4.0, "schedule": "cosine", "warmup_start": 0.0}, "warmup_start"),
    ],
)
def test_run_configs_refuse_an_auto_warmup_without_enough_loss_reads(options, name):
    with pytest.raises(ParameterError, match=name):
        RunConfig(warmup="auto", epochs=10, **options)


def test_a_run_with_auto_warmup_records_its_rates():
    config = RunConfig(
        data="mnist1d", data_size=1000, model="mlp", batch=50, epochs=8, evals=4,
        warmup="auto", warmup_epochs=4, schedule="cosine", lr=1.0, scaling="none",
    )  # fmt: skip
    (result,) = run_ensemble([config], progress=False)
    rates = result.instruments["auto_warmup"]
    assert len(rates) == 8 * 16 and rates.lr.iloc[0] == pytest.approx(1e-4)
    history_lr = result.history[result.history.metric == "lr"].set_index("step").value
    assert np.allclose(history_lr, rates.set_index("step").lr[history_lr.index], rtol=1e-6)
