"""The catalog: named laws, a table view, `register_law`, and the ``lawfit laws`` command."""
from __future__ import annotations

import argparse
import difflib
import re
import sys
from typing import Iterator, Mapping

from ._display import catalog_table
from .law import Law

__all__ = ["Catalog", "laws", "register_law", "main_laws"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")


class Catalog(Mapping):
    """Named laws.  ``print(catalog)`` lists them; ``catalog[name]`` is one `Law`.

    Examples
    --------
    >>> from lawfit.catalog import laws
    >>> laws["chinchilla"].formula
    'E + A/N**alpha + B/D**beta'
    >>> "kaplan_ND" in laws
    True
    """

    def __init__(self):
        self._laws: dict[str, Law] = {}

    def __getitem__(self, name: str) -> Law:
        try:
            return self._laws[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), list(self._laws), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; print(lawfit.laws) lists them"
            raise KeyError(f"no law named {name!r}{hint}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._laws)

    def __len__(self) -> int:
        return len(self._laws)

    def add(self, name: str, law: Law, *, replace: bool = False) -> Law:
        """Store ``law`` under ``name`` (a copy named ``name``) and return it."""
        if not isinstance(law, Law):
            raise TypeError(f"expected a lawfit Law, got {type(law).__name__}")
        if not _NAME.match(name):
            raise ValueError(f"law names start with a letter and use letters, digits, _ . -: {name!r}")
        if name in self._laws and not replace:
            raise ValueError(f"a law named {name!r} exists; pass replace=True to overwrite it")
        if law.name != name:
            law = law.replace(name=name)
        self._laws[name] = law
        return law

    def remove(self, name: str) -> Law:
        """Take a law out of the catalog and return it."""
        law = self[name]
        del self._laws[name]
        return law

    def search(self, text: str) -> list[str]:
        """Names of the laws whose name, output, formula, authors, title (or an earlier
        title of the same paper), arXiv id or notes contain every word of ``text``
        (case-insensitive).

        Examples
        --------
        >>> from lawfit.catalog import laws
        >>> laws.search("unlock predictable scaling")      # Hu et al.'s first title
        ['passuntil']
        >>> laws.search("2203.15556")[:2]
        ['chinchilla', 'chinchilla_lse']
        """
        words = [w for w in str(text).lower().split() if w]
        hits = []
        for name, law in self._laws.items():
            c = law.citation
            fields = [name, law.output, law.formula, law.notes]
            if c is not None:
                fields += [c.authors, c.title, c.arxiv, c.equation, str(c.year), *c.aliases]
            hay = " ".join(fields).lower()
            if all(w in hay for w in words):
                hits.append(name)
        return hits

    def table(self) -> str:
        """The catalog as a text table."""
        return catalog_table(self._laws)

    def __repr__(self) -> str:
        return self.table()

    __str__ = __repr__


#: The built-in catalog (entries are added by ``lawfit.catalog.entries_*``).
laws = Catalog()


def register_law(name: str, law: Law, *, replace: bool = False) -> Law:
    """Add a user law to ``lawfit.laws`` so it can be named like a built-in one.

    Examples
    --------
    >>> from lawfit.catalog import Law, laws, register_law
    >>> _ = register_law("my_power", Law("k*x**p", inputs=["x"]), replace=True)
    >>> laws["my_power"].params
    ('k', 'p')
    """
    return laws.add(name, law, replace=replace)


def main_laws(argv=None) -> int:
    """``lawfit laws [NAME]``: list the catalog, or show one law in full.

    Returns the exit status (0, or 2 for an unknown name).
    """
    parser = argparse.ArgumentParser(
        prog="lawfit laws",
        description="List the scaling laws of the catalog, or show one in full.",
        epilog="examples:\n  lawfit laws\n  lawfit laws chinchilla",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", nargs="?", help="a law to show in full")
    args = parser.parse_args(argv)
    if args.name is None:
        print(laws.table())
        return 0
    try:
        print(laws[args.name])
    except KeyError as exc:
        print(f"lawfit laws: {exc.args[0]}", file=sys.stderr)
        return 2
    return 0
