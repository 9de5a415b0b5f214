import re
from pathlib import Path

import pytest

from largebatch_sim import cli
from largebatch_sim.cli import build_parser, main

SMALL = ["train", "--data", "digits", "--model", "mlp", "--batch", "64", "--epochs", "1"]
SMALL += ["--evals", "1", "--quiet"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """The CLI caches runs by default: each test gets its own cache, never the user's."""
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if anything is trained."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(cli, "sweep", refuse)
    monkeypatch.setattr(cli, "run_ensemble", refuse)


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    for option in ("--lr", "--warmup", "--workers", "--optimizer", "--trust-coefficient"):
        assert option in text


def test_train_prints_a_summary(capsys):
    argv = [
        "train",
        "--data",
        "digits",
        "--model",
        "mlp",
        "--batch",
        "128",
        "--lr",
        "0.05",
        "0.1",
        "--epochs",
        "1",
        "--evals",
        "1",
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "final_test_acc" in out and "0.05" in out and "0.1" in out


def test_bad_value_is_a_clear_error(capsys):
    assert main(["train", "--lr", "-1", "--quiet"]) == 2
    assert "lr must be" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--warmup", "slow"])


def test_help_shows_each_default_once(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None) (default" not in text and ") (default: None)" not in text


def test_train_says_the_rate_it_trains_with_before_training(capsys):
    assert main([*SMALL, "--lr", "0.02", "--warmup", "gradual", "--warmup-epochs", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "lr 0.02 at batch 32, linear scaling -> 0.04 at batch 64" in out
    assert "gradual warmup over 0.5 epochs" in out


def test_a_diverged_member_is_named_with_its_step(capsys):
    assert main([*SMALL, "--lr", "0.02", "1e4", "--scaling", "none"]) == 0
    out = capsys.readouterr().out
    assert "lr 10000, seed 0: diverged at step" in out
    assert "lr 0.02, seed 0: diverged" not in out


def test_runs_are_cached_by_default_and_no_cache_trains_again(capsys, monkeypatch):
    assert main([*SMALL, "--lr", "0.05"]) == 0
    calls = []
    monkeypatch.setattr(cli, "run_ensemble", lambda *a, **k: calls.append(1) or [])
    assert main([*SMALL, "--lr", "0.05"]) == 0  # read back from the cache: nothing trained
    assert main(["cache", "list"]) == 0
    assert "True" in capsys.readouterr().out  # the current code version's runs are listed
    assert calls == []
    main([*SMALL, "--lr", "0.05", "--no-cache"])
    assert calls == [1]
    assert main(["cache", "prune", "--older-than", "0"]) == 0
    assert "removed 1 cached runs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "parameter"),
    [
        (["--history", "/no/such/dir/h.csv"], "--history"),
        (["--divergence-factor", "nan"], "divergence_factor"),
        (["--milestones", "0.7", "0.3"], "milestones"),
        (["--batch", "100", "--workers", "3"], "batch"),
        (["--noise-chunks", "1"], "noise_chunks"),
        (["--cache", str(Path(__file__).parents[1] / "pyproject.toml" / "c")], "--cache"),
    ],
)
def test_a_bad_argument_is_one_line_with_status_2_before_training(
    argv, parameter, capsys, no_training
):
    assert main([*SMALL, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lbsim: error: " + parameter) and err.count("\n") == 1


def test_a_config_file_sets_the_options_and_flags_override_it(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text('data = "digits"\nmodel = "mlp"\nbatch = 64\nlr = [0.02, 0.04]\nepochs = 1\n')
    assert main(["train", "--config", str(config), "--batch", "128", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "mlp on digits, batch 128" in out and "lr 0.04 at batch 32" in out


@pytest.mark.parametrize(
    ("text", "suffix", "message"),
    [
        ("batch = 64\nbatchsize = 3\n", ".toml", r"config must be a file of RunConfig fields"),
        ("batch = [", ".toml", "config must be a readable .toml file"),
        ('{"momentum": 1.5}', ".json", r"momentum must be a finite number in \[0, 1\)"),
        ("batch: 64", ".yaml", r"config must be a \.toml or \.json file"),
    ],
)
def test_a_bad_config_file_is_one_line_before_training(
    text, suffix, message, tmp_path, capsys, no_training
):
    config = tmp_path / f"run{suffix}"
    config.write_text(text)
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1
