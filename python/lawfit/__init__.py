"""lawfit: fit thousands of scaling laws at once.

One Levenberg-Marquardt solver (C++, header-only, shared with the GPU back
end) runs laws x starting points x resamples as one batch on all CPU cores.

>>> import numpy as np, lawfit
>>> x = np.linspace(1, 10, 30)
>>> popt, pcov = lawfit.curve_fit("a*x**-b + c", x, 3 * x**-0.5 + 1)
>>> np.round(popt, 6)
array([3. , 0.5, 1. ])

Main entry points: :func:`fit` (a table of training runs in, a
:class:`FitResult` out: parameters, intervals, predictions, frontier, plots,
report), :func:`evaluate` (extrapolation checks), :func:`curve_fit`
(scipy's signature, batched),
:data:`laws` (the catalog of published scaling laws, each with its formula,
bounds, start grid, derived quantities and citation), :class:`Law`,
:func:`compile_law` (formula -> law program), :class:`Status` (per-problem
outcome codes), :func:`trace` (the law program of a Python model),
:mod:`lawfit.methods` (Approach 2, variable projection, chained and Pareto-front
fits, asymmetric least squares).
``lawfit demo`` on the command line fits a synthetic collection of 1,000
Chinchilla laws.

Nothing is loaded at ``import lawfit`` beyond this file: every name is
imported from its module on first use (numpy, the compiled core, pandas and
scipy only when something needs them).
"""
from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first use).
_SOURCES = {
    "fit": "api", "FitResult": "result", "evaluate": "evaluate", "Evaluation": "evaluate",
    "curve_fit": "curve_fit", "solve_batch": "engine.core", "BatchSolution": "engine.core",
    "compile_law": "formula", "parse": "formula", "Program": "formula", "trace": "tracing",
    "Status": "engine.native", "MAX_PARAMS": "engine.native", "status_message": "status",
    "summarize_status": "status", "LawfitWarning": "status",
    "laws": "catalog", "Law": "catalog", "register_law": "catalog", "fit_shared": "catalog",
    "lr_areas": "catalog", "fit_multistart": "multistart", "grid_starts": "multistart",
    "sobol_starts": "multistart", "latin_hypercube_starts": "multistart",
    "MultistartResult": "multistart", "bootstrap": "bootstrap", "BootstrapResult": "bootstrap",
    "Replicates": "bootstrap",
}

__all__ = [
    "fit",
    "FitResult",
    "evaluate",
    "Evaluation",
    "curve_fit",
    "solve_batch",
    "BatchSolution",
    "compile_law",
    "parse",
    "Program",
    "trace",
    "Status",
    "status_message",
    "summarize_status",
    "LawfitWarning",
    "OptimizeWarning",
    "MAX_PARAMS",
    "laws",
    "Law",
    "register_law",
    "fit_shared",
    "lr_areas",
    "fit_multistart",
    "grid_starts",
    "sobol_starts",
    "latin_hypercube_starts",
    "bootstrap",
    "MultistartResult",
    "BootstrapResult",
    "Replicates",
    "uncertainty",
    "methods",
]


def __getattr__(name: str):
    if name == "OptimizeWarning":  # scipy's class when scipy is installed, looked up on first use
        return importlib.import_module(".curve_fit", __name__).optimize_warning()
    source = _SOURCES.get(name)
    if source is None:
        if name in ("uncertainty", "methods"):
            return importlib.import_module("." + name, __name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{source}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """``lawfit`` itself: ``lawfit.curve_fit``, ``lawfit.evaluate`` and ``lawfit.bootstrap`` are the
    functions, although each lives in a submodule of the same name.

    Importing a submodule sets it as an attribute of its package; here the
    function it defines is set instead, whenever the submodule is first
    imported (the submodule stays in ``sys.modules``).
    """

    def __setattr__(self, name, value):
        if (isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}"
                and _SOURCES.get(name) == name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
