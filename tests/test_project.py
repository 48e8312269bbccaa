"""The repository explains itself: it cites only what a clone contains, and every docs/ page is on the site."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: What a user's clone does not contain: the project's private working notes (SPEC.md, ENGINEERING.md, cited
#: by file name or as `SPEC "Section"`, `SPEC's`) and the folder they live in.
PRIVATE = re.compile(r"SPEC\.md|ENGINEERING\.md|\bSPEC (?=\")|\bSPEC's\b|\.\./shared|shared folder")
#: Where users read: the package, the README, the docs, the notebooks, the sweep specs, the benchmarks.
PUBLIC = ("chaossim", "README.md", "docs", "notebooks", "sweeps", "benchmarks")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".ipynb", ".yml", ".yaml", ".txt", ".js", ".cfg", ".ini", ".sh", ""}


def _public_files() -> list[Path]:
    files = []
    for name in PUBLIC:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in candidates if p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts]
    return files


def private_citations(files) -> list[str]:
    """``path:line: text`` of every line of ``files`` that cites the private notes."""
    hits = []
    for path in files:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if PRIVATE.search(line):
                hits.append(f"{Path(path).relative_to(ROOT) if Path(path).is_relative_to(ROOT) else path}:"
                            f"{number}: {line.strip()[:100]}")
    return hits


def test_the_public_files_exist():
    files = _public_files()
    assert (ROOT / "README.md") in files and (ROOT / "docs" / "model.md") in files
    assert any(p.suffix == ".ipynb" for p in files) and any(p.parent.name == "benchmarks" for p in files)


def test_the_citation_check_finds_each_form(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("see SPEC.md\nfine\nas ENGINEERING.md says\n../shared/x\nin the project's shared folder\n"
                   'shared memory and a shared start are fine\nchaossim sweep SPEC --store S\nSPEC "Training"\n'
                   "the SPEC's arrays\n")
    assert [h.split(":")[1] for h in private_citations([bad])] == ["1", "3", "4", "5", "8", "9"]


def test_nothing_public_cites_the_private_notes():
    hits = private_citations(_public_files())
    assert not hits, ("these lines cite files a clone does not contain; cite the paper's equation numbers or a "
                      "docs/ page instead:\n" + "\n".join(hits))


def _nav_pages(nav) -> list[str]:
    """Every page path in a MkDocs ``nav`` (nested lists of strings and {title: page or list})."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _nav_pages(value)]
    if isinstance(nav, list):
        return [p for item in nav for p in _nav_pages(item)]
    return []


def test_every_docs_page_is_in_the_nav():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = set(_nav_pages(config["nav"]))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert {"index.md", "model.md"} <= pages
    missing = sorted(pages - nav)
    assert not missing, f"docs pages missing from the nav of mkdocs.yml: {missing}; add them there"


def test_nav_pages_helper():
    nav = ["index.md", {"A": "a.md"}, {"B": ["b/index.md", {"C": "b/c.md"}]}]
    assert _nav_pages(nav) == ["index.md", "a.md", "b/index.md", "b/c.md"]


def _readme_blocks() -> list[tuple[str, str]]:
    """(language, text) of every fenced block of the README, in order."""
    return re.findall(r"```(\w*)\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_opens_with_the_two_commands():
    """Issue 22: the first shell block installs and runs the main job, the second installs and runs the tests:
    the quick suite, then the full suite (the command .ci/run runs)."""
    shell = [text.strip() for lang, text in _readme_blocks() if lang == "bash"]
    assert shell[0] == "python -m pip install . && chaossim sweep sweeps/quickstart.toml --store quickstart.zarr"
    assert shell[1].splitlines() == ['python -m pip install ".[test]" && python -m pytest -q',
                                     "python -m pytest -q --full"]
    assert "python -m pytest -q --full" in (ROOT / ".ci" / "run").read_text()
    image = re.search(r"!\[[^\]]*\]\((docs/[^)]+\.png)\)", (ROOT / "README.md").read_text())
    assert image and (ROOT / image.group(1)).is_file()


def test_the_readme_sweep_spec_parses():
    from chaossim.sweep.spec import parse_spec

    spec = parse_spec(next(text for lang, text in _readme_blocks() if lang == "toml"))
    assert spec.dims == ("g", "T") and spec.n_points == 4


@pytest.mark.slow
def test_the_readme_python_runs():
    code = next(text for lang, text in _readme_blocks() if lang == "python")
    assert len(code.strip().splitlines()) <= 10
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})
