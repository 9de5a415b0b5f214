"""The live-training pane: a few learning rates trained as one ensemble on the CPU, with the
recipe of every cached run (``runs.recipe.run_ensemble``), the curves redrawn at each
evaluation while it trains (``LiveCurves``) and a stop button.

Training runs in a thread, so the page stays responsive (the stop button is heard) while the
ensemble trains; the kernel sends each redraw to the page as it is drawn. A run that finishes is
stored in the result cache (the same recipe and key as a sweep's run), so it appears in the
results browser; a stopped run is not (it is shorter than its config says).
"""

from __future__ import annotations

import threading
import time
from html import escape
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..data import DATASETS
from ..nn.models import MODELS
from ..runs.cache import ResultCache
from ..runs.config import OPTIMIZERS, SCALING_RULES, SCHEDULES, WARMUPS, RunConfig
from ..runs.recipe import run_ensemble
from ..validate import ParameterError
from . import figures, state
from .copy_as import CopyAs, error_html
from .live_curves import LiveCurves

# cnn_bn on digits, 5 epochs, 8 rates a factor 2 apart: the first curves within seconds on two
# cores (BENCHMARKS.md), and the largest rate (0.8, scaled x8 to batch 256) diverges, so both
# outcomes show.
DEFAULT_LRS = "0.00625 0.0125 0.025 0.05 0.1 0.2 0.4 0.8"
DEFAULTS = RunConfig(data="digits", model="cnn_bn", batch=256, epochs=5.0, evals=10)


def parse_lrs(text: str) -> list[float]:
    """Learning rates typed as numbers separated by spaces or commas."""
    words = text.replace(",", " ").split()
    try:
        lrs = [float(w) for w in words]
    except ValueError:
        raise ParameterError("learning rates", text, "numbers separated by spaces") from None
    if not lrs:
        raise ParameterError("learning rates", text, "at least one number")
    return lrs


