"""``lbsim sweep FILE``: the sweep file's format, its errors, and the command."""

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from largebatch_sim.cli import main
from largebatch_sim.runs import RunConfig
from largebatch_sim.runs.sweep_file import read_sweep_file
from largebatch_sim.validate import ParameterError

SMALL = """
[common]
data = "digits"
model = "mlp"
epochs = 1
evals = 1
base_batch = 64

[[grid]]
batch = [64, 128]
lr = [0.05, 0.1]
milestones = [[0.5], [0.25, 0.75]]

[[run]]
batch = 256
lr = 0.2
no_weight_decay_on = ["bias"]
"""


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path / "cache"))


def write(tmp_path, text, name="sweep.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_sweep_file_gives_its_grid_then_its_runs(tmp_path):
    configs = read_sweep_file(write(tmp_path, SMALL))
    base = RunConfig(data="digits", model="mlp", epochs=1, evals=1, base_batch=64)
    assert len(configs) == 2 * 2 * 2 + 1
    assert configs[0] == RunConfig(
        **{**base.to_dict(), "batch": 64, "lr": 0.05, "milestones": (0.5,)}
    )
    assert {c.milestones for c in configs[:8]} == {(0.5,), (0.25, 0.75)}
    assert configs[-1].batch == 256 and configs[-1].no_weight_decay_on == ("bias",)
    assert configs[-1].milestones == base.milestones


def test_a_flat_list_field_in_a_grid_is_one_value(tmp_path):
    text = '[[grid]]\ndata = "digits"\nlr = [0.1, 0.2]\nmilestones = [0.5]\n'
    configs = read_sweep_file(write(tmp_path, text))
    assert [c.milestones for c in configs] == [(0.5,), (0.5,)]


@pytest.mark.parametrize(
    "text, named",
    [
        ("[[grid]]\nbatchsize = [64]\n", "grid[0].batchsize"),
        ("[common]\nlearning_rate = 0.1\n[[run]]\nlr = 0.1\n", "common.learning_rate"),
        ('[[grid]]\nbatch = ["big"]\n', "batch"),
        ('[[run]]\noptimizer = "adam"\n', "optimizer"),
        ("[[grid]]\nlr = []\n", "grid[0].lr"),
        ("[experiment]\nlr = 0.1\n", "experiment"),
        ("[common]\nlr = 0.1\n", "sweep file"),
        ("grid = 3\n", "grid"),
        ("[[grid]\n", "sweep file"),
    ],
)
def test_a_bad_sweep_file_fails_naming_the_field(tmp_path, text, named):
    with pytest.raises(ParameterError) as error:
        read_sweep_file(write(tmp_path, text))
    assert error.value.parameter == named


def test_a_sweep_file_must_be_toml(tmp_path):
    with pytest.raises(ParameterError):
        read_sweep_file(write(tmp_path, SMALL, name="sweep.yaml"))
    with pytest.raises(ParameterError):
        read_sweep_file(tmp_path / "missing.toml")


def test_lbsim_sweep_trains_in_process_and_writes_the_table(tmp_path, capsys):
    out = tmp_path / "summary.csv"
    assert main(["sweep", str(write(tmp_path, SMALL)), "--quiet", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 9 and "final_test_acc" in table
    assert "milestones" in capsys.readouterr().out  # the fields that vary are shown


def test_lbsim_sweep_on_local_processes_gives_the_in_process_table(tmp_path):
    text = SMALL.split("[[run]]")[0]
    here, spread = tmp_path / "here.csv", tmp_path / "spread.csv"
    with threadpool_limits(1):  # as the workers: the last bits of a sum depend on the threads
        assert main(["sweep", str(write(tmp_path, text)), "--quiet", "--out", str(here)]) == 0
    argv = ["sweep", str(write(tmp_path, text)), "--quiet", "--workers", "1"]
    assert main([*argv, "--cache", str(tmp_path / "other"), "--out", str(spread)]) == 0
    assert spread.read_bytes() == here.read_bytes()


@pytest.mark.parametrize(
    "extra",
    [["--workers", "0"], ["--workers", "100000"], ["--scheduler", "nowhere"]],
)
def test_lbsim_sweep_refuses_bad_executors_on_one_line(tmp_path, capsys, extra):
    assert main(["sweep", str(write(tmp_path, SMALL)), "--quiet", *extra]) == 2
    assert capsys.readouterr().err.startswith("lbsim: error:")


def test_lbsim_sweep_takes_workers_or_a_scheduler_not_both(tmp_path):
    argv = ["sweep", str(write(tmp_path, SMALL)), "--workers", "2", "--scheduler", "tcp://h:1"]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
