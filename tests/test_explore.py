"""The explorer's panes without a browser: copy-as round trips, the live-training hook (curves,
stop, divergence), bad input shown as a message, the results browser's selections, the
quadratic model's limits. The page itself is tested in Chromium (test_explore_browser.py)."""

from __future__ import annotations

import dataclasses
import shlex
import threading

import pytest
import yaml

from largebatch_sim import cli
from largebatch_sim.explore import explorer
from largebatch_sim.explore.live import LivePane
from largebatch_sim.explore.live_curves import LiveCurves
from largebatch_sim.explore.nqm_pane import NQMPane
from largebatch_sim.explore.results import ALL, ResultsPane, selection_configs
from largebatch_sim.explore.server import kernel_environment, voila_command, write_notebook
from largebatch_sim.explore.state import as_command, as_papermill, as_python, ensemble_configs
from largebatch_sim.runs import ResultCache, RunConfig, run_ensemble
from largebatch_sim.validate import ParameterError

TINY = RunConfig(data="digits", model="mlp", batch=128, epochs=1.0, evals=4, precise_bn_examples=0)


def from_python(text: str) -> list[RunConfig]:
    namespace: dict = {}
    exec(text, namespace)
    return namespace["configs"]


def from_command(text: str) -> list[RunConfig]:
    words = shlex.split(text)
    assert words[:2] == ["lbsim", "train"]
    return cli._configs(cli.build_parser().parse_args(words[1:]))


def from_papermill(text: str) -> list[RunConfig]:
    params = yaml.safe_load(text)
    lrs, seeds = params.pop("lr"), params.pop("seed")
    return ensemble_configs(RunConfig(**params), lrs, seeds)


@pytest.mark.parametrize(
    "parse, form",
    [(from_python, as_python), (from_command, as_command), (from_papermill, as_papermill)],
)
def test_every_copy_as_text_parses_back_to_the_same_runconfigs(parse, form):
    common = RunConfig(
        data="mnist1d",
        data_size=4000,
        model="alexnet_bn",
        batch=512,
        workers=4,
        optimizer="lars",
        nesterov=True,
        lr_in_momentum=False,
        warmup="gradual",
        warmup_epochs=2.5,
        warmup_start=0.01,
        milestones=(0.3, 0.6, 0.9),
        no_weight_decay_on=("bias", "norm"),
        norm_ratio_steps=(0, 10),
        momentum_correction=False,
    )
    configs = ensemble_configs(common, [0.4, 0.1, 1.6], [0, 3])
    assert parse(form(configs)) == configs
    assert parse(form(ensemble_configs(RunConfig(), [0.1]))) == [RunConfig()]


def test_copy_as_refuses_runs_that_are_not_one_ensemble():
    mixed = [RunConfig(batch=64), RunConfig(batch=128)]
    with pytest.raises(ParameterError, match="one ensemble"):
        as_command(mixed)


def test_the_live_hook_sees_every_evaluation_and_a_diverged_member_as_nan():
    updates = []
    hook = LiveCurves(updates.append, min_interval=0.0)
    stable, diverging = run_ensemble(
        ensemble_configs(TINY, [0.05, 50.0]), progress=False, hooks=[hook]
    )
    frame = hook.frame()
    loss = frame[frame.metric == "train_loss"].pivot(index="step", columns="member", values="value")
    assert len(updates) == len(loss) > 1  # one redraw per evaluation
    assert not stable.diverged and loss[0].notna().all()
    assert diverging.diverged and loss[1].isna().any()


def test_the_stop_request_ends_training_at_the_next_evaluation():
    stop = threading.Event()
    full = LiveCurves(lambda _: None)
    run_ensemble(ensemble_configs(TINY, [0.05]), progress=False, hooks=[full])
    stop.set()
    stopped = LiveCurves(lambda _: None, stop)
    run_ensemble(ensemble_configs(TINY, [0.05]), progress=False, hooks=[stopped])
    assert full.frame().step.nunique() > 1
    assert stopped.frame().step.nunique() == 1


@pytest.mark.parametrize(
    "field, value, message",
    [("workers", 3, "divisible by workers"), ("epochs", 0.0, "epochs must be")],
)
def test_bad_input_in_the_live_pane_is_a_message_and_blocks_training(
    tmp_path, field, value, message
):
    pane = LivePane(ResultCache(tmp_path))
    assert "lbsim-error" not in pane.status.value and not pane.train_button.disabled
    pane.controls[field].value = value
    assert message in pane.status.value and "lbsim-error" in pane.status.value
    assert pane.train_button.disabled
    assert message in pane.copy_as.message.value


