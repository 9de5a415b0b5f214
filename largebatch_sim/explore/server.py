"""Serve the explorer as a web page with Voila: a one-cell notebook that displays
``explorer()``, written to a temporary folder and served on ``ip:port``."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from ..validate import check_integer, check_string

CELL = "from largebatch_sim.explore import explorer\n\nexplorer()"


def write_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(CELL)]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / "explorer.ipynb"
    nbformat.write(notebook, path)
    return path


def voila_command(notebook: Path, port: int, ip: str) -> list[str]:
    """Voila on ``notebook``: no browser opened, tracebacks shown in the page."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={ip}",
        "--no-browser",
        "--show_tracebacks=True",
    ]


def serve(port: int = 8866, ip: str = "127.0.0.1") -> int:
    """Run the explorer's server until interrupted; prints the address to open first."""
    port = check_integer("port", port, low=1, high=65535)
    ip = check_string("ip", ip)
    with tempfile.TemporaryDirectory(prefix="lbsim-explore-") as folder:
        notebook = write_notebook(Path(folder))
        print(f"The explorer: open http://{ip}:{port}/ (Ctrl-C stops it)", flush=True)
        try:
            return subprocess.call(voila_command(notebook, port, ip))
        except KeyboardInterrupt:
            return 0
