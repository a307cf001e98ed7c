"""One problem, solved on the calling thread: ``curve_fit``'s single fits.

:func:`lawfit.engine.core.solve_batch` runs problems on worker threads, and
starting a thread costs more than a small fit.  A single fit runs the core's
Levenberg-Marquardt on the calling thread instead.  For a law program the
core solves the *residual program* (``solve_single``): the law's code
followed by ``- y`` (and ``* sqrt(w)``), with ``y`` and ``sqrt(w)`` as two
more input columns, evaluated block by block in the core with the GIL
released and no Python between evaluations.  A Python callable (an untraced
model, a whitened program) runs through ``solve_callback``, which sums the
normal equations in the same order: the residual program through either
entry point gives the same bits.

The finish (:data:`~lawfit.engine.options.POLISH_FTOL`,
:data:`~lawfit.engine.options.POLISH_XTOL`): when derivatives are exact,
the solver runs with tolerances ``min(user's, polish)``.  Until the user's
(scipy's) stopping test holds, the iterates are the same as with the user's
tolerances (each tight test implies the loose one), so the scipy-equivalent
fit is a prefix of the run; the remaining iterations take the optimum to the
precision of float64 at the cost of a few evaluations.  When the tight run
exhausts its evaluations, the run with the user's tolerances decides whether
the fit converged (its status is reported; the tight run's point, which is
never worse, is kept).
"""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np

from . import native as _core
from .core import loss_code
from .options import POLISH_FTOL, POLISH_XTOL

__all__ = ["SingleSolution", "solve_program", "solve_function", "residual_columns", "residuals", "code_columns"]

_INPUT, _SUB, _MUL = int(_core.Op.INPUT), int(_core.Op.SUB), int(_core.Op.MUL)
_CONVERGED = frozenset(int(s) for s in (_core.Status.CONVERGED_FTOL, _core.Status.CONVERGED_XTOL,
                                        _core.Status.CONVERGED_FTOL_XTOL, _core.Status.CONVERGED_GTOL))
_MAX_EVALUATIONS = int(_core.Status.MAX_EVALUATIONS)
_RESIDUAL_CODE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LAST_RESIDUAL: tuple = (lambda: None, None)  # (weak reference to a program, its residual codes)


@dataclass
class SingleSolution:
    """One problem's result: parameters, 1/2 sum of squared weighted residuals, counts, status, J^T W J."""

    params: np.ndarray
    cost: float
    nit: int
    nfev: int
    status: int
    jtj: np.ndarray
    polished: bool = False


def _residual_code(program, weighted: bool) -> np.ndarray:
    """The law's code, then ``- y`` (column n) and, weighted, ``* sqrt(w)`` (column n + 1)."""
    global _LAST_RESIDUAL
    ref, per_program = _LAST_RESIDUAL
    if ref() is not program:  # not the last call's program (a weak reference's call is cheaper than a lookup)
        per_program = _RESIDUAL_CODE.get(program)
        if per_program is None:
            per_program = _RESIDUAL_CODE[program] = [None, None]
        _LAST_RESIDUAL = (weakref.ref(program), per_program)
    code = per_program[weighted]
    if code is None:
        n = program.n_columns
        tail = [[_INPUT, n], [_SUB, 0]] + ([[_INPUT, n + 1], [_MUL, 0]] if weighted else [])
        code = np.ascontiguousarray(np.vstack([program.code, tail]), dtype=np.int32)
        per_program[weighted] = code
    return code


def residual_columns(columns: np.ndarray, y: np.ndarray, weight: np.ndarray | None, program=None) -> np.ndarray:
    """The residual program's input matrix: the law's columns, ``y``, and ``sqrt(w)`` if weighted.

    With ``program``, ``columns`` are its raw inputs, and the law's columns are
    computed into the matrix (``program.input_matrix``) without a copy.
    """
    if program is None:
        n, m = columns.shape
        out = np.empty((n + 1 + (weight is not None), m))
        out[:n] = columns
    else:
        n = program.n_columns
        out = np.empty((n + 1 + (weight is not None), columns.shape[-1]))
        program.input_matrix(columns, out=out[:n])
    out[n] = y
    if weight is not None:
        np.sqrt(weight, out=out[n + 1])
    return out


