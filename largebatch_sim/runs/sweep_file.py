"""A sweep described in a TOML file: the runs ``lbsim sweep FILE`` trains.

    [common]          # fields every run shares (optional)
    data = "digits"
    model = "mlp"
    epochs = 2

    [[grid]]          # every combination of the listed values (a single value: a list of one)
    batch = [64, 256]
    lr = [0.05, 0.1]
    seed = [0, 1]

    [[run]]           # one run, its fields given explicitly
    batch = 1024
    lr = 0.4
    optimizer = "lars"

Keys are ``RunConfig`` fields; ``[[grid]]`` and ``[[run]]`` may repeat, and each adds its runs
to ``[common]``'s values. A field whose value is itself a list (``milestones``,
``no_weight_decay_on``) takes a list in ``[common]`` and ``[[run]]``, and a list of lists in
``[[grid]]``. Unknown keys and bad values fail before any compute, naming the field.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
import typing
from pathlib import Path
from typing import Any

from ..validate import ParameterError
from .config import RunConfig

SECTIONS = ("common", "grid", "run")
_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}
_LIST_FIELDS = {
    name
    for name, hint in typing.get_type_hints(RunConfig).items()
    if typing.get_origin(hint) is tuple
    or any(typing.get_origin(a) is tuple for a in typing.get_args(hint))
}


def read_sweep_file(path: str | Path) -> list[RunConfig]:
    """The runs a sweep file describes, in the file's order (grids, then runs), each once."""
    path = Path(path)
    if path.suffix != ".toml" or not path.is_file():
        raise ParameterError("sweep file", str(path), "an existing .toml file")
    try:
        spec = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ParameterError("sweep file", str(path), f"a readable TOML file ({error})") from None
    unknown = sorted(set(spec) - set(SECTIONS))
    if unknown:
        raise ParameterError(unknown[0], spec[unknown[0]], f"one of the sections {SECTIONS}")
    common = _fields("common", spec.get("common", {}))
    grids = _tables("grid", spec.get("grid", []))
    runs = _tables("run", spec.get("run", []))
    if not grids and not runs:
        raise ParameterError("sweep file", str(path), "at least one [[grid]] or [[run]] table")
    configs: list[RunConfig] = []
    for where, grid in grids:
        values = {name: _grid_values(f"{where}.{name}", name, v) for name, v in grid.items()}
        for combination in itertools.product(*values.values()):
            configs.append(RunConfig(**common, **dict(zip(values, combination, strict=True))))
    configs += [RunConfig(**common, **run) for _, run in runs]
    return list(dict.fromkeys(configs))


def _tables(section: str, tables: Any) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(tables, list):
        raise ParameterError(section, tables, f"an array of tables ([[{section}]])")
    return [(f"{section}[{i}]", _fields(f"{section}[{i}]", t)) for i, t in enumerate(tables)]


def _fields(where: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ParameterError(where, table, "a table of RunConfig fields")
    for name, value in table.items():
        if name not in _FIELDS:
            raise ParameterError(f"{where}.{name}", value, "a RunConfig field")
    return table


def _grid_values(where: str, name: str, value: Any) -> list[Any]:
    """A grid entry's values: a list, or one value alone (a list field's one value is a flat
    list)."""
    if not isinstance(value, list):
        return [value]
    if name in _LIST_FIELDS and not (value and all(isinstance(v, list) for v in value)):
        return [value]
    if not value:
        raise ParameterError(where, value, "at least one value")
    return value
