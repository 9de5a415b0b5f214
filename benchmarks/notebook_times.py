"""How far each notebook of a ``make figures`` run got, and how long it took, as Markdown.

    python benchmarks/notebook_times.py build/quick --start EPOCH_SECONDS --out times.md

Reads the executed copies that papermill writes to ``build/<profile>/<name>.ipynb`` (it saves
them as every cell starts and ends, so a notebook stopped by a time limit still says which cell
it was in) and the stamps ``make`` touches when a notebook and its HTML are done. Per notebook:
finished or not, the cells completed out of the code cells, papermill's own start-to-end time
(for an unfinished one, until its last saved cell), the stamp's time since ``--start`` (when the
caller started make), the cell it stopped in, and its slowest cells.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd


def parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def first_line(cell: dict[str, Any], width: int = 60) -> str:
    """The first non-empty, non-comment line of a cell's source, shortened, for a table."""
    source = cell.get("source", "")
    lines = source.splitlines() if isinstance(source, str) else "".join(source).splitlines()
    text = next((s.strip() for s in lines if s.strip() and not s.startswith("#")), "")
    text = text.replace("|", "/")
    return text if len(text) <= width else text[: width - 3] + "..."


def notebook_row(executed: Path, stamp: Path, start: float | None) -> tuple[dict, list[dict]]:
    """(the notebook's row, its cells with a duration) from papermill's executed copy."""
    nb = json.loads(executed.read_text())
    code = [(i, c) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    status = [c["metadata"].get("papermill", {}).get("status") for _, c in code]
    completed = sum(s == "completed" for s in status)
    stuck = next(((i, c) for (i, c), s in zip(code, status, strict=True) if s != "completed"), None)
    meta = nb["metadata"].get("papermill", {})
    begin = parse_time(meta.get("start_time"))
    ends = [
        parse_time(c["metadata"]["papermill"].get("end_time"))
        for _, c in code
        if c["metadata"].get("papermill", {}).get("end_time")
    ]
    end = parse_time(meta.get("end_time")) or max((e for e in ends if e), default=None)
    cells = [
        {
            "notebook": executed.stem,
            "cell": i,
            "seconds": c["metadata"]["papermill"].get("duration") or 0.0,
            "source": first_line(c),
        }
        for i, c in code
        if c["metadata"].get("papermill", {}).get("duration") is not None
    ]
    finished = stamp.exists()
    row = {
        "notebook": executed.stem,
        "finished": "yes" if finished else ("failed" if meta.get("exception") else "no"),
        "code cells done": f"{completed} / {len(code)}",
        "papermill s": (end - begin).total_seconds() if begin and end else float("nan"),
        "stamp s after start": stamp.stat().st_mtime - start if finished and start else None,
        "stopped in": "" if stuck is None else f"cell {stuck[0]}: {first_line(stuck[1], 40)}",
    }
    return row, cells


def report(build: Path, notebooks: Path, start: float | None) -> str:
    rows, cells = [], []
    for source in sorted(notebooks.glob("*.ipynb")):
        executed = build / source.name
        if not executed.exists():
            rows.append({"notebook": source.stem, "finished": "not started"})
            continue
        row, seen = notebook_row(executed, build / f"{source.stem}.stamp", start)
        rows.append(row)
        cells += seen
    parts = [
        f"## Notebooks of `make figures` ({build.name} profile)",
        "",
        "finished: the stamp exists (notebook run and rendered). papermill s: from its start to "
        "its last saved cell. stamp s after start: when make finished it, counted from the "
        "start of `make`. Notebooks ran concurrently (`make -j`), sharing the machine.",
        "",
        pd.DataFrame(rows).astype(object).fillna("").to_markdown(index=False, floatfmt=".1f"),
        "",
    ]
    if cells:
        slowest = pd.DataFrame(cells).sort_values("seconds", ascending=False).head(15)
        parts += [
            "### The slowest cells",
            "",
            slowest.to_markdown(index=False, floatfmt=".1f"),
            "",
        ]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("build", type=Path, help="build/<profile>: the executed notebooks")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    parser.add_argument("--start", type=float, help="when make started (seconds since epoch)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = report(args.build, args.notebooks, args.start)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
