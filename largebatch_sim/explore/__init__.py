"""The explorer: live training, the noisy quadratic model and the result cache in the browser.

``explorer()`` returns the three panes as one ipywidgets tab; the same widget is the page that
``lbsim explore`` serves with Voila (``explore.server``) and works in a JupyterLab cell. Nothing
in the training code imports this package.
"""

from __future__ import annotations

import ipywidgets as widgets

from ..runs.cache import ResultCache
from .live import LivePane
from .nqm_pane import NQMPane
from .results import ResultsPane

PANES = ("Live training", "Quadratic model", "Results")


def explorer(cache: ResultCache | None = None) -> widgets.Tab:
    """The explorer's three panes in tabs; ``cache``: the result cache the results browser
    reads and finished live runs are stored in (default: ``$LBSIM_CACHE``'s)."""
    cache = cache or ResultCache()
    live, quadratic, results = LivePane(cache), NQMPane(), ResultsPane(cache)
    tabs = widgets.Tab(children=[live.widget, quadratic.widget, results.widget], titles=list(PANES))
    tabs.add_class("lbsim-explorer")

    # The results are read when their tab is shown (seconds for a large cache, so not before
    # the page appears), and again each time: a finished live run may have added runs.
    def reread_cache(change: dict) -> None:
        if change["new"] == PANES.index("Results"):
            results.refresh_versions()

    tabs.observe(reread_cache, names="selected_index")
    return tabs


__all__ = ["PANES", "explorer"]
