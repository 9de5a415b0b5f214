"""A newcomer's first hour: every command and code block of the README works as written, and
every reference in the repository's documents and docstrings resolves inside the repository."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

from largebatch_sim.cli import _configs, build_parser, main
from largebatch_sim.runs import run_ensemble

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
DOCUMENTS = [ROOT / "README.md", ROOT / "TARGETS.md", ROOT / "BENCHMARKS.md"]
DOCUMENTS += sorted((ROOT / "docs").glob("*.md")) + [ROOT / "figures" / "SUMMARY.md"]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def commands(program: str) -> list[list[str]]:
    """The README's shell lines that run ``program``, split as the shell would (comments off)."""
    lines = [line for block in code_blocks("bash") for line in block.splitlines()]
    split = [shlex.split(line, comments=True) for line in lines]
    return [words for words in split if words and words[0] == program]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LBSIM_CACHE", str(tmp_path / "cache"))


def test_the_first_cli_example_trains_to_a_sensible_accuracy_on_every_seed():
    first = commands("lbsim")[0]
    assert main(first[1:]) == 0
    seeds = build_parser().parse_args([*first[1:], "--seed", *map(str, range(5))])
    for result in run_ensemble(_configs(seeds), progress=False):
        assert not result.diverged
        assert result.summary["final_test_acc"] > 0.9, result.config.seed


@pytest.mark.slow
def test_every_other_cli_example_runs(capsys):
    """The rest in smoke sizes: half an epoch, one evaluation."""
    for words in commands("lbsim")[1:]:
        if "--help" in words:
            with pytest.raises(SystemExit) as exit_:
                main(words[1:])
            assert exit_.value.code == 0
        elif words[1] == "train":
            assert main([*words[1:], "--epochs", "0.5", "--evals", "1", "--quiet"]) == 0
        else:
            assert main(words[1:]) == 0, words


def test_every_python_block_runs():
    for block in code_blocks("python"):
        exec(compile(block, "README.md", "exec"), {})


def test_every_make_line_names_a_target_and_variables_the_makefile_has():
    """``make -n`` resolves the targets and variables without running anything."""
    for words in commands("make"):
        args = [w for w in words[1:] if not w.startswith("-j")]
        dry = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, (words, dry.stderr)


def test_the_gpu_and_conda_lines_use_names_that_exist():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for words in commands("pip"):
        for word in words:
            extra = re.fullmatch(r"\.\[(\w+)\]", word)
            if extra:
                assert extra.group(1) in pyproject["project"]["optional-dependencies"]
    markers = " ".join(pyproject["tool"]["pytest"]["ini_options"]["markers"])
    assert "-m gpu" in README and "gpu:" in markers
    for words in commands("conda"):
        assert (ROOT / words[words.index("-f") + 1]).is_file()


def test_relative_links_in_the_documents_resolve():
    anchors = {p: set(re.findall(r'<a id="([^"]+)"', p.read_text())) for p in DOCUMENTS}
    for document in DOCUMENTS:
        text = document.read_text()
        links = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
        for link in links:
            if re.match(r"[a-z]+://", link) or link.startswith("mailto:"):
                continue
            path, _, anchor = link.partition("#")
            target = (document.parent / path).resolve() if path else document
            assert target.exists(), f"{document.name}: {link}"
            if anchor and target in anchors:
                assert anchor in anchors[target], f"{document.name}: {link}"


def test_every_document_the_code_and_notebooks_cite_is_in_the_repository():
    """An all-caps document name (TARGETS.md, docs/DESIGN.md) names a file of the repository,
    at the root, in docs/ or in figures/; a folder placeholder (DIR/SUMMARY.md) is not one."""
    sources = [*(ROOT / "largebatch_sim").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb")]
    sources += [*(ROOT / "tests").glob("*.py"), *(ROOT / "benchmarks").glob("*.*")]
    sources += [*DOCUMENTS, ROOT / "Makefile"]
    for source in set(sources) - {Path(__file__)}:
        text = source.read_text()
        assert "../shared" not in text, source
        for name in re.findall(r"(?<![\w/$)-])((?:docs/|figures/)?[A-Z]+\.md)\b", text):
            places = [ROOT / name, ROOT / "docs" / name, ROOT / "figures" / name]
            assert any(p.is_file() for p in places), (source, name)
