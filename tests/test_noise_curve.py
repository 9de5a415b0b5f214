"""The noise-scale-over-training helpers notebook 03 calls (M-F-curve, M-F15, M-F16, CBS-F2)."""

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from largebatch_sim.analysis import noise_trends as nt  # noqa: E402
from largebatch_sim.analysis.noise import noise_scale_frame  # noqa: E402
from largebatch_sim.report import noise_plots  # noqa: E402


def fake_run(lr, batch=64, chunks=8, steps=40, diverged=False, g_big=None):
    """A run with a noise table every 2 steps (|G_small|^2 = 2, |G_big|^2 = 1 unless given:
    |G|^2 = (B g_big - b g_small) / (B - b) = 2/3 > 0) and a training loss record every 10."""
    table = pd.DataFrame(
        dict(
            step=np.arange(0, steps, 2),
            member=0,
            g_small_sq=2.0,
            g_big_sq=1.0 if g_big is None else g_big,
            b_small=batch // chunks,
            b_big=batch,
        )
    )
    record_steps = np.arange(10, steps + 1, 10)
    history = pd.DataFrame(dict(metric="train_loss", step=record_steps, value=1.0 / record_steps))
    config = SimpleNamespace(noise_chunks=chunks, lr=lr, batch=batch)
    return SimpleNamespace(
        config=config, diverged=diverged, instruments={"noise": table}, history=history
    )


def test_noise_curve_takes_the_run_nearest_the_middle_targets_best_lr():
    plain = SimpleNamespace(config=SimpleNamespace(noise_chunks=0, lr=0.1, batch=16))
    runs = [plain, fake_run(0.1), fake_run(0.4), fake_run(0.2, diverged=True), fake_run(1.6)]
    best = pd.DataFrame(  # the task's rows: three targets at batch 64, one at another batch
        dict(batch=[64, 64, 64, 16], target=[1, 2, 3, 1], best_lr=[1.6, 0.35, np.nan, 0.1])
    )
    chosen, frame = nt.noise_curve(runs, best, n_targets=3)
    assert chosen.config.lr == 0.4  # nearest to 0.35 in log; the diverged 0.2 is never chosen
    # each measurement gets the loss of the record that closes its window
    assert frame.loc[frame.step == 12, "train_loss"].item() == pytest.approx(1 / 20)
    assert frame.loc[frame.step == 20, "train_loss"].item() == pytest.approx(1 / 20)
    # no resolved target from the middle on: the first noise run's lr
    unresolved = best.assign(best_lr=[1.6, np.nan, np.nan, 0.1])
    assert nt.noise_curve(runs, unresolved, n_targets=3)[0].config.lr == 0.1


def test_curve_summary_counts_and_windows():
    chosen, frame = nt.noise_curve([fake_run(0.1)], pd.DataFrame(dict(batch=[], best_lr=[])), 1)
    row = nt.curve_summary("task", chosen, frame, chunks=8)
    assert row["b_small"] == 8 and row["measurements"] == 20 and row["raw_g2_nonpositive"] == 0
    # constant estimates: tr(Sigma) / |G|^2 at every valid EMA point
    g2 = (64 * 1.0 - 8 * 2.0) / (64 - 8)
    trace = (2.0 - 1.0) / (1 / 8 - 1 / 64)
    assert row["B_simple_mean"] == pytest.approx(trace / g2)
    assert row["B_simple_start"] == pytest.approx(trace / g2)
    assert row["loss_start"] == pytest.approx(1 / 10) and row["loss_end"] == pytest.approx(1 / 40)


def test_temperature_summary_windows():
    g_big = np.where(np.arange(0, 40, 2) >= 30, 0.2, 1.0)  # |G|^2 < 0 in the last quarter
    run = fake_run(0.1, g_big=g_big)
    frame = noise_scale_frame(run.instruments["noise"])
    row = nt.temperature_summary("cut", run, frame, lr_end=0.01)
    assert row["lr_end"] == 0.01 and not row["diverged"]
    assert row["raw_g2_nonpositive_last_quarter"] == 1.0
    assert row["B_simple_before"] == pytest.approx((1.0 / (1 / 8 - 1 / 64)) / (48 / 56))
    assert row["B_simple_last_quarter"] < 0  # a ratio of means, not hidden
    assert row["train_loss_end"] == pytest.approx(1 / 40)


def test_the_noise_figures_draw():
    empty = pd.DataFrame(dict(batch=[], best_lr=[]))
    curves = {"a": nt.noise_curve([fake_run(0.1)], empty, 1)}
    figures = [noise_plots.noise_over_training(curves)]
    frame = curves["a"][1]
    figures.append(noise_plots.temperature({"constant": frame, "cut": frame}, 20, 64))
    fixed = pd.DataFrame(dict(batch=[16, 64], steps=[100.0, 40.0], examples=[1600.0, 2560.0]))
    phases = pd.DataFrame(
        dict(seed=[0, 0], steps_before=[0, 10], batch=[16, 32], B_simple=[100.0, np.nan])
    )
    fit = SimpleNamespace(s_min=30.0, e_min=1000.0)
    figures.append(
        noise_plots.adaptive_batch(
            fixed, fixed[1:], fixed[:1], phases, 64.0, fit, best_batch=64, seed=0, target=0.5
        )
    )
    gain = pd.DataFrame(
        dict(
            task="a",
            checkpoint=[10, 10, 20],
            batch=[32, 64, 64],
            gain=[1.5, 2.0, 1.8],
            speedup=[1.2, 1.9, 0.0],
            eta=[0.8, 0.9, 0.7],
            efficiency=[0.75, 0.5, 0.6],
        )
    )
    figures.append(noise_plots.gain_vs_branches(gain, {"a": "task a"}))
    for fig in figures:
        assert fig.axes and all(ax.get_title() for ax in fig.axes)
        plt.close(fig)
