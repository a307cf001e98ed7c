"""Test tiers, and what this machine offers.

Markers (registered in pyproject.toml, ``--strict-markers``):

* ``slow`` -- more than a few seconds on 2 cores (builds, reports, coverage
  studies); left out of the default tier, run by ``.ci/run``'s second pass;
* ``sanitizers`` -- the C++ core's tests under ASan/UBSan and valgrind (a
  CMake build of its own); like ``slow``;
* ``gpu`` -- needs a usable CUDA device: skipped here without one;
* ``data`` -- reads the released data sets (``$LAWFIT_DATA``, else
  ``../shared/data``): skipped where they are absent.

Layout: one folder per part of the package -- ``engine/`` (lawfit.engine: the
core's driver, reductions, JIT and its cache, the generated catalog, the stub,
the C++ tests), ``api/`` (lawfit.fit, evaluate, FitResult, plots, the CLI and
bad input at every entry point), ``curve_fit/`` (curve_fit, tracing, scipy's
own tests, bounded fits), ``catalog/``, ``methods/``, ``uncertainty/``
(multistart, bootstrap, covariances), ``formula/`` (the law language, fuzzing),
``datasets/`` (loaders and reproductions of published fits), ``acceptance/``
(NIST StRD), ``bench/`` and ``docs/``.  Shared helpers live here (``_env``,
``nist_scoring``, ``nist_models``, ``bounded_collection``); this folder is on
``sys.path`` because pytest puts a conftest's folder there.

README's command (``python -m pytest -q tests``) runs the default tier,
``-m "not slow and not sanitizers"`` (pyproject's addopts); ``-m slow``,
``-m sanitizers`` or ``-m "slow or sanitizers"`` picks the others, ``-m ""``
everything.
"""
from __future__ import annotations

import os

import pytest

from _env import HAS_GPU, data_root

# The package's loaders read $LAWFIT_DATA; the tests find ../shared/data beside the
# repository without it (as CI has it), so tell the loaders where that is.
if not os.environ.get("LAWFIT_DATA") and data_root().is_dir():
    os.environ["LAWFIT_DATA"] = str(data_root())

# jit='auto' builds user laws on a background thread once their work adds up; the
# suite's many small laws would each start a compiler, so only the test of that turns it on.
os.environ.setdefault("LAWFIT_JIT_BACKGROUND", "0")


def pytest_report_header(config):
    root = data_root()
    return [f"lawfit: GPU {'usable' if HAS_GPU else 'none (gpu tests skip)'}; released data "
            f"{'at ' + str(root) if root.is_dir() else 'absent (data tests skip)'}; "
            f"markers: -m {config.getoption('markexpr')!r}"]


def pytest_collection_modifyitems(config, items):
    no_gpu = pytest.mark.skip(reason="no usable CUDA device")
    root = data_root()
    no_data = pytest.mark.skip(reason=f"the released data sets are not at {root} (set LAWFIT_DATA)")
    for item in items:
        if item.get_closest_marker("gpu") is not None and not HAS_GPU:
            item.add_marker(no_gpu)
        if item.get_closest_marker("data") is not None and not root.is_dir():
            item.add_marker(no_data)
