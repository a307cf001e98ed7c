"""The guides in docs/ run as written.

Each guide's ``python`` blocks run in order in one namespace, then its ``bash``
blocks line by line (``lawfit`` as ``python -m lawfit``), all in a fresh
folder.  A guide that reads released data says so in its first line
(``<!-- needs-data: name -->``) and is skipped where the data are absent.
README links every guide.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import lawfit
from _env import data_root

pytest.importorskip("pandas")
pytest.importorskip("scipy")

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = sorted(p for p in DOCS.glob("*.md") if p.name != "README.md")
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)
SLOW = {"extrapolation-study.md", "chinchilla-refit.md"}  # whole collections, bootstraps, CLI runs


def _blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(path.read_text())]


def _needs(path: Path) -> list[str]:
    m = re.match(r"<!-- needs-data: ([\w, ]+) -->", path.read_text())
    return [s.strip() for s in m.group(1).split(",")] if m else []


def _params():
    for p in GUIDES:
        marks = [pytest.mark.data] if _needs(p) else []
        if p.name in SLOW:
            marks.append(pytest.mark.slow)
        yield pytest.param(p, marks=marks, id=p.stem)


def test_every_guide_is_linked_from_the_readme_and_the_index():
    readme = (ROOT / "README.md").read_text()
    index = (DOCS / "README.md").read_text()
    assert GUIDES
    for p in GUIDES:
        assert f"docs/{p.name}" in readme, p.name
        assert f"({p.name})" in index, p.name


@pytest.mark.parametrize("guide", list(_params()))
def test_guide_runs_as_written(guide, tmp_path, monkeypatch):
    missing = [name for name in _needs(guide) if not (data_root() / name).is_dir()]
    if missing:
        pytest.skip(f"needs {missing} under {data_root()} (set LAWFIT_DATA)")
    if _needs(guide):
        monkeypatch.setenv("LAWFIT_DATA", str(data_root()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path / "cache"))
    blocks = _blocks(guide)
    assert blocks, guide
    namespace: dict = {"__name__": "__guide__"}
    ran = 0
    for lang, code in blocks:
        if lang != "python":
            continue
        with warnings.catch_warnings(record=True) as caught:
            # A guide may meet lawfit's own warnings (a user sees them printed); anything else fails.
            warnings.simplefilter("always")
            exec(compile(code, f"{guide.name}", "exec"), namespace)  # noqa: S102 - our own docs
        others = [w for w in caught if not issubclass(w.category, lawfit.LawfitWarning)]
        assert not others, [f"{w.category.__name__}: {w.message}" for w in others]
        ran += 1
    for lang, code in blocks:
        if lang != "bash":
            continue
        for line in code.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line, comments=True)
            if words[0] == "lawfit":
                words = [sys.executable, "-m", "lawfit", *words[1:]]
            proc = subprocess.run(words, capture_output=True, text=True, timeout=600, env=dict(os.environ))
            assert proc.returncode == 0, f"{line}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
            ran += 1
    assert ran
