"""Every RunConfig field and every ``lbsim train`` flag refuses a bad value before any compute,
with a message that names it (the CLI: one line, status 2). A field without a row fails the
coverage test, so a new field cannot arrive unchecked."""

import dataclasses
import math

import pytest

from largebatch_sim import cli
from largebatch_sim.runs import RunConfig
from largebatch_sim.validate import ParameterError

# field -> a bad Python value for RunConfig (each refused by its own check or a relation)
BAD_FIELDS = {
    "data": "imagenet", "data_size": 5000, "fresh_samples": "yes", "model": "vgg", "batch": 0,
    "workers": 0, "lr": -1.0, "base_batch": 0, "scaling": "cubic", "schedule": "exp",
    "milestones": (1.5,), "warmup": "slow", "warmup_epochs": -1.0, "warmup_start": math.nan,
    "epochs": 0.0, "optimizer": "adam", "momentum": 1.0, "nesterov": "no", "weight_decay": -1.0,
    "no_weight_decay_on": ("layer",), "lr_in_momentum": "yes", "trust_coefficient": math.nan,
    "lars_denominator": "l2", "lars_clip": 1, "lars_zero_norm_ratio": 0.5,
    "no_adaptation_on": "norm", "adam_b1": 1.0, "adam_b2": -0.1, "adam_eps": -1.0,
    "momentum_correction": "no", "loss_scale": 0.0, "loss_normalizer": "sum",
    "worker_shuffle": "none", "width": 0.0, "dropout": 1.0, "zero_init_last_bn": "no",
    "seed": -1, "data_seed": 1.5, "norm_ratio_steps": (-1,), "noise_chunks": 1,
    "noise_every": 0, "trust_ratio_every": -1, "evals": 0, "precise_bn_examples": -5,
    "trace_loss": "yes", "divergence_factor": math.nan, "dtype": "float16",
    "augment_copies": 0, "augment_strength": -0.5, "auto_warmup_every": -1,
}  # fmt: skip

# field -> a bad command-line value for its flag ("" for a flag that takes none: then
# ``--flag=x``, which argparse refuses)
BAD_FLAGS = {name: str(value) for name, value in BAD_FIELDS.items()}
BAD_FLAGS |= {"milestones": "1.5", "no_weight_decay_on": "layer", "no_adaptation_on": "layer"}
BAD_FLAGS |= {"norm_ratio_steps": "-1", "data_seed": "1.5", "seed": "-1", "lr": "-1"}
FLAGLESS = {"fresh_samples", "nesterov", "lr_in_momentum", "lars_clip", "momentum_correction",
            "zero_init_last_bn", "trace_loss"}  # fmt: skip
BAD_FLAGS |= {name: "" for name in FLAGLESS}


def test_every_field_and_flag_has_a_row():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert set(BAD_FIELDS) == fields == set(BAD_FLAGS)


@pytest.mark.parametrize("field", sorted(BAD_FIELDS))
def test_a_bad_field_is_refused_naming_it(field):
    with pytest.raises(ParameterError) as error:
        RunConfig(**{field: BAD_FIELDS[field]})
    assert field in str(error.value)


@pytest.mark.parametrize("field", sorted(BAD_FLAGS))
def test_a_bad_flag_is_one_line_with_status_2_before_training(field, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path))
    for name in ("sweep", "run_ensemble"):
        monkeypatch.setattr(cli, name, lambda *a, **k: pytest.fail("training started"))
    flag = "--" + field.replace("_", "-")
    value = BAD_FLAGS[field]
    argv = ["train", f"{flag}=x" if field in FLAGLESS else flag, *([value] if value else [])]
    try:
        status = cli.main(argv)
    except SystemExit as exit_:  # argparse refuses before RunConfig sees it
        status = exit_.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1, err
    assert field in err or flag in err, err
