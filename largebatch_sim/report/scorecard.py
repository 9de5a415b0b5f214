"""The scorecard: every notebook records its targets in ``summary.csv`` beside its figures.

One row per target id: what is compared, our number, the paper's, whether it reproduced
(yes / no / partly) and a one-line reason. ``python -m largebatch_sim.report.scorecard DIR`` renders
DIR/summary.csv as DIR/SUMMARY.md, which the README shows.
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write_text

COLUMNS = ("target", "compared", "ours", "paper", "reproduced", "reason", "notebook")
VERDICTS = ("yes", "no", "partly")


def record(out_dir: str | Path, rows: Iterable[Mapping[str, str]]) -> pd.DataFrame:
    """Insert or replace rows (by target id) in ``out_dir/summary.csv``.

    Safe under ``make -j``: a lock file serialises notebooks updating the table at once, and
    the table is replaced atomically.
    """
    new = pd.DataFrame(list(rows), dtype=str)
    missing = set(COLUMNS) - set(new.columns)
    if missing:
        raise ValueError(f"scorecard rows need the columns {COLUMNS}; missing {sorted(missing)}")
    bad = set(new["reproduced"]) - set(VERDICTS)
    if bad:
        raise ValueError(f"'reproduced' must be one of {VERDICTS}, got {sorted(bad)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "summary.csv"
    with open(out_dir / ".summary.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None
        table = new[list(COLUMNS)] if old is None else pd.concat([old, new[list(COLUMNS)]])
        table = table.drop_duplicates("target", keep="last").sort_values("target")
        atomic_write_text(path, table.to_csv(index=False))
    return table


def render(out_dir: str | Path) -> Path:
    """Write ``SUMMARY.md`` from ``summary.csv`` (an empty scorecard says so)."""
    out_dir = Path(out_dir)
    path = out_dir / "summary.csv"
    lines = ["# Scorecard: what reproduced in miniature", ""]
    if path.exists():
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        counts = table["reproduced"].value_counts()
        lines.append(", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".")
        lines += ["", table.to_markdown(index=False)]
    else:
        lines.append("No notebook has recorded a target yet.")
    return atomic_write_text(out_dir / "SUMMARY.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m largebatch_sim.report.scorecard OUT_DIR")
    print(render(sys.argv[1]))
