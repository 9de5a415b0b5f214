"""environment.yml (conda) and pyproject.toml (pip) must name the same dependencies."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_names = {
        _name(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]
    }
    conda_names = set()
    for line in (ROOT / "environment.yml").read_text().splitlines():
        item = re.match(r"^\s+- (?!-e )([A-Za-z0-9_.-]+)", line)
        if item and item.group(1) not in {"python", "pip", "conda-forge"}:
            conda_names.add(_name(item.group(1)))
    assert conda_names == pip_names


def test_gpu_extra_is_cupy():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert [_name(r) for r in project["optional-dependencies"]["gpu"]] == ["cupy-cuda12x"]
