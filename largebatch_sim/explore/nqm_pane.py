"""The noisy-quadratic-model pane: steps to a target loss against the batch and the rate, in
closed form (``analysis.nqm``), with the critical batch and the stability limit drawn.

The model has d = 2000 dimensions here (notebook 04 uses 10^4) so that a new momentum,
preconditioning power or target redraws in well under a second; the batch and rate sliders
only read the grid computed for those three, which is kept.
"""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
import numpy as np
import pandas as pd

from ..analysis import nqm
from . import figures
from .copy_as import CopyAs, error_html

DIM = 2000
MAX_STEPS = 10**8
BATCHES = 2.0 ** np.arange(0, 17)


@lru_cache(maxsize=64)
def best_per_batch(beta: float, p: float, target: float) -> tuple[pd.DataFrame, float]:
    """Steps to ``target`` at the best rate of the grid, per batch, and the critical batch
    (where those steps reach twice perfect scaling, ``nqm.perfect_scaling_knee``)."""
    h = nqm.curvatures(DIM)
    top = nqm.max_stable_lr(h, beta, p)
    lrs = nqm.lr_grid(top * 2.0**-18, h, beta, p, per_octave=2, edge_points=8)
    _, best = nqm.sweep(target, lrs, BATCHES, h, beta, p, max_steps=MAX_STEPS)
    reached = best[np.isfinite(best.steps)]
    knee = nqm.perfect_scaling_knee(reached.batch, reached.steps) if len(reached) > 1 else np.nan
    return best, knee


def steps_at(
    lrs: np.ndarray, batches: np.ndarray, beta: float, p: float, target: float
) -> np.ndarray:
    """Steps to ``target`` on the grid lrs x batches (+inf: never, or diverged)."""
    h = nqm.curvatures(DIM)
    return nqm.steps_to_target(target, lrs, batches, h, beta, p, max_steps=MAX_STEPS)


def _slider(
    kind: type[widgets.Widget],
    description: str,
    value: float,
    low: float,
    high: float,
    step: float,
    **options: float,
) -> widgets.Widget:
    """A wide slider that redraws on release (a log slider's bounds are exponents of ``base``)."""
    return kind(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description,
        layout=widgets.Layout(width="34em"),
        style={"description_width": "11em"},
        continuous_update=False,
        **options,
    )


class NQMPane:
    """``widget``: sliders for batch, rate, momentum, preconditioning and target; the plot; a
    line of numbers; the copy-as box (the model's own parameters: it is no RunConfig)."""

    def __init__(self) -> None:
        self.batch = _slider(widgets.FloatLogSlider, "batch B", 64, 0, 16, 1, base=2)
        self.lr = _slider(widgets.FloatLogSlider, "learning rate a", 0.5, -4, 0.6, 0.05, base=10)
        self.beta = _slider(widgets.FloatSlider, "momentum beta", 0.0, 0.0, 0.99, 0.01)
        self.p = _slider(widgets.FloatSlider, "preconditioning p", 0.0, 0.0, 1.0, 0.05)
        self.target = _slider(widgets.FloatLogSlider, "target loss", 0.1, -2, 0, 0.1, base=10)
        sliders = {
            "batch": self.batch,
            "lr": self.lr,
            "beta": self.beta,
            "p": self.p,
            "target": self.target,
        }
        for name, slider in sliders.items():
            slider.add_class(f"lbsim-nqm-{name}")
            slider.observe(lambda _: self.redraw(), names="value")
        self.plot = widgets.Image(format="png")
        self.plot.add_class("lbsim-nqm-plot")
        self.numbers = widgets.HTML()
        self.numbers.add_class("lbsim-nqm-numbers")
        self.copy_as = CopyAs("nqm")
        self.widget = widgets.VBox(
            [
                widgets.HBox([widgets.VBox(list(sliders.values())), self.numbers]),
                self.plot,
                self.copy_as.widget,
            ]
        )
        self.redraw()

    def redraw(self) -> None:
        beta, p, target = float(self.beta.value), float(self.p.value), float(self.target.value)
        batch, lr = float(self.batch.value), float(self.lr.value)
        h = nqm.curvatures(DIM)
        if target >= nqm.initial_loss(h):
            self.numbers.value = error_html(
                f"target {target:g} is above the starting loss {nqm.initial_loss(h):.3g}"
            )
            return
        best, critical = best_per_batch(beta, p, target)
        limit = nqm.max_stable_lr(h, beta, p)
        chosen = pd.DataFrame(
            {"batch": BATCHES, "steps": steps_at(np.array([lr]), BATCHES, beta, p, target)[0]}
        )
        rates = np.unique(np.append(np.geomspace(limit * 2.0**-14, limit * 0.999, 40), lr))
        rates = rates[rates < limit] if lr >= limit else rates
        by_lr = pd.DataFrame(
            {"lr": rates, "steps": steps_at(rates, np.array([batch]), beta, p, target)[:, 0]}
        )
        if lr >= limit:
            by_lr = pd.concat([by_lr, pd.DataFrame({"lr": [lr], "steps": [np.inf]})])
        self.plot.value = figures.nqm_figure(best, chosen, by_lr, batch, lr, critical, limit)
        here = chosen.loc[chosen.batch == batch, "steps"].iloc[0]
        outcome = (
            f"diverges (lr >= the stability limit {limit:.3g})"
            if lr >= limit
            else "never reaches the target (noise floor above it)"
            if not np.isfinite(here)
            else f"{here:.0f} steps, {here * batch:.3g} examples"
        )
        self.numbers.value = (
            f"<p>stability limit 2(1+&beta;)/max h<sup>1-p</sup> = <b>{limit:.3g}</b><br>"
            f"critical batch (steps twice perfect scaling) = <b>{critical:.3g}</b><br>"
            f"B = {batch:g}, a = {lr:.3g}: {outcome}</p>"
        )
        call = (
            "from largebatch_sim.analysis import nqm\n\n"
            f"h = nqm.curvatures({DIM})\n"
            f"steps = nqm.steps_to_target({target:g}, [{lr:.6g}], [{batch:g}], h, "
            f"beta={beta:g}, p={p:g}, max_steps={MAX_STEPS})\n"
        )
        params = f"batch: {batch:g}\nlr: {lr:.6g}\nbeta: {beta:g}\np: {p:g}\ntarget: {target:g}\n"
        self.copy_as.show_text(
            {"RunConfig": call, "papermill": params},
            "The quadratic model is no RunConfig and has no lbsim command: here is the same "
            "computation in Python, and its parameters.",
        )