def residuals(program, columns: np.ndarray, y: np.ndarray, weight: np.ndarray | None, params) -> tuple:
    """Weighted residuals ``sqrt(w) (f - y)`` (M,) and their Jacobian (M, P) at ``params``."""
    code = _residual_code(program, weight is not None)
    return _core.evaluate(code, program.consts, program.n_params,
                          residual_columns(columns, y, weight), np.ascontiguousarray(params, dtype=np.float64))


@functools.lru_cache(maxsize=64)
def _tolerances(ftol: float, xtol: float, polish: bool) -> tuple[float, float, bool]:
    if not polish:
        return ftol, xtol, False
    ft, xt = min(ftol, POLISH_FTOL), min(xtol, POLISH_XTOL)
    return ft, xt, (ft, xt) != (ftol, xtol)


def _solve(run, p0, lower, upper, ftol, xtol, gtol, max_nfev, polish, first=None) -> SingleSolution:
    """``run(p0, lower, upper, ftol, xtol, gtol, max_nfev)`` -> the core's tuple, with the finish.

    ``first``: the result of the first run, when the caller made it."""
    ft, xt, tighter = _tolerances(ftol, xtol, polish)
    x, cost, nit, nfev, status, jtj = run(p0, lower, upper, ft, xt, gtol, max_nfev) if first is None else first
    if tighter and status == _MAX_EVALUATIONS:
        # Did the scipy-equivalent run (a prefix of this one) converge?
        loose = run(p0, lower, upper, ftol, xtol, gtol, max_nfev)
        if loose[4] in _CONVERGED:
            status = loose[4]
            if not loose[1] >= cost:  # never the case when both runs follow the same path
                x, cost, nit, nfev, _, jtj = loose
            # scipy's test stopped in a slow valley the finish had not left: one more budget from there.
            more = run(x, lower, upper, ft, xt, gtol, max_nfev)
            if more[4] in _CONVERGED and more[1] <= cost:
                x, cost, jtj = more[0], more[1], more[5]
                nit, nfev = nit + more[2], nfev + more[3]
    return SingleSolution(x, float(cost), int(nit), int(nfev), int(status), jtj, tighter)


def solve_program(program, columns: np.ndarray, y: np.ndarray, weight: np.ndarray | None, p0: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray, *, ftol: float, xtol: float, gtol: float,
                  max_nfev: int, polish: bool = True) -> SingleSolution:
    """Fit one law program to ``y`` (weights ``weight``) from ``p0`` on the calling thread.

    ``columns`` is ``program.input_matrix(x)``, or already the residual
    program's matrix (:func:`residual_columns`).  Bounds are projected as in
    the batch solver; ``max_nfev`` 0 means 100 (P + 1) evaluations.
    """
    code = _residual_code(program, weight is not None)
    if columns.shape[0] != code_columns(program, weight):
        columns = residual_columns(columns, y, weight)
    consts, n_params = program.consts, len(program.param_names)
    ft, xt, tighter = _tolerances(ftol, xtol, polish)
    first = _core.solve_single(code, consts, n_params, columns, p0, lower, upper, ft, xt, gtol, max_nfev)
    status = first[4]
    if tighter and status == _MAX_EVALUATIONS:  # the finish's fallbacks
        run = functools.partial(_core.solve_single, code, consts, n_params, columns)
        return _solve(run, p0, lower, upper, ftol, xtol, gtol, max_nfev, polish, first)
    return SingleSolution(first[0], float(first[1]), int(first[2]), int(first[3]), int(status), first[5], tighter)


def code_columns(program, weight) -> int:
    """Rows of the residual program's input matrix."""
    return program.n_columns + 1 + (weight is not None)


def solve_function(fun, p0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, ftol: float, xtol: float,
                   gtol: float, max_nfev: int, exact: bool, loss: str = "l2", delta: float = 1.0) -> SingleSolution:
    """Fit residuals from a Python callable ``fun(p) -> r`` or ``(r, J)`` (exact: J given); ``loss`` and
    ``delta`` a robust loss of the residuals (least_squares' loss and f_scale; IRLS curvature)."""
    code = loss_code(loss)

    def run(p, lo, hi, ft, xt, gt, mx):
        return _core.solve_callback(fun, p, None, lo, hi, ft, xt, gt, mx, code, delta)

    return _solve(run, p0, lower, upper, ftol, xtol, gtol, max_nfev, exact)
