"""Sphinx configuration of lawfit's documentation site.

Build it from the repository root (the package installed, then the ``docs``
dependency group)::

    pip install --group docs
    sphinx-build -W --keep-going -b html docs build/docs

Why Sphinx rather than MkDocs: lawfit's docstrings are numpydoc style, which
numpydoc renders the way scipy, numpy and iminuit users already read them;
autodoc imports the package, so it documents the names as a user reaches them
(``lawfit/__init__.py`` loads them lazily, and the Python layer sits over the
compiled ``lawfit._core``, known to static analysis only through its ``.pyi``
stub); and Sphinx is the scientific-Python ecosystem's convention.  myst-parser
keeps the Markdown guides in docs/ as they are, so tests/docs/test_docs.py
still runs them.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import lawfit  # noqa: E402  (the installed package; autodoc and the catalog page read it)

project = "lawfit"
author = "lawfit developers"
copyright = "lawfit developers"  # noqa: A001
release = lawfit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "lawfit_catalog",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# docs/README.md is the folder's index on GitHub; the site has index.rst instead.
exclude_patterns = ["README.md", "_build"]

# Markdown guides: rendered as written, never executed here (tests/docs/test_docs.py
# runs them, with the released data where present).  Headings get anchors for links.
myst_heading_anchors = 3

# Autodoc documents the public Python layer; lawfit._core is compiled and not documented.
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's "Parameters" sections carry the types
autodoc_default_options = {"exclude-members": "__init__, __new__"}

numpydoc_show_class_members = False  # members are listed explicitly in api.rst
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

nitpicky = False

html_theme = "furo"
html_title = f"lawfit {release}"
html_static_path: list[str] = []
