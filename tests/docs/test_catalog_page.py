"""The documentation site's catalog page and getting-started page, checked without Sphinx.

``docs/_ext/lawfit_catalog.py`` renders ``lawfit.laws`` as reStructuredText when
the site is built; here its output must hold a section for every law of the
catalog, with the law's formula and citation, and escape free text so that
Sphinx (run with warnings as errors in CI) sees no stray markup.  The
getting-started page's Python runs as written.
"""
from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import pytest

import lawfit
from lawfit.catalog import Citation, Law, laws

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("lawfit_catalog", DOCS / "_ext" / "lawfit_catalog.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _generator()


def _sections(text: str) -> dict[str, str]:
    """{label: section text} of the rendered page."""
    parts = re.split(r"^\.\. _(law-[\w-]+):$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_law_has_a_section_with_its_formula_and_citation():
    text = gen.render_catalog(laws)
    sections = _sections(text)
    assert len(laws) > 10
    assert len(sections) == len(laws)
    for name, law in laws.items():
        body = sections[gen.label(name)]
        title = gen.escape(name)
        assert f"\n{title}\n{'-' * max(len(title), 3)}\n" in body, name
        formula = law.display or law.formula
        assert f"   {formula}\n" in body, name  # inside the formula's literal block
        for p in law.params:
            assert f"``{p}``" in body, (name, p)
        for i in law.inputs:
            assert f"``{i}``" in body, (name, i)
        c = law.citation
        if c is not None:
            assert f"arXiv:{c.arxiv} <https://arxiv.org/abs/{c.arxiv}>" in body, name
            assert gen.escape(c.equation) in body, name
            assert gen.escape(c.title) in body, name
            if c.checked:
                assert "**Checked.** " + gen.escape(c.checked) in body, name
        if law.recipe is not None:
            assert gen.escape(law.recipe.describe()) in body, name
    assert text.count(":ref:`") == len(laws)  # the summary table links every section


def test_labels_are_distinct():
    labels = [gen.label(n) for n in laws]
    assert len(set(labels)) == len(labels)


def test_a_new_law_appears_and_its_text_is_escaped():
    law = Law("a*x**-b + c", {"x": "compute (FLOP)"}, name="toy_law_",
              params={"a": "scale *not emphasis*", "b": "exponent", "c": "floor `not code`"},
              bounds={"b": (0, 5)}, starts={"a": [1, 10], "b": [0.5]},
              citation=Citation("Doe and Roe", 2030, "A |title| with_ref_", "3001.00001", "eq. 1",
                                checked="eq. 1 against [the paper]_"))
    text = gen.render_catalog({"toy_law_": law})
    section = _sections(text)["law-toy-law"]
    assert "toy\\_law\\_\n" in section
    assert "   a*x**-b + c\n" in section
    assert "scale \\*not emphasis\\*" in section
    assert "floor \\`not code\\`" in section
    assert "A \\|title\\| with\\_ref\\_" in section
    assert "     - 1, 10\n" in section  # the start values of a, in their table cell
    assert "[0, 5]" in section
    assert "2 points" in section
    assert "\\[the paper\\]\\_" in section


def test_a_law_without_citation_says_so():
    text = gen.render_catalog({"mine": Law("k*x**p", inputs=["x"])})
    assert "**Source.** none recorded" in text


def _rst_python_blocks(path: Path) -> list[str]:
    blocks, current = [], None
    for line in path.read_text().splitlines():
        if line.strip() == ".. code-block:: python":
            current = []
            blocks.append(current)
            continue
        if current is not None:
            if line and not line.startswith(" "):
                current = None
            else:
                current.append(line[3:])
    return ["\n".join(b) for b in blocks]


def test_getting_started_runs_as_written(tmp_path, monkeypatch):
    pytest.importorskip("pandas")
    blocks = _rst_python_blocks(DOCS / "getting-started.rst")
    assert blocks
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAWFIT_CACHE", str(tmp_path / "cache"))
    namespace: dict = {"__name__": "__guide__"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for code in blocks:
            exec(compile(code, "getting-started.rst", "exec"), namespace)  # noqa: S102 - our own docs
    res = namespace["res"]
    assert list(res.params["status"].str.startswith("CONVERGED")) == [True, True]
    assert res.params["alpha"].between(0.3, 0.38).all()


def test_the_site_lists_every_guide():
    index = (DOCS / "index.rst").read_text()
    for guide in DOCS.glob("*.md"):
        if guide.name != "README.md":
            assert f"\n   {guide.stem}\n" in index, guide.name
    assert lawfit.__version__
