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
outcome codes), :mod:`lawfit.methods` (Approach 2, variable projection, chained
and Pareto-front fits, asymmetric least squares).  ``lawfit demo`` on the command line fits a synthetic
collection of 1,000 Chinchilla laws.
"""
from .engine.native import MAX_PARAMS, Status
from .status import LawfitWarning, status_message, summarize_status
from . import uncertainty
from .api import fit
from .evaluate import Evaluation, evaluate
from .result import FitResult
from .bootstrap import BootstrapResult, Replicates, bootstrap
from .catalog import Law, fit_shared, laws, lr_areas, register_law
from .multistart import MultistartResult, fit_multistart, grid_starts, latin_hypercube_starts, sobol_starts
from .curve_fit import OptimizeWarning, curve_fit
from .engine.core import BatchSolution, solve_batch
from .formula import Program, compile_law, parse
from . import methods

__version__ = "0.1.0"

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
