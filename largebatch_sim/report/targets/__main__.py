"""``python -m largebatch_sim.report.targets TARGETS.md`` renders the registry."""

import sys

from ...atomic import atomic_write_text
from . import render_markdown

if len(sys.argv) != 2:
    sys.exit("usage: python -m largebatch_sim.report.targets TARGETS.md")
print(atomic_write_text(sys.argv[1], render_markdown() + "\n"))
