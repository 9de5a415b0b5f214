"""The explorer in a real browser: ``lbsim explore`` started on a free port, Debian's chromium
headless driven by selenium. One server and one page for the module (a page load starts a
kernel: seconds); each test acts on its own pane. ``make test`` / ``.ci/run`` install chromium
and its driver where they are missing, so these run in CI; elsewhere they skip."""

from __future__ import annotations

import io
import shlex

import numpy as np
import pytest
import yaml
from PIL import Image
from selenium.webdriver.support.select import Select

from largebatch_sim import cli
from largebatch_sim.explore.state import ensemble_configs
from largebatch_sim.runs.config import RunConfig

from .browser import (
    browser_available,
    chromium,
    explorer_server,
    find,
    open_explorer,
    set_text,
    severe_console_errors,
    show_tab,
    wait_for,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not browser_available(), reason="needs /usr/bin/chromium and chromedriver"),
]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with explorer_server(cache) as address, chromium() as driver:
        open_explorer(driver, address)
        yield driver


def pixels(element) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB"))


def test_the_page_loads_with_no_console_errors(page):
    assert find(page, "img.lbsim-live-plot").size["width"] > 100
    assert severe_console_errors(page) == []


def test_moving_a_slider_redraws_the_quadratic_model(page):
    show_tab(page, "Quadratic model")
    plot = wait_for(lambda: find(page, "img.lbsim-nqm-plot"), 30, "the quadratic model's plot")
    before = pixels(plot)
    source = plot.get_attribute("src")
    assert "B = 64," in find(page, ".lbsim-nqm-numbers").text
    handle = find(page, ".lbsim-nqm-batch .noUi-handle")
    handle.click()
    for _ in range(4):  # four steps of the slider: batch 64 -> 1024
        handle.send_keys("\ue014")  # the right-arrow key
    numbers = find(page, ".lbsim-nqm-numbers")
    wait_for(lambda: "B = 1024," in numbers.text, 30, "the slider to reach batch 1024")
    wait_for(lambda: plot.get_attribute("src") != source, 30, "the plot to be redrawn")
    after = pixels(plot)
    assert before.shape == after.shape
    assert np.abs(before.astype(int) - after.astype(int)).sum() > 0


def test_bad_input_shows_a_message_in_the_page(page):
    show_tab(page, "Live training")
    set_text(page, ".lbsim-workers", "3")
    message = wait_for(lambda: find(page, ".lbsim-live-status .lbsim-error"), 20, "a message")
    assert "divisible by workers" in message.text
    assert find(page, ".lbsim-train").get_attribute("disabled")
    set_text(page, ".lbsim-workers", "1")
    wait_for(lambda: not find(page, ".lbsim-train").get_attribute("disabled"), 20, "Train again")


def copied(page, form: str) -> str:
    """The live pane's copy-as text in ``form`` (runconfig, command, papermill)."""
    return page.execute_script(
        f"return document.querySelector('.lbsim-live-copy .lbsim-copy-{form} textarea').value"
    )


def test_copy_as_config_parses_back_to_the_same_runconfigs(page):
    show_tab(page, "Live training")
    set_text(page, ".lbsim-batch", "64")
    set_text(page, ".lbsim-warmup-epochs", "1")
    set_text(page, ".lbsim-lrs", "0.05 0.1")
    expected = ensemble_configs(
        RunConfig(data="digits", model="cnn_bn", batch=64, epochs=5.0, evals=10, warmup_epochs=1.0),
        [0.05, 0.1],
    )

    def from_command() -> list[RunConfig]:
        args = cli.build_parser().parse_args(shlex.split(copied(page, "command"))[1:])
        return cli._configs(args)

    wait_for(lambda: from_command() == expected, 20, "the copy-as text of what was typed")
    namespace: dict = {}
    exec(copied(page, "runconfig"), namespace)
    assert namespace["configs"] == expected
    params = yaml.safe_load(copied(page, "papermill"))
    lrs, seeds = params.pop("lr"), params.pop("seed")
    assert ensemble_configs(RunConfig(**params), lrs, seeds) == expected


def test_a_live_run_finishes_and_shows_its_curves_then_the_results_browser_has_it(page):
    show_tab(page, "Live training")
    Select(find(page, ".lbsim-model select")).select_by_visible_text("mlp")  # seconds
    set_text(page, ".lbsim-epochs", "1")
    set_text(page, ".lbsim-lrs", "0.05 0.1")
    plot = find(page, "img.lbsim-live-plot")
    blank = pixels(plot)
    find(page, ".lbsim-train").click()
    outcome = wait_for(lambda: find(page, ".lbsim-outcome"), 120, "the live run to finish")
    assert outcome.text.startswith("finished")
    curves = pixels(find(page, "img.lbsim-live-plot"))
    assert curves.shape != blank.shape or np.abs(curves.astype(int) - blank.astype(int)).sum() > 0
    show_tab(page, "Results")
    message = wait_for(
        lambda: (
            "runs of" in find(page, ".lbsim-results-message").text
            and find(page, ".lbsim-results-message")
        ),
        60,
        "the results browser",
    )
    assert message.text.startswith("2 runs of 2")
    assert severe_console_errors(page) == []
