"""The results browser: every run in the result cache as one table (``runs.results_frame``),
with filters, a choice of x, y, colour and facets, and plots in the project's style. Nothing is
recomputed.

The runs of the current code version are shown by default (those a sweep would read); older
versions can be chosen. Building the table from a few hundred pickles takes seconds, so it is
kept beside the cache (``explore/`` under ``$LBSIM_CACHE``), keyed by the version's files and
their times, and rebuilt only when a run is added or changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import pickle
from html import escape
from pathlib import Path

import ipywidgets as widgets
import pandas as pd

from ..atomic import atomic_write
from ..runs.cache import ResultCache, code_version
from ..runs.config import RunConfig, group_key
from ..runs.sweeps import results_frame
from ..validate import ParameterError
from . import figures, state
from .copy_as import CopyAs, error_html

FILTERS = ("data", "model", "optimizer", "scaling", "warmup", "schedule", "workers", "epochs")
X_CHOICES = (
    "lr",
    "batch",
    "workers",
    "warmup_epochs",
    "epochs",
    "momentum",
    "weight_decay",
    "seed",
)
ALL = "(all)"
NONE = "(none)"
CONFIG_FIELDS = [f.name for f in dataclasses.fields(RunConfig)]


def versions(cache: ResultCache) -> list[tuple[str, str]]:
    """The code versions with runs in the cache as (label, version), the label with the number
    of runs: the current one first, then the others from the one with the newest run down."""
    runs = {
        folder.name: [f.stat().st_mtime for f in folder.glob("*.pkl")]
        for folder in cache.root.glob("*")
        if folder.is_dir()
    }
    runs = {version: times for version, times in runs.items() if times}
    current = code_version()
    order = ([current] if current in runs else []) + sorted(
        set(runs) - {current}, key=lambda v: max(runs[v]), reverse=True
    )
    return [(f"{v} ({'current, ' if v == current else ''}{len(runs[v])} runs)", v) for v in order]


def load_frame(cache: ResultCache, version: str) -> pd.DataFrame:
    """Every run of ``version`` as one row (its config and summary), plus ``status``."""
    files = sorted((cache.root / version).glob("*.pkl"))
    if not files:
        return pd.DataFrame()
    stamp = "".join(f"{f.name}{f.stat().st_mtime_ns}" for f in files)
    memo = (
        cache.root.parent
        / "explore"
        / f"{version}-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.pkl"
    )
    if memo.exists():
        return pd.read_pickle(memo)
    results = []
    for path in files:
        with open(path, "rb") as f:
            results.append(pickle.load(f))
    frame = results_frame(results)
    frame["status"] = "trained"
    frame.loc[frame.collapsed.astype(bool), "status"] = "collapsed (stuck at chance)"
    frame.loc[frame.diverged.astype(bool), "status"] = "diverged"
    for old in Path(memo.parent).glob(f"{version}-*.pkl"):
        old.unlink()
    atomic_write(memo, lambda f: frame.to_pickle(f))
    return frame


def select(frame: pd.DataFrame, filters: dict[str, object]) -> pd.DataFrame:
    """The rows whose columns equal every filter's value (``ALL`` keeps a column open)."""
    keep = pd.Series(True, index=frame.index)
    for column, value in filters.items():
        if value != ALL:
            keep &= frame[column] == value
    return frame[keep]


