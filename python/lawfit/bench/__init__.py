"""The benchmark suite behind ``lawfit bench`` (``python bench/run.py`` in a checkout).

:func:`main` runs it from a command line; :mod:`lawfit.bench.suite` holds the
benchmarks, :mod:`lawfit.bench.core` the rows, the reference solutions and
the peers (scipy, lmfit; both optional imports), :mod:`lawfit.bench.report`
the Markdown, JSON and PNG output.  See :mod:`lawfit.bench.runner` for the
options and the expected durations.
"""
from .runner import main

__all__ = ["main"]
