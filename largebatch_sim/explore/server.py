"""Serve the explorer as a web page with Voila: a one-cell notebook that displays
``explorer()``, kept under ``$LBSIM_CACHE/explore`` and served on ``ip:port``.

The command becomes Voila (``os.execve``), so stopping it (Ctrl-C, a signal) stops the server
and the kernels it started, with nothing left behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import nbformat

from ..data.paths import cache_dir
from ..validate import check_integer, check_string

TEMPLATES = Path(__file__).parent / "templates"
CELL = "from largebatch_sim.explore import explorer\n\nexplorer()"


def write_notebook(folder: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(CELL)]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "explorer.ipynb"
    nbformat.write(notebook, path)
    return path


def voila_command(notebook: Path, port: int, ip: str) -> list[str]:
    """Voila on ``notebook``: no browser opened, tracebacks shown in the page, the page drawn
    with this package's template (``templates/``, found through ``JUPYTER_PATH``)."""
    return [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--port={port}",
        f"--Voila.ip={ip}",
        "--no-browser",
        "--show_tracebacks=True",
        "--template=lbsim",
    ]


def kernel_environment() -> dict[str, str]:
    """This process's environment, with this copy of the package first on the kernel's path
    (the page imports the same code as the command that served it: a worktree, a checkout)
    and the explorer's Voila template on Jupyter's."""
    root = str(Path(__file__).resolve().parents[2])
    return os.environ | {
        "PYTHONPATH": _prepend(root, os.environ.get("PYTHONPATH")),
        "JUPYTER_PATH": _prepend(str(TEMPLATES), os.environ.get("JUPYTER_PATH")),
    }


def _prepend(first: str, path: str | None) -> str:
    return first if not path else first + os.pathsep + path


def serve(port: int = 8866, ip: str = "127.0.0.1") -> NoReturn:
    """Become the explorer's server (until interrupted); prints the address to open first."""
    port = check_integer("port", port, low=1, high=65535)
    ip = check_string("ip", ip)
    notebook = write_notebook(cache_dir() / "explore")
    print(f"The explorer: open http://{ip}:{port}/ (Ctrl-C stops it)", flush=True)
    command = voila_command(notebook, port, ip)
    os.execve(command[0], command, kernel_environment())
