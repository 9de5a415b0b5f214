"""The scorecard: every notebook records its targets in ``summary.csv`` beside its figures.

One row per target id: what is compared, our number, the paper's, the verdict (yes / partly /
no / not resolved) and its reason, and what made it (notebook, profile, seeds, code version).
Verdicts come from the target registry (``record_verdict``): the notebook hands over the
metric's table, the criterion declared before the runs decides.
``python -m largebatch_sim.report.scorecard DIR`` renders DIR/summary.csv as DIR/SUMMARY.md,
which the README shows, each target linked to its declaration and its figures.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..atomic import atomic_write_text
from . import targets
from .criteria import VERDICTS, Judgement

COLUMNS = (
    "target",
    "compared",
    "ours",
    "paper",
    "reproduced",
    "reason",
    "notebook",
    "profile",
    "seeds",
    "code_version",
)
PACKAGE = Path(__file__).parents[1]
NOTEBOOKS = PACKAGE.parent / "notebooks"


def figures_version(notebook: str) -> str:
    """A hash of everything that makes a notebook's figures: the notebook and the library."""
    digest = hashlib.sha256((NOTEBOOKS / f"{notebook}.ipynb").read_bytes())
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def record_verdict(
    out_dir: str | Path,
    target_id: str,
    table: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    compared: str,
    ours: str,
    profile: str,
    seeds: int | str,
) -> Judgement:
    """Judge ``table`` by the registry's criterion for ``target_id`` and record the row.

    ``compared`` says which runs (batches, budget), ``ours`` our numbers in a line; the paper's
    numbers and the notebook come from the registry, the verdict and its reason from the
    criterion. Returns the judgement, for the notebook's findings.
    """
    target = targets.get(target_id)
    judgement = target.judge(table)
    row = dict(
        target=target_id,
        compared=compared,
        ours=ours,
        paper=target.paper,
        reproduced=judgement.verdict,
        reason=judgement.reason,
        notebook=target.notebook,
        profile=profile,
        seeds=str(seeds),
    )
    record(out_dir, [row])
    return judgement


def recorder(
    out_dir: str | Path, profile: str, seeds: int | str | None = None
) -> Callable[..., Judgement]:
    """``record_verdict`` bound to a notebook's output folder, profile and seed count.

    The notebooks call the result as ``record(target_id, table, compared, ours)``, or with
    ``seeds=`` where a target's runs have another number of seeds than the default (which
    must then be given on every call when ``seeds`` is None).
    """

    def record(
        target_id: str,
        table: pd.DataFrame | Mapping[str, pd.DataFrame],
        compared: str,
        ours: str,
        seeds: int | str | None = seeds,
    ) -> Judgement:
        if seeds is None:
            raise TypeError(f"{target_id}: no seed count given and no default for this notebook")
        return record_verdict(
            out_dir, target_id, table, compared=compared, ours=ours, profile=profile, seeds=seeds
        )

    return record


def record(out_dir: str | Path, rows: Iterable[Mapping[str, str]]) -> pd.DataFrame:
    """Insert or replace rows (by target id) in ``out_dir/summary.csv``.

    Safe under ``make -j``: a lock file serialises notebooks updating the table at once, and
    the table is replaced atomically.
    """
    new = pd.DataFrame(list(rows), dtype=str)
    if "notebook" in new:
        new["notebook"] = new["notebook"].str.removesuffix(".ipynb")
        new["code_version"] = [figures_version(nb) for nb in new["notebook"]]
    for optional in ("profile", "seeds"):  # rows of notebooks not yet judged by the registry
        if optional not in new:
            new[optional] = ""
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
        if old is not None:
            old = old.reindex(columns=list(COLUMNS), fill_value="")
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
        lines += [
            "",
            "Each target links to its declaration (claim, paper's numbers, metric, criterion) in "
            "TARGETS.md; its figures and tables follow. `seeds`, `profile` and `code_version` "
            "(a hash of the notebook and the library) say what made the row; rows without a "
            "profile come from a notebook whose verdicts are not yet judged by the registry.",
            "",
        ]
        table["figures"] = [_figure_links(out_dir, t) for t in table["target"]]
        table["target"] = [_target_link(out_dir, t) for t in table["target"]]
        lines.append(table.to_markdown(index=False))
    else:
        lines.append("No notebook has recorded a target yet.")
    return atomic_write_text(out_dir / "SUMMARY.md", "\n".join(lines) + "\n")


def _target_link(out_dir: Path, target_id: str) -> str:
    if target_id not in targets.REGISTRY:
        return target_id
    declared = os.path.relpath(PACKAGE.parent / "TARGETS.md", out_dir.resolve())
    return f"[{target_id}]({declared}#{target_id.lower()})"


def _figure_links(out_dir: Path, target_id: str) -> str:
    files = sorted(p.name for p in out_dir.glob(f"{target_id}_*") if p.suffix in (".png", ".md"))
    return " ".join(f"[{name}]({name})" for name in files)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m largebatch_sim.report.scorecard OUT_DIR")
    print(render(sys.argv[1]))
