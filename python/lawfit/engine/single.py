"""One problem, solved on the calling thread: ``curve_fit``'s single fits.

:func:`lawfit.engine.core.solve_batch` runs problems on worker threads, and
starting a thread costs more than a small fit.  A single fit runs the core's
Levenberg-Marquardt (``solve_callback``) on the calling thread instead.  For
a law program, the callable the core calls is ``functools.partial`` of the
core's own evaluator on the *residual program*: the law's code followed by
``- y`` (and ``* sqrt(w)``), with ``y`` and ``sqrt(w)`` as two more input
columns.  Every evaluation then returns residuals and their exact Jacobian
without running a Python frame.

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
from .options import POLISH_FTOL, POLISH_XTOL

__all__ = ["SingleSolution", "solve_program", "solve_function", "restart_program", "degenerate",
           "residual_columns", "residuals", "RESTART_STARTS", "RESTART_DECADES", "RESTART_PRUNE"]

#: curve_fit's second chance (:func:`restart_program`): starts over p0 * 10**[-3, 3], LM from the best 16.
RESTART_STARTS = 64
RESTART_DECADES = 3.0
RESTART_PRUNE = 16

_INPUT, _SUB, _MUL = int(_core.Op.INPUT), int(_core.Op.SUB), int(_core.Op.MUL)
_CONVERGED = frozenset(int(s) for s in (_core.Status.CONVERGED_FTOL, _core.Status.CONVERGED_XTOL,
                                        _core.Status.CONVERGED_FTOL_XTOL, _core.Status.CONVERGED_GTOL))
_MAX_EVALUATIONS = int(_core.Status.MAX_EVALUATIONS)
_RESIDUAL_CODE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
    per_program = _RESIDUAL_CODE.get(program)
    if per_program is None:
        per_program = _RESIDUAL_CODE[program] = {}
    code = per_program.get(weighted)
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
    n, m = columns.shape if program is None else (program.n_columns, columns.shape[-1])
    out = np.empty((n + 1 + (weight is not None), m))
    if program is None:
        out[:n] = columns
    else:
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


def _tolerances(ftol: float, xtol: float, polish: bool) -> tuple[float, float, bool]:
    if not polish:
        return ftol, xtol, False
    ft, xt = min(ftol, POLISH_FTOL), min(xtol, POLISH_XTOL)
    return ft, xt, (ft, xt) != (ftol, xtol)


def _solve(fun, p0, lower, upper, ftol, xtol, gtol, max_nfev, polish) -> SingleSolution:
    ft, xt, tighter = _tolerances(ftol, xtol, polish)
    x, cost, nit, nfev, status, jtj = _core.solve_callback(fun, p0, None, lower, upper, ft, xt, gtol, max_nfev)
    if tighter and status == _MAX_EVALUATIONS:
        # Did the scipy-equivalent run (a prefix of this one) converge?
        loose = _core.solve_callback(fun, p0, None, lower, upper, ftol, xtol, gtol, max_nfev)
        if loose[4] in _CONVERGED:
            status = loose[4]
            if not loose[1] >= cost:  # never the case when both runs follow the same path
                x, cost, nit, nfev, _, jtj = loose
            # scipy's test stopped in a slow valley the finish had not left: one more budget from there.
            more = _core.solve_callback(fun, x, None, lower, upper, ft, xt, gtol, max_nfev)
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
    fun = functools.partial(_core.evaluate, code, program.consts, program.n_params,
                            columns if columns.shape[0] == code_columns(program, weight)
                            else residual_columns(columns, y, weight))
    return _solve(fun, p0, lower, upper, ftol, xtol, gtol, max_nfev, polish)


def code_columns(program, weight) -> int:
    """Rows of the residual program's input matrix."""
    return program.n_columns + 1 + (weight is not None)


def solve_function(fun, p0: np.ndarray, lower: np.ndarray, upper: np.ndarray, *, ftol: float, xtol: float,
                   gtol: float, max_nfev: int, exact: bool) -> SingleSolution:
    """Fit residuals from a Python callable ``fun(p) -> r`` or ``(r, J)`` (exact: J given)."""
    return _solve(fun, p0, lower, upper, ftol, xtol, gtol, max_nfev, exact)


def degenerate(sol: SingleSolution, p0: np.ndarray, y: np.ndarray, weight: np.ndarray | None) -> bool:
    """Whether a converged fit sits where Levenberg-Marquardt stops but a better optimum is likely.

    Two signs, both of a plateau rather than a minimum: the fit is no better
    than the best constant (weighted R^2 <= 0 to rounding: NIST's BoxBOD and
    MGH10 from their first starts), or a parameter has no effect (moving it
    by its own size, or p0's, changes the residuals by less than 1e-8 of
    their norm: a term of the law switched off, ``B / D**beta`` with beta at 3
    on data where D**-3 ~ 1e-30).
    """
    c2 = 2.0 * sol.cost
    if weight is None:
        s1, s2 = float(y.sum()), float(y @ y)
        total = s2 - s1 * s1 / y.size
    else:
        s1, s2, sw = float(weight @ y), float(weight @ (y * y)), float(weight.sum())
        total = s2 - s1 * s1 / sw
    if total > 0 and c2 >= total * (1.0 - 1e-7):  # cancellation in total: confirm exactly
        w = np.ones_like(y) if weight is None else weight
        d = y - float(w @ y) / float(w.sum())
        total = float(w @ (d * d))
        if total > 0 and c2 >= total * (1.0 - 1e-9):
            return True
    P = p0.size
    floor = 1e-16 * c2  # (1e-8 |r|)^2
    for a, b, col2 in zip(sol.params.tolist(), p0.tolist(), sol.jtj.ravel()[:: P + 1].tolist()):
        scale = max(abs(a), abs(b))
        if scale > 0 and col2 * scale * scale <= floor:
            return True
    return False


def restart_program(program, columns: np.ndarray, y: np.ndarray, weight: np.ndarray | None, p0: np.ndarray,
                    lower: np.ndarray, upper: np.ndarray, *, ftol: float, xtol: float, gtol: float,
                    max_nfev: int) -> tuple[SingleSolution | None, int]:
    """A second chance for a fit that failed from ``p0``: a small multistart around it.

    Used by ``curve_fit`` when Levenberg-Marquardt from ``p0`` does not converge
    (scipy raises there) or converges to a :func:`degenerate` point.
    :data:`RESTART_STARTS` Halton points over ``p0 * 10**[-3, 3]`` and ``p0``
    itself are ranked by their cost, LM runs from the best
    :data:`RESTART_PRUNE` in one batch, and the best converged point is
    finished on this thread.  Returns (solution or None, starts tried).
    """
    from .data import Data
    from .options import Options
    from .starts import log_box_starts, run_starts

    starts = np.vstack([p0, log_box_starts(p0, RESTART_STARTS, RESTART_DECADES, lower, upper)])
    data = Data(program, columns, y, np.array([0, y.size]), weight)
    options = Options(ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev, device="cpu")
    with np.errstate(all="ignore"):
        out = run_starts(data, starts, options, lower=lower[None], upper=upper[None],
                         fixed=np.zeros(p0.size, bool), prune=RESTART_PRUNE, want_jtj=False)
    if not np.isfinite(out.cost[0]):
        return None, len(starts)
    sol = solve_program(program, columns, y, weight, out.params[0], lower, upper, ftol=ftol, xtol=xtol,
                        gtol=gtol, max_nfev=max_nfev)
    return (sol if sol.status in _CONVERGED else None), len(starts)
