import pytest

from largebatch_sim.cli import build_parser, main


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