class LivePane:
    """``widget``: the controls, Train / Stop, the status line, the curves, the copy-as box."""

    def __init__(self, cache: ResultCache | None = None) -> None:
        self.cache = cache
        d = DEFAULTS
        wide = {"style": {"description_width": "9em"}}
        self.controls: dict[str, widgets.Widget] = {
            "data": widgets.Dropdown(options=DATASETS, value=d.data, description="data", **wide),
            "model": widgets.Dropdown(options=MODELS, value=d.model, description="model", **wide),
            "batch": widgets.IntText(value=d.batch, description="batch B", **wide),
            "workers": widgets.IntText(value=d.workers, description="workers k", **wide),
            "base_batch": widgets.IntText(value=d.base_batch, description="base batch B0", **wide),
            "scaling": widgets.Dropdown(
                options=SCALING_RULES, value=d.scaling, description="scaling rule", **wide
            ),
            "schedule": widgets.Dropdown(
                options=SCHEDULES, value=d.schedule, description="decay", **wide
            ),
            "warmup": widgets.Dropdown(
                options=WARMUPS, value=d.warmup, description="warmup", **wide
            ),
            "warmup_epochs": widgets.FloatText(
                value=d.warmup_epochs, description="warmup epochs", **wide
            ),
            "optimizer": widgets.Dropdown(
                options=OPTIMIZERS, value=d.optimizer, description="optimizer", **wide
            ),
            "momentum": widgets.FloatText(value=d.momentum, description="momentum", **wide),
            "weight_decay": widgets.FloatText(
                value=d.weight_decay, description="weight decay", **wide
            ),
            "trust_coefficient": widgets.FloatText(
                value=d.trust_coefficient, description="LARS eta", **wide
            ),
            "epochs": widgets.FloatText(value=d.epochs, description="epochs", **wide),
            "evals": widgets.IntText(value=d.evals, description="evaluations", **wide),
        }
        self.lrs = widgets.Text(
            value=DEFAULT_LRS, description="learning rates", continuous_update=False, **wide
        )
        self.lrs.layout.width = "36em"
        for name, control in self.controls.items():
            control.add_class("lbsim-" + name.replace("_", "-"))
        self.lrs.add_class("lbsim-lrs")
        self.train_button = widgets.Button(description="Train", button_style="primary")
        self.stop_button = widgets.Button(description="Stop", disabled=True)
        self.train_button.add_class("lbsim-train")
        self.stop_button.add_class("lbsim-stop")
        self.status = widgets.HTML()
        self.status.add_class("lbsim-live-status")
        self.plot = widgets.Image(format="png", value=figures.message_figure("press Train"))
        self.plot.add_class("lbsim-live-plot")
        self.copy_as = CopyAs("live")
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

        for control in [*self.controls.values(), self.lrs]:
            control.observe(lambda _: self.refresh_state(), names="value")
        self.train_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop.set())
        items = [*self.controls.values()]
        form = widgets.GridBox(items, layout=widgets.Layout(grid_template_columns="repeat(3, 1fr)"))
        buttons = widgets.HBox([self.lrs, self.train_button, self.stop_button])
        self.outcomes = widgets.HTML()
        self.outcomes.add_class("lbsim-live-outcomes")
        self.widget = widgets.VBox(
            [
                form,
                buttons,
                self.status,
                widgets.HBox([self.plot, self.outcomes]),
                self.copy_as.widget,
            ]
        )
        self.refresh_state()

    def configs(self) -> list[RunConfig]:
        """The ensemble the controls describe (``ParameterError`` for bad input)."""
        values = {name: control.value for name, control in self.controls.items()}
        return state.ensemble_configs(RunConfig(**values), parse_lrs(self.lrs.value))

    def refresh_state(self) -> list[RunConfig] | None:
        """Check the controls; show their configs as copyable text, or what is wrong."""
        try:
            configs = self.configs()
        except ValueError as error:  # ParameterError: a message in the page
            self.copy_as.show_error(str(error))
            self.status.value = error_html(str(error))
            self.train_button.disabled = True
            return None
        self.copy_as.show(configs)
        if self.thread is None or not self.thread.is_alive():
            self.train_button.disabled = False
            if "lbsim-error" in self.status.value:
                self.status.value = ""
        return configs

    def start(self) -> None:
        configs = self.refresh_state()
        if configs is None or (self.thread is not None and self.thread.is_alive()):
            return
        self.stop.clear()
        self.train_button.disabled = True
        self.stop_button.disabled = False
        self.status.value = f"training {len(configs)} rates as one ensemble&hellip;"
        self.outcomes.value = ""
        self.thread = threading.Thread(target=self.train, args=(configs,), daemon=True)
        self.thread.start()

    def train(self, configs: list[RunConfig]) -> None:
        """The training thread: run the ensemble, redraw at evaluations, report the outcome."""
        lrs = [c.lr for c in configs]
        started = time.perf_counter()
        first_curves: list[float] = []

        def redraw(history: pd.DataFrame) -> None:
            self.plot.value = figures.live_curves(history, lrs)
            if not first_curves:
                first_curves.append(time.perf_counter() - started)
                self.status.value = f"training&hellip; first curves after {first_curves[0]:.1f} s"

        hook = LiveCurves(redraw, self.stop)
        try:
            results = run_ensemble(configs, progress=False, hooks=[hook])
        except Exception as error:  # noqa: BLE001 -- whatever went wrong is shown in the page
            self.status.value = error_html(f"training failed: {type(error).__name__}: {error}")
            self._finish()
            return
        elapsed = time.perf_counter() - started
        stopped = self.stop.is_set()
        status = {m: _status(r.summary) for m, r in enumerate(results)}
        self.plot.value = figures.live_curves(hook.frame(), lrs, status)
        if not stopped:
            cache = self.cache or ResultCache()
            for result in results:
                cache.store(result)
        self.status.value, self.outcomes.value = _outcome(results, stopped, elapsed, first_curves)
        self._finish()

    def _finish(self) -> None:
        self.stop_button.disabled = True
        self.train_button.disabled = False


def _status(summary: dict[str, Any]) -> str:
    if summary["diverged"]:
        return "diverged"
    if summary["collapsed"]:
        return "collapsed (stuck at chance)"
    return "trained"


def _outcome(results: list, stopped: bool, elapsed: float, first: list[float]) -> tuple[str, str]:
    """The status line after a run, and a table of every member's outcome."""
    head = "stopped" if stopped else "finished"
    first_text = f", first curves after {first[0]:.1f} s" if first else ""
    cached = "" if stopped else "; stored in the result cache"
    line = f'<span class="lbsim-outcome">{head} in {elapsed:.1f} s{first_text}{cached}</span>'
    rows = "".join(
        f"<tr><td>{r.config.lr:g}</td><td>{escape(_status(r.summary))}</td>"
        f"<td>{_pct(r.summary.get('final_test_acc'))}</td></tr>"
        for r in results
    )
    table = "<table><tr><th>lr</th><th>outcome</th><th>test accuracy</th></tr>" + rows + "</table>"
    return line, table


def _pct(value: Any) -> str:
    return "&ndash;" if value is None or not np.isfinite(value) else f"{value:.1%}"