def _field(value: object) -> object:
    """A config field read back from the table: pandas turns a None among numbers into NaN
    and an int among NaNs into a float."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def selection_configs(rows: pd.DataFrame) -> list[RunConfig]:
    """The ensemble that covers the selected runs (every lr and seed among them), when they
    share everything else (else ``ParameterError``)."""
    configs = [
        RunConfig(**{k: _field(row[k]) for k in CONFIG_FIELDS})
        for row in rows[CONFIG_FIELDS].astype(object).to_dict("records")
    ]
    setups = {group_key(c) for c in configs}
    if len(setups) != 1:
        raise ParameterError(
            "selection", f"{len(setups)} setups", "one setup (filter until only lr and seed vary)"
        )
    lrs = sorted({c.lr for c in configs})
    seeds = sorted({c.seed for c in configs})
    return state.ensemble_configs(configs[0], lrs, seeds)


class ResultsPane:
    """``widget``: version, filters, x / y / colour / facet choices, the plot, a count, copy-as."""

    def __init__(self, cache: ResultCache | None = None) -> None:
        self.cache = cache or ResultCache()
        self.frame = pd.DataFrame()
        style = {"style": {"description_width": "7em"}}
        self.version = widgets.Dropdown(description="code version", **style)
        self.filters = {name: widgets.Dropdown(description=name, **style) for name in FILTERS}
        self.x = widgets.Dropdown(options=X_CHOICES, value="lr", description="x", **style)
        self.y = widgets.Dropdown(description="y", **style)
        self.hue = widgets.Dropdown(description="colour", **style)
        self.facet = widgets.Dropdown(description="facets", **style)
        for name, control in [
            ("version", self.version),
            ("x", self.x),
            ("y", self.y),
            ("hue", self.hue),
            ("facet", self.facet),
            *self.filters.items(),
        ]:
            control.add_class(f"lbsim-results-{name}")
        self.message = widgets.HTML()
        self.message.add_class("lbsim-results-message")
        self.plot = widgets.Image(format="png")
        self.plot.add_class("lbsim-results-plot")
        self.copy_as = CopyAs("results")
        self.query = widgets.Textarea(layout=widgets.Layout(width="100%", height="5em"))
        grid = widgets.GridBox(
            [self.version, *self.filters.values(), self.x, self.y, self.hue, self.facet],
            layout=widgets.Layout(grid_template_columns="repeat(4, 1fr)"),
        )
        self.widget = widgets.VBox(
            [
                grid,
                self.message,
                self.plot,
                widgets.HTML("<b>The selection in pandas</b>"),
                self.query,
                self.copy_as.widget,
            ]
        )
        self._quiet = False
        self.version.observe(lambda _: self.load(), names="value")
        for control in [*self.filters.values(), self.x, self.y, self.hue, self.facet]:
            control.observe(lambda _: self.redraw(), names="value")
        self.message.value = "the runs are read when this tab is shown"

    def refresh_versions(self) -> None:
        """Read the cache's versions again (a live run may have added runs)."""
        found = versions(self.cache) if self.cache.root.is_dir() else []
        if not found:
            self.message.value = error_html(f"no runs in the cache {self.cache.root} yet")
            return
        values = [version for _, version in found]
        keep = self.version.value if self.version.value in values else values[0]
        self._quiet = True
        self.version.options = found
        self.version.value = keep
        self._quiet = False
        self.load()

    def load(self) -> None:
        if self._quiet:
            return
        self.message.value = "reading the cache&hellip;"
        self.frame = load_frame(self.cache, self.version.value)
        metrics = [c for c in self.frame.columns if c.startswith("final_")]
        categorical = [NONE, *FILTERS, "lr", "batch", "status"]
        self._quiet = True
        for name, control in self.filters.items():
            values = sorted(self.frame[name].unique(), key=str) if name in self.frame else []
            control.options = [ALL, *values]
            control.value = ALL
        self.y.options = metrics
        self.y.value = "final_test_acc" if "final_test_acc" in metrics else metrics[0]
        self.hue.options = categorical
        self.hue.value = "batch"
        self.facet.options = categorical
        self.facet.value = "model"
        self._quiet = False
        self.redraw()

    def redraw(self) -> None:
        if self._quiet or self.frame.empty:
            return
        filters = {name: control.value for name, control in self.filters.items()}
        rows = select(self.frame, filters)
        self.query.value = (
            "frame["
            + " & ".join(
                [f"(frame.{k} == {v!r})" for k, v in filters.items() if v != ALL] or ["True"]
            )
            + "]"
        )
        if rows.empty:
            self.message.value = error_html("no run matches these filters: widen one of them")
            self.plot.value = figures.message_figure("no run matches these filters")
            self.copy_as.show_error("no run selected")
            return
        hue = None if self.hue.value == NONE else self.hue.value
        facet = None if self.facet.value == NONE else self.facet.value
        if facet is not None and rows[facet].nunique() > 12:
            self.message.value = error_html(
                f"{rows[facet].nunique()} values of {facet} would make too many panels: filter "
                "or choose another facet"
            )
            return
        self.plot.value = figures.results_figure(rows, self.x.value, self.y.value, hue, facet)
        failed = int((rows.status != "trained").sum())
        older = (
            ""
            if self.version.value == code_version()
            else f" (not the current code's {code_version()}: trained by an older version)"
        )
        self.message.value = (
            f"{len(rows)} runs of {len(self.frame)} in code version {escape(self.version.value)}"
            f"{older}; {failed} did not train (marked on the top edge)"
        )
        try:
            self.copy_as.show(selection_configs(rows))
        except ParameterError as error:
            self.copy_as.show_error(str(error))
