"""The examples in the docstrings run and print what they say (doctest).

A user's first contact with a function is often its example; one that no
longer matches the code (a status name, a rounding) is a bug.
"""
import doctest
import importlib

import pytest

MODULES = ["lawfit", "lawfit.engine.core", "lawfit.curve_fit", "lawfit.multistart", "lawfit.bootstrap",
           "lawfit.uncertainty", "lawfit.api", "lawfit.result", "lawfit.evaluate", "lawfit.catalog",
           "lawfit.catalog.law", "lawfit.catalog.catalog", "lawfit.catalog.shared", "lawfit.catalog.schedules",
           "lawfit.datasets", "lawfit.datasets.registry", "lawfit.datasets.chinchilla"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    pytest.importorskip("pandas")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (run doctest)"
