"""The catalog page, rendered from ``lawfit.laws`` when the documentation is built.

:func:`render_catalog` turns the catalog into reStructuredText: a summary table,
then one section per law with its formula, inputs (and units), parameters with
bounds and start values, start grid, default objective, published recipe,
derived quantities, reference values, citation (equation and the ``checked``
note) and notes.  Nothing is copied by hand: a law added to the code appears on
the page at the next build.

The ``lawfit-catalog`` directive (``docs/catalog.rst``) inserts that text; Sphinx
is imported only by :func:`setup`, so ``tests/docs/test_catalog_page.py`` checks
the rendering without Sphinx installed.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Mapping

# Characters with a meaning in inline reStructuredText; escaped in free text.
_INLINE = re.compile(r"([\\`*_|\[\]<>])")


def escape(text: str) -> str:
    """Free text as literal reStructuredText (no emphasis, roles, references or substitutions)."""
    return _INLINE.sub(r"\\\1", " ".join(str(text).split()))


def label(name: str) -> str:
    """The cross-reference label of a law's section: ``:ref:`law-chinchilla```."""
    return "law-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def _num(v: float) -> str:
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.6g}"


def _literal_block(lines: Iterable[str]) -> list[str]:
    return [".. code-block:: none", ""] + [f"   {line}" for line in lines] + [""]


def _field(name: str, body: str) -> list[str]:
    return [f"**{name}.** {body}", ""]


def _table(header: list[str], rows: list[list[str]], widths: str = "") -> list[str]:
    out = [".. list-table::", "   :header-rows: 1"]
    if widths:
        out.append(f"   :widths: {widths}")
    out.append("")
    for row in [header] + rows:
        out.append(f"   * - {row[0] or ' '}")
        out += [f"     - {cell or ' '}" for cell in row[1:]]
    return out + [""]


def _grid_size(grid: Mapping) -> int:
    return math.prod(len(list(v)) for v in grid.values()) if grid else 1


def _starts_summary(law) -> str:
    if callable(law.starts):
        doc = (law.starts.__doc__ or "").strip().split("\n")[0]
        return "computed from the data" + (f": {escape(doc)}" if doc else "")
    grid = {k: v for k, v in law.starts.items() if k not in law.fixed}
    if not grid:
        return "one start per parameter (no grid)"
    return (f"{_grid_size(grid):,} points, the Cartesian product of the values listed for "
            + ", ".join(f"``{k}``" for k in grid) + "; the other parameters start at one value")


def render_law(name: str, law) -> list[str]:
    """One law's section, as reStructuredText lines."""
    title = escape(name)
    lines = [f".. _{label(name)}:", "", title, "-" * max(len(title), 3), ""]
    if law.output:
        lines += _field("Predicts", escape(law.output))
    lines += ["**Formula.**", ""]
    if getattr(law, "display", ""):
        lines += _literal_block([law.display])
        lines += [f"Compiled from a generated formula of {len(law.formula):,} characters.", ""]
    else:
        lines += _literal_block([law.formula])
    if law.inputs:
        rows = [[f"``{k}``", escape(v)] for k, v in law.inputs.items()]
        lines += ["**Inputs** (in data order).", ""] + _table(["input", "meaning (units)"], rows, "20 80")
    grid = {} if callable(law.starts) else law.starts
    rows = []
    for p, meaning in law.param_help.items():
        lo, hi = law.bounds.get(p, (-math.inf, math.inf))
        if p in law.fixed:
            start = f"fixed at {_num(law.fixed[p])}"
        elif p in grid:
            start = ", ".join(_num(v) for v in grid[p])
        else:
            start = ""
        rows.append([f"``{p}``", escape(meaning), f"[{_num(lo)}, {_num(hi)}]", start])
    lines += ["**Parameters** (in fitting order).", ""]
    lines += _table(["parameter", "meaning", "bounds", "start values"], rows, "15 45 20 20")
    lines += _field("Start grid", _starts_summary(law))
    delta = "" if law.loss_delta is None else f" (delta = {law.loss_delta:g})"
    lines += _field("Default fit", escape(f"{law.loss}{delta} on {law.residual} residuals"))
    recipe = getattr(law, "recipe", None)
    if recipe is not None:
        lines += _field("Published recipe", escape(recipe.describe())
                        + ' (applied by ``lawfit.fit(..., recipe="published")``)')
    if law.natural:
        lines += ["**Natural parameters.**", ""] + _literal_block(f"{k} = {v}" for k, v in law.natural.items())
    if law.derived:
        lines += ["**Derived quantities.**", ""] + _literal_block(f"{k} = {v}" for k, v in law.derived.items())
    if law.shared:
        lines += _field("Shared in joint fits", ", ".join(f"``{p}``" for p in law.shared))
    if law.reference:
        lines += _field("Reported values", escape(", ".join(f"{k} = {_num(v)}" for k, v in law.reference.items())))
    for tag, values in getattr(law, "references", {}).items():
        lines += _field(f"Reported values ({escape(tag)})",
                        escape(", ".join(f"{k} = {_num(v)}" for k, v in values.items())))
    c = law.citation
    if c is not None:
        venue = f" {escape(c.venue)}." if c.venue else ""
        lines += _field("Source", f"{escape(c.authors)} ({c.year}). *{escape(c.title)}*.{venue} "
                                  f"`arXiv:{c.arxiv} <https://arxiv.org/abs/{c.arxiv}>`__, "
                                  f"{escape(c.equation)}.")
        if c.aliases:
            lines += _field("Earlier titles", "; ".join(f"*{escape(a)}*" for a in c.aliases))
        if c.checked:
            lines += _field("Checked", escape(c.checked))
    else:
        lines += _field("Source", "none recorded (a law registered without a citation)")
    if law.notes:
        lines += _field("Notes", escape(law.notes))
    return lines


def render_catalog(laws) -> str:
    """The whole catalog page body: a table of every law, then a section per law."""
    rows = []
    for name, law in laws.items():
        source = escape(law.citation.short()) if law.citation is not None else "user law"
        rows.append([f":ref:`{escape(name)} <{label(name)}>`", escape(law.output), source])
    lines = [f"The catalog holds {len(rows)} laws.  ``print(lawfit.laws)`` lists them in a terminal, "
             "``print(lawfit.laws[name])`` shows one in full and ``lawfit laws NAME`` does the same "
             "from the command line.", ""]
    lines += _table(["law", "predicts", "source"], rows, "25 40 35")
    for name, law in laws.items():
        lines += render_law(name, law)
    return "\n".join(lines) + "\n"


def setup(app):
    """Register the ``lawfit-catalog`` directive."""
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective
    from sphinx.util.nodes import nested_parse_with_titles
    from docutils import nodes

    class CatalogDirective(SphinxDirective):
        """``.. lawfit-catalog::`` -- the catalog rendered from ``lawfit.laws``."""

        has_content = False

        def run(self):
            from lawfit.catalog import laws

            text = render_catalog(laws)
            node = nodes.section()
            node.document = self.state.document
            nested_parse_with_titles(self.state, StringList(text.splitlines(), source="lawfit.laws"), node)
            return node.children

    app.add_directive("lawfit-catalog", CatalogDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