def test_learning_rates_that_are_not_numbers_are_a_message(tmp_path):
    pane = LivePane(ResultCache(tmp_path))
    pane.lrs.value = "0.1 fast"
    assert "learning rates must be numbers" in pane.status.value


def test_a_finished_live_run_is_cached_and_a_stopped_one_is_not(tmp_path):
    cache = ResultCache(tmp_path)
    pane = LivePane(cache)
    for name, value in dataclasses.asdict(TINY).items():
        if name in pane.controls:
            pane.controls[name].value = value
    pane.lrs.value = "0.05 50"
    pane.stop.set()
    pane.train(pane.configs())
    assert "stopped" in pane.status.value and not list(tmp_path.rglob("*.pkl"))
    pane.stop.clear()
    pane.train(pane.configs())
    assert "finished" in pane.status.value and "diverged" in pane.outcomes.value
    assert [cache.load(c) is not None for c in pane.configs()] == [True, True]


@pytest.fixture(scope="module")
def cache_with_runs(tmp_path_factory):
    cache = ResultCache(tmp_path_factory.mktemp("runs"))
    for batch in (64, 128):
        for result in run_ensemble(
            ensemble_configs(dataclasses.replace(TINY, batch=batch), [0.05, 0.2]), progress=False
        ):
            cache.store(result)
    return cache


def test_the_results_browser_shows_every_cached_run_and_says_when_none_match(cache_with_runs):
    pane = ResultsPane(cache_with_runs)
    pane.refresh_versions()
    assert pane.message.value.startswith("4 runs of 4")
    assert pane.plot.value
    pane.filters["model"].value = "mlp"
    pane.filters["epochs"].value = 1.0
    assert "4 runs" in pane.message.value
    pane.x.value = "batch"
    pane.facet.value = "lr"
    assert "lbsim-error" not in pane.message.value
    pane.filters["data"].options = [ALL, "digits", "mnist1d"]  # a value no run has
    pane.filters["data"].value = "mnist1d"
    assert "no run matches" in pane.message.value


def test_the_results_browser_copies_a_selection_of_one_setup_only(cache_with_runs):
    pane = ResultsPane(cache_with_runs)
    pane.refresh_versions()
    frame = pane.frame
    one = selection_configs(frame[frame.batch == 64])
    assert one == ensemble_configs(dataclasses.replace(TINY, batch=64), [0.05, 0.2])
    with pytest.raises(ParameterError, match="one setup"):
        selection_configs(frame)


def test_the_quadratic_model_draws_its_limits_and_says_when_a_rate_diverges():
    pane = NQMPane()
    # SGD on h_i = 1 / i: the stability limit is 2 / max h = 2
    assert "= <b>2</b>" in pane.numbers.value and "steps" in pane.numbers.value
    critical = float(pane.numbers.value.split("critical batch")[1].split("<b>")[1].split("<")[0])
    assert 1 < critical < 2**16
    pane.lr.value = 3.0
    assert "diverges" in pane.numbers.value
    pane.beta.value = 0.9  # momentum raises the limit to 2 (1 + beta) = 3.8
    assert "diverges" not in pane.numbers.value and "= <b>3.8</b>" in pane.numbers.value


def test_the_explorer_has_three_panes():
    tabs = explorer()
    assert list(tabs.titles) == ["Live training", "Quadratic model", "Results"]


def test_the_server_serves_this_package_with_its_template(tmp_path):
    notebook = write_notebook(tmp_path)
    assert "explorer()" in notebook.read_text()
    command = voila_command(notebook, 8999, "127.0.0.1")
    assert "--template=lbsim" in command and "--port=8999" in command
    env = kernel_environment()
    assert env["PYTHONPATH"].split(":")[0] == str(cli.__file__).rsplit("/largebatch_sim/", 1)[0]
    assert env["JUPYTER_PATH"].split(":")[0].endswith("explore/templates")


def test_a_bad_port_is_one_line_and_status_2(capsys):
    assert cli.main(["explore", "--port", "0"]) == 2
    assert "port must be an integer >= 1" in capsys.readouterr().err
