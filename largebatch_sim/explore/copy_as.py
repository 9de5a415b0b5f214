"""The copy-as box every pane shows: its state as Python, an ``lbsim`` command and papermill
parameters, in text areas to select and copy, or a message saying why there is none."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import ipywidgets as widgets

from ..runs.config import RunConfig
from . import state

FORMS = {
    "RunConfig": state.as_python,
    "lbsim command": state.as_command,
    "papermill": state.as_papermill,
}


def error_html(text: str) -> str:
    """A message in the page (bad input, an empty selection), never a traceback."""
    return f'<div class="lbsim-error" style="color:#b00020">{escape(text)}</div>'


class CopyAs:
    """``widget``: a tab per form (``FORMS``) and a message line; ``pane`` names it in the
    page (class ``lbsim-<pane>-copy``)."""

    def __init__(self, pane: str) -> None:
        self.texts = {
            name: widgets.Textarea(layout=widgets.Layout(width="100%", height="9em"))
            for name in FORMS
        }
        for name, area in self.texts.items():
            area.add_class("lbsim-copy-" + name.split()[-1].lower())
        self.message = widgets.HTML()
        tabs = widgets.Tab(children=list(self.texts.values()), titles=list(FORMS))
        self.widget = widgets.VBox([widgets.HTML("<b>Copy as</b>"), self.message, tabs])
        self.widget.add_class(f"lbsim-{pane}-copy")

    def show(self, configs: Sequence[RunConfig]) -> None:
        for name, form in FORMS.items():
            self.texts[name].value = form(configs)
        self.message.value = ""

    def show_text(self, texts: dict[str, str], note: str = "") -> None:
        """Text of a pane whose state is no RunConfig (the quadratic model)."""
        for name in FORMS:
            self.texts[name].value = texts.get(name, "")
        self.message.value = note

    def show_error(self, text: str) -> None:
        for area in self.texts.values():
            area.value = ""
        self.message.value = error_html(text)
