"""A scalar hyperparameter may differ per member: a sweep over it is one ensemble, and each
member equals the same run done alone."""

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from largebatch_sim.optim import LAMB, LARS, SGD, AdamW
from largebatch_sim.runs import RunConfig, run_ensemble
from largebatch_sim.validate import ParameterError

TINY = RunConfig(
    data="digits", model="mlp", batch=64, lr=0.05, base_batch=64, epochs=1, evals=2, seed=0
)
SWEEPS = {
    "momentum": (replace(TINY, optimizer="sgd"), (0.0, 0.5, 0.9)),
    "weight_decay": (replace(TINY, optimizer="sgd"), (0.0, 1e-3, 1e-2)),
    "trust_coefficient": (replace(TINY, optimizer="lars", lr=2.0), (0.001, 0.005, 0.02)),
    "warmup_epochs": (replace(TINY, warmup="gradual", lr=0.02, batch=256), (0.0, 0.25, 1.0)),
    "adam_b1": (replace(TINY, optimizer="lamb", lr=0.01), (0.0, 0.8, 0.95)),
    "adam_b2": (replace(TINY, optimizer="adamw", lr=0.003), (0.9, 0.99, 0.999)),
}


@pytest.mark.parametrize("field", sorted(SWEEPS))
def test_each_member_of_a_sweep_equals_its_run_alone(field):
    base, values = SWEEPS[field]
    configs = [replace(base, **{field: v}) for v in values]
    together = run_ensemble(configs, progress=False)
    for config, member in zip(configs, together, strict=True):
        (alone,) = run_ensemble([config], progress=False)
        pd.testing.assert_frame_equal(member.history, alone.history, rtol=1e-5)
    finals = [r.summary["final_train_loss"] for r in together]
    assert len(set(np.round(finals, 6))) == len(values)  # the values did reach the members


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: SGD(momentum=[0.5, 1.0]), "momentum[1]"),
        (lambda: SGD(weight_decay=[0.0, -1.0]), "weight_decay[1]"),
        (lambda: LARS(trust_coefficient=[0.0]), "trust_coefficient[0]"),
        (lambda: LAMB(b1=[[0.9]]), "b1"),
        (lambda: AdamW(b2=[]), "b2"),
    ],
)
def test_a_bad_per_member_value_is_named(make, name):
    with pytest.raises(ParameterError, match=re.escape(name)):
        make()
