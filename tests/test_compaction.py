"""Frozen members leave the ensemble at an evaluation; the survivors train on unchanged."""

import numpy as np
import pandas as pd
import pytest

from largebatch_sim import backend
from largebatch_sim.data import BatchSampler, load_dataset
from largebatch_sim.loss_trace import LossTrace
from largebatch_sim.nn.models import build_model
from largebatch_sim.optim import LARS, SGD
from largebatch_sim.train import train

STEPS = 30
# member 1's rate diverges within a few steps; members 0 and 2 train
RATES = np.array([0.05, 1e4, 0.1])


class WithoutSelection:
    """An instrument with no ``select_members``: its presence turns compaction off."""

    def wants(self, step: int) -> bool:
        return False

    def before_step(self, step: int, model) -> None:
        pass

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame()


def _run(optimizer, compact: bool, seeds=(0, 1, 2), hooks=()):
    data = load_dataset("digits")
    model = build_model("mlp", data.in_shape, data.classes).init(list(seeds))
    sampler = BatchSampler(data.x_train, data.y_train, 64, seeds=list(seeds))
    instruments = {} if compact else {"off": WithoutSelection()}
    lrs = np.tile(RATES, (STEPS, 1))
    result = train(
        model,
        optimizer,
        lrs,
        sampler,
        (data.x_test, data.y_test),
        eval_every=5,
        progress=False,
        instruments=instruments,
        hooks=hooks,
    )
    return model, result


@pytest.mark.parametrize(
    "make_optimizer",
    [lambda: SGD(momentum=0.9, weight_decay=1e-4), lambda: LARS(trust_coefficient=0.01)],
    ids=["sgd", "lars"],
)
def test_survivors_of_a_compacted_ensemble_equal_the_uncompacted_run(make_optimizer):
    model, compacted = _run(make_optimizer(), compact=True)
    _, full = _run(make_optimizer(), compact=False)
    assert model.ensemble == 2  # the diverged member left the ensemble's arrays
    for table in ("history", "summary"):
        a, b = getattr(compacted, table), getattr(full, table)
        pd.testing.assert_frame_equal(a, b, rtol=1e-5)
    summary = compacted.summary.set_index("member")
    assert summary.loc[1, "diverged"] and not summary.loc[[0, 2], "diverged"].any()
    assert set(compacted.history.member) == {0, 2}  # rows keep the original indices


def test_a_hook_without_select_members_turns_compaction_off():
    """Hooks have no default: one that never declared how to follow a drop keeps every row."""
    from largebatch_sim.train import Hook

    class Watching(Hook):
        def after_step(self, step, model, loss) -> None:
            self.ensemble = model.ensemble

    hook = Watching()
    model, _ = _run(SGD(momentum=0.9), compact=True, hooks=[hook])
    assert model.ensemble == hook.ensemble == 3


def test_members_with_their_own_seeds_keep_their_batches_after_compaction():
    _, compacted = _run(SGD(momentum=0.9), compact=True, seeds=(3, 4, 5))
    _, full = _run(SGD(momentum=0.9), compact=False, seeds=(3, 4, 5))
    pd.testing.assert_frame_equal(compacted.history, full.history, rtol=1e-5)


def test_the_loss_trace_keeps_every_member_in_its_own_column():
    trace = LossTrace(STEPS, 3)
    _run(SGD(momentum=0.9), compact=True, hooks=[trace])
    losses = backend.to_host(trace.losses)
    assert np.isfinite(losses[:, [0, 2]]).all()  # the survivors, every step
    assert np.isnan(losses[10:, 1]).all()  # the dropped member stops being written


def test_a_chain_slices_its_state_and_per_member_hyperparameters():
    opt = SGD(momentum=[0.0, 0.5, 0.9], weight_decay=[0.0, 0.1, 0.2])
    params = {"w": np.ones((3, 2))}
    opt.step(params, {"w": np.ones((3, 2))}, np.array([0.1, 0.1, 0.1]))
    opt.select_members(np.array([0, 2]))
    assert list(opt.trace.momentum) == [0.0, 0.9]
    assert opt.velocity["w"].shape == (2, 2)
    assert list(opt.prev_lr) == [0.1, 0.1]


def test_a_rate_controller_drops_members_with_the_rest():
    from dataclasses import replace

    from largebatch_sim.runs import RunConfig, run_ensemble

    base = RunConfig(
        data="digits",
        model="mlp",
        batch=64,
        base_batch=64,
        epochs=4,
        evals=8,
        warmup="auto",
        warmup_epochs=2,
        schedule="cosine",
        auto_warmup_every=5,
    )
    configs = [replace(base, lr=lr) for lr in (0.05, 1e5, 0.1)]
    together = run_ensemble(configs, progress=False)
    assert together[1].diverged and not together[0].diverged and not together[2].diverged
    for config, member in zip([configs[0], configs[2]], [together[0], together[2]], strict=True):
        (alone,) = run_ensemble([config], progress=False)
        pd.testing.assert_frame_equal(member.history, alone.history, rtol=1e-5)
