"""``lawfit.curve_fit``: scipy.optimize.curve_fit's signature, semantics and messages, batched.

A single fit behaves as scipy's: the same arguments, defaults, errors,
messages, warnings and ``full_output``; scipy's own ``TestCurveFit`` runs
against it in the test suite.  What lawfit adds or does differently (see the
docstring's Notes):

* a Python model written with numpy operations is traced into a law program
  with exact derivatives (cached per model; :mod:`lawfit.tracing`); a model
  that cannot be traced is called from Python with finite differences, as
  scipy does, and ``infodict["why"]`` says why;
* with exact derivatives the fit is finished to the precision of float64
  after scipy's stopping test (a few more evaluations);
* every method name runs lawfit's Levenberg-Marquardt (bounded problems use
  projected steps instead of scipy's trust-region reflective algorithm);
  ``method`` decides the messages, ``ier`` codes and the covariance rule;
* a 2-D ``ydata`` (or a list of arrays) means *many independent fits*, not one
  fit of a flattened array; ``f`` may be a formula string.
"""
from __future__ import annotations

import functools
import inspect
import math
import warnings
from collections import OrderedDict

import numpy as np

from .engine.core import polished_batch, solve_batch
from .engine.covariance import (free_block_inverse, modified_jtj, scaled_covariance, scaled_inverse,
                                single_covariance)
from .engine.checks import finite_rows
from .engine.data import rows_data
from .engine.device import to_host
from .engine.options import Options
from .engine.retry import degenerate, degenerate_one, refused, retry
from .engine.single import SingleSolution, residual_columns, residuals, solve_function, solve_program
from .formula import compile_law
from .status import Status, is_converged, status_message, user_stacklevel, warn_failures
from .tracing import traced_model

__all__ = ["curve_fit", "optimize_warning"]  # and OptimizeWarning, looked up on first use

_SOLVER_KEYS = ("ftol", "xtol", "gtol", "maxfev", "max_nfev", "n_threads", "device", "jit", "loss", "f_scale")
# Options scipy passes on to leastsq or least_squares that choose how it computes rather than what
# it fits: finite-difference steps (lawfit's derivatives are exact for formulas and traced models),
# variable scaling (lawfit scales by the Jacobian's column norms, MINPACK's rule and least_squares'
# x_scale='jac'), the trust-region linear solver (the systems are small and dense) and printing.
# Accepted so that scipy code runs unchanged; they do not change the fit.
_IGNORED_KEYS = ("epsfcn", "factor", "diag", "col_deriv", "diff_step", "x_scale", "tr_solver", "tr_options",
                 "jac_sparsity", "verbose")
# least_squares' robust losses (scipy's names; f_scale is lawfit's delta).
_LOSSES = {"linear": "l2", "huber": "huber", "soft_l1": "soft_l1", "cauchy": "cauchy", "arctan": "arctan"}
_JAC_STRINGS = ("2-point", "3-point", "cs")
_METHODS = ("lm", "trf", "dogbox")


# ----------------------------------------------------------------------------- OptimizeWarning


class _OptimizeWarning(UserWarning):
    """The covariance of the parameters could not be estimated (scipy's class when scipy is installed)."""


_warning_class: list = []


def optimize_warning() -> type:
    """scipy.optimize.OptimizeWarning when scipy is installed (imported on first use), else lawfit's own.

    lawfit does not import scipy at import time; the class is looked up when
    ``lawfit.OptimizeWarning`` is first read or the first warning is issued,
    so that filters written for scipy's class catch lawfit's warnings.
    """
    if not _warning_class:
        try:
            from scipy.optimize import OptimizeWarning as cls
        except ImportError:  # pragma: no cover - scipy is optional
            cls = _OptimizeWarning
        _warning_class.append(cls)
    return _warning_class[0]


def __getattr__(name: str):
    if name == "OptimizeWarning":
        return optimize_warning()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- scipy's messages


def _lm_message(status: int, ftol: float, xtol: float, gtol: float, maxfev: int) -> tuple[int, str]:
    """(ier, message) as scipy.optimize.leastsq reports them (MINPACK's info codes)."""
    s = Status(status)
    if s is Status.CONVERGED_FTOL:
        return 1, ("Both actual and predicted relative reductions in the sum of squares\n"
                   f"  are at most {ftol:f}")
    if s is Status.CONVERGED_XTOL:
        return 2, f"The relative error between two consecutive iterates is at most {xtol:f}"
    if s is Status.CONVERGED_FTOL_XTOL:
        return 3, ("Both actual and predicted relative reductions in the sum of squares\n"
                   f"  are at most {ftol:f} and the relative error between two consecutive "
                   f"iterates is at \n  most {xtol:f}")
    if s is Status.CONVERGED_GTOL:
        return 4, ("The cosine of the angle between func(x) and any column of the\n"
                   f"  Jacobian is at most {gtol:f} in absolute value")
    if s is Status.MAX_EVALUATIONS:
        return 5, f"Number of calls to function has reached maxfev = {maxfev}."
    if s is Status.STALLED:
        return 6, (f"ftol={ftol:f} is too small, no further reduction in the sum of squares\n"
                   "  is possible.")
    return 0, status_message(s)


_LSQ_MESSAGES = {
    Status.CONVERGED_GTOL: (1, "`gtol` termination condition is satisfied."),
    Status.CONVERGED_FTOL: (2, "`ftol` termination condition is satisfied."),
    Status.CONVERGED_XTOL: (3, "`xtol` termination condition is satisfied."),
    Status.CONVERGED_FTOL_XTOL: (4, "Both `ftol` and `xtol` termination conditions are satisfied."),
    Status.STALLED: (2, "`ftol` termination condition is satisfied."),
    Status.MAX_EVALUATIONS: (0, "The maximum number of function evaluations is exceeded."),
}


def _message(method: str, status: int, opts: dict, n: int) -> tuple[int, str, bool]:
    """(ier, mesg, success) of one fit, in the words of scipy's solver for ``method``."""
    if opts is _DEFAULT_OPTIONS:  # the common case: one dict look-up
        key = (method, status, n)
        out = _DEFAULT_MESSAGES.get(key)
        if out is None:
            out = _DEFAULT_MESSAGES[key] = _cached_message(method, int(status), opts["ftol"], opts["xtol"],
                                                           opts["gtol"], opts["max_nfev"] or 100 * (n + 1))
        return out
    return _cached_message(method, int(status), opts["ftol"], opts["xtol"], opts["gtol"],
                           opts["max_nfev"] or 100 * (n + 1))


_DEFAULT_MESSAGES: dict = {}  # _message's results with the default options (few: methods x statuses x P)


@functools.lru_cache(maxsize=256)
def _cached_message(method: str, status: int, ftol: float, xtol: float, gtol: float, maxfev: int):
    if method == "lm":
        ier, mesg = _lm_message(status, ftol, xtol, gtol, maxfev)
        return ier, mesg, 1 <= ier <= 4
    ier, mesg = _LSQ_MESSAGES.get(Status(status), (-1, status_message(status)))
    return ier, mesg, ier > 0


# ----------------------------------------------------------------------------- arguments


def _solver_options(kwargs: dict) -> dict:
    if "args" in kwargs:
        raise ValueError("'args' is not a supported keyword argument.")
    if len(kwargs) > len(set(kwargs) & set(_SOLVER_KEYS)):
        unknown = set(kwargs) - set(_SOLVER_KEYS) - set(_IGNORED_KEYS) - {"inputs", "param_names"}
        if unknown:
            raise TypeError(f"curve_fit() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    max_nfev = kwargs.get("max_nfev")
    if max_nfev is None:
        max_nfev = kwargs.get("maxfev")
    loss = kwargs.get("loss", "linear")
    if callable(loss) or loss not in _LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, _LOSSES))} (a callable loss is not supported), "
                         f"got {loss!r}")
    f_scale = float(kwargs.get("f_scale", 1.0))  # least_squares' default
    if not (math.isfinite(f_scale) and f_scale > 0):
        raise ValueError(f"`f_scale` must be positive, got {f_scale!r}")
    opts = {
        "ftol": float(kwargs.get("ftol", Options.ftol)),
        "xtol": float(kwargs.get("xtol", Options.xtol)),
        "gtol": float(kwargs.get("gtol", Options.gtol)),
        "max_nfev": int(max_nfev or 0),
        "jit": kwargs.get("jit", Options.jit),  # batches of formula laws only (lawfit.solve_batch)
        "loss": _LOSSES[loss],
        "delta": f_scale,
    }
    for k in ("ftol", "xtol", "gtol"):
        if not (math.isfinite(opts[k]) and opts[k] >= 0):
            raise ValueError(f"{k} must be a non-negative finite number, got {opts[k]!r}")
    return opts


def _input_names(xdata, inputs) -> list[str]:
    if isinstance(xdata, dict):
        return list(xdata)
    if inputs is not None:
        return list(inputs)
    x = xdata if type(xdata) is np.ndarray else np.asarray(xdata)
    return ["x"] if x.ndim <= 1 else [f"x{i}" for i in range(x.shape[0])]


def _x_matrix(xdata, names: list[str]) -> np.ndarray:
    """Inputs of a formula law as a (n_inputs, M) float array in the order of ``names``."""
    if isinstance(xdata, dict):
        missing = [n for n in names if n not in xdata]
        if missing:
            raise ValueError(f"xdata has no input {missing[0]!r}")
        return np.vstack([np.asarray(xdata[n], dtype=float).ravel() for n in names])
    x = np.asarray(xdata, dtype=float)
    if x.ndim <= 1:
        return x.reshape(1, -1)
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(f"xdata must have shape ({len(names)}, M), got {x.shape}")
    return x


_FORMULAS: "OrderedDict[tuple, object]" = OrderedDict()


def _formula_program(f: str, xdata, inputs, param_names):
    """A formula string compiled for ``xdata``'s inputs (compiled once per formula and names)."""
    names = _input_names(xdata, inputs)
    key = (f, tuple(names), None if param_names is None else tuple(param_names))
    program = _FORMULAS.get(key)
    if program is None:
        program = _FORMULAS[key] = compile_law(f, inputs=names, params=param_names)
        while len(_FORMULAS) > 256:
            _FORMULAS.popitem(last=False)
    return program


def _n_params_from_signature(f) -> int:
    params = [
        p for p in inspect.signature(f).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) < 2:
        raise ValueError("Unable to determine number of fit parameters.")
    return len(params) - 1


def _prepare_bounds(bounds, n: int, n_problems: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(lb, ub) of shape (n,), or (K, n) in a batch of ``n_problems`` K when either is given per problem."""
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
        lb, ub = bounds.lb, bounds.ub
    else:
        try:
            lb, ub = bounds
        except (TypeError, ValueError):
            raise ValueError("`bounds` must contain 2 elements.") from None
    lb, ub = np.asarray(lb, dtype=float), np.asarray(ub, dtype=float)
    per_problem = n_problems is not None and max(lb.ndim, ub.ndim) == 2
    shape = (n_problems, n) if per_problem else (n,)
    try:
        lb, ub = np.broadcast_to(lb, shape).copy(), np.broadcast_to(ub, shape).copy()
    except ValueError:
        rows = f" or ({n_problems}, {n}) (a row per problem)" if n_problems is not None else ""
        raise ValueError(f"bounds must have shape ({n},){rows} or be scalars, got lower {lb.shape} and "
                         f"upper {ub.shape}") from None
    if np.any(lb >= ub):
        raise ValueError("Each lower bound must be strictly less than each upper bound.")
    return lb, ub


def _feasible_start(lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """scipy's default p0: ones, moved inside one-sided or two-sided bounds."""
    p0 = np.ones_like(lb)
    lo, hi = np.isfinite(lb), np.isfinite(ub)
    both = lo & hi
    p0[both] = 0.5 * (lb[both] + ub[both])
    p0[lo & ~hi] = lb[lo & ~hi] + 1
    p0[~lo & hi] = ub[~lo & hi] - 1
    return p0


_add_reduce = np.add.reduce  # ndarray.sum without its Python wrapper
_F64 = np.dtype(np.float64)  # float64 arrays' dtype (``is``: no comparison; an equal one takes the long way)
_SMALL = 256  # values summed as Python floats by _as_float


def _as_float(a, check_finite: bool) -> np.ndarray:
    """``np.asarray(a, float)``, or ``np.asarray_chkfinite`` (its error and message) when checking."""
    if not (type(a) is np.ndarray and a.dtype is _F64):
        a = np.asarray(a, dtype=float)
    if check_finite:
        # A finite sum means finite values; an infinite one may be overflow: look closer.  Small arrays
        # are summed as Python floats (cheaper than a reduction; no warning on overflow or inf - inf).
        if a.size <= _SMALL:
            total = sum((a if a.ndim == 1 else a.ravel()).tolist())
        else:
            total = _add_reduce(a, None)
        if not math.isfinite(total) and not np.isfinite(a).all():
            raise ValueError("array must not contain infs or NaNs")
    return a


def _check_nan_policy(nan_policy):
    if nan_policy == "propagate":
        raise ValueError("`nan_policy='propagate'` is not supported by this function.")
    if nan_policy not in (None, "raise", "omit"):
        raise ValueError("nan_policy must be one of {None, 'raise', 'omit'}")


def _inverse_variance(sigma) -> np.ndarray:
    """1 / sigma**2; sigma = 0 gives an infinite weight, whose problem the solver fails (BAD_INPUT or a
    non-finite start), without numpy's divide-by-zero warning."""
    with np.errstate(divide="ignore", over="ignore"):
        return 1.0 / np.asarray(sigma, dtype=float) ** 2


def _sigma_transform(sigma, m: int):
    """(weight per point, inverse Cholesky factor or None) from curve_fit's sigma."""
    if sigma is None:
        return None, None
    sigma = np.asarray(sigma, dtype=float)
    if sigma.size == 1 or sigma.shape == (m,):
        return np.broadcast_to(_inverse_variance(sigma.ravel()), (m,)).copy(), None
    if sigma.shape == (m, m):
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError as e:
            raise ValueError("`sigma` must be positive definite.") from e
        return None, np.linalg.inv(chol)
    raise ValueError("`sigma` has incorrect shape.")


def _apply_nan_policy(xdata, ydata, sigma, nan_policy):
    """scipy's rule: a point is dropped when y or any of its inputs is NaN (the last axis of xdata)."""
    if isinstance(xdata, dict):
        x_nan = np.zeros(ydata.shape, bool)
        for v in xdata.values():
            x_nan |= np.isnan(np.asarray(v, float)).reshape(ydata.shape)
    elif isinstance(xdata, np.ndarray):
        isnan = np.isnan(xdata)
        x_nan = isnan.any(axis=tuple(range(isnan.ndim - 1))) if isnan.ndim > 1 else isnan
    else:
        x_nan = np.zeros(ydata.shape, bool)
    has_nan = x_nan | np.isnan(ydata)
    if not has_nan.any():
        return xdata, ydata, sigma
    if nan_policy == "raise":
        raise ValueError("The input contains nan values")
    keep = ~has_nan
    if isinstance(xdata, dict):
        xdata = {k: np.asarray(v, float)[keep] for k, v in xdata.items()}
    elif isinstance(xdata, np.ndarray):
        xdata = xdata[..., keep]
    if sigma is not None:
        sigma = np.asarray(sigma)
        if sigma.ndim == 1:
            sigma = sigma[keep]
        elif sigma.ndim == 2:
            sigma = sigma[np.ix_(keep, keep)]
    return xdata, ydata[keep], sigma


# ----------------------------------------------------------------------------- the fit

_INF_BOUNDS = (-np.inf, np.inf)  # curve_fit's default (the same object: recognised by identity)


def curve_fit(
    f,
    xdata,
    ydata,
    p0=None,
    sigma=None,
    absolute_sigma=False,
    check_finite=None,
    bounds=_INF_BOUNDS,
    method=None,
    jac=None,
    *,
    full_output=False,
    nan_policy=None,
    **kwargs,
):
    """Use non-linear least squares to fit a function, f, to data.

    Same signature, defaults, results, messages and warnings as
    :func:`scipy.optimize.curve_fit`; additionally fits many problems at once
    and accepts formula strings.

    Parameters
    ----------
    f : callable or str
        The model ``f(x, *params)``, or a formula such as ``"a*exp(-b*x) + c"``
        whose inputs are named by ``xdata`` (``x`` for 1-D data, ``x0, x1, ...``
        for rows of 2-D data, the keys of a dict) and whose remaining names are
        the parameters in order of first appearance.  A function written with
        numpy operations is traced into a law program with exact derivatives
        (see :func:`lawfit.trace`); others are called from Python.
    xdata : array_like or dict
        Independent variable(s): shape (M,), (k, M) or (M, k), or a dict of
        arrays (passed to ``f`` as it is).  For a batch, one array shared by
        every problem or a list of K arrays.
    ydata : array_like
        Dependent data, shape (M,) or anything that broadcasts against the
        model's values (``ydata=0``).  A 2-D array (K, M) or a list of K
        arrays (lengths may differ) fits K independent problems in one call.
    p0 : array_like, optional
        Initial guess, shape (P,) (shared) or (K, P) for a batch.  Default: ones,
        moved inside the bounds (as scipy).
    sigma : None or array_like, optional
        Uncertainty of ydata: shape (M,) standard deviations or (M, M)
        covariance, as scipy.  For a batch, one array per problem (1-D only).
    absolute_sigma : bool, optional
        If True, sigma is absolute and pcov is not rescaled by the reduced
        chi-square.
    check_finite : bool, optional
        Raise ValueError if the data hold NaN or inf (default True unless
        nan_policy is given).  In a batch the default is False and a problem
        with non-finite data gets the status ``BAD_INPUT`` instead.
    bounds : 2-tuple of array_like or scipy.optimize.Bounds, optional
        Lower and upper bounds on parameters (projected LM steps); in a batch
        each may also be a (K, n) array, a row per problem.
    method : {None, 'lm', 'trf', 'dogbox'}, optional
        All methods run lawfit's Levenberg-Marquardt; the method decides the
        messages and ``ier`` codes (leastsq's for 'lm', least_squares' for the
        others) and the covariance rule, as in scipy.  Default 'lm', or 'trf'
        with bounds; 'lm' with bounds raises as in scipy.
    jac : callable or {'2-point', '3-point', 'cs'}, optional
        ``jac(x, *params)`` returning the (M, P) Jacobian: ``f`` and ``jac``
        are then called from Python as scipy calls them.  A string is
        accepted for any method: exact derivatives are used when ``f`` is
        traced, forward differences otherwise.
    full_output : bool, optional
        Also return ``infodict, mesg, ier``.
    nan_policy : {None, 'raise', 'omit'}, optional
        As scipy: 'omit' drops points with NaN, 'raise' raises.
    **kwargs
        ``ftol``, ``xtol``, ``gtol``, ``maxfev``/``max_nfev`` as leastsq;
        ``loss`` ('linear', 'huber', 'soft_l1', 'cauchy', 'arctan') and
        ``f_scale`` as least_squares (methods 'trf' and 'dogbox'; ``pcov``
        from least_squares' modified Jacobian, as scipy);
        scipy's options for how it computes (``epsfcn``, ``diff_step``,
        ``x_scale``, ``factor``, ``diag``, ``col_deriv``, ``tr_solver``,
        ``tr_options``, ``jac_sparsity``, ``verbose``) are accepted and do not
        change the fit; and
        ``n_threads`` (batch threads, default all cores), ``device`` ('cpu',
        'cuda' or 'auto'; batches only, default 'cpu'); for a formula string
        ``inputs`` (names of the rows of a 2-D xdata), ``param_names`` (the
        parameters in the order of p0; default: order of first appearance)
        and ``jit`` (batches: True compiles the law to machine code first;
        'auto', the default, runs compiled code when the law is a catalog
        law's program, else interprets; see :func:`lawfit.solve_batch`).

    Returns
    -------
    popt : ndarray
        Optimal parameters, (P,) or (K, P) for a batch (NaN rows where a
        problem did not converge; see ``status``).
    pcov : ndarray
        Covariance of popt, (P, P) or (K, P, P); inf where it cannot be
        estimated (with an OptimizeWarning, as scipy).
    status : ndarray of int, batch only
        Per-problem :class:`lawfit.Status` codes.
    infodict, mesg, ier
        With ``full_output=True``.  A single fit's ``infodict`` holds scipy's
        keys (``nfev``, ``fvec``; with method 'lm' also ``fjac``, ``ipvt`` and
        ``qtf``, all at the solution) and lawfit's: ``nit``, ``cost``
        (weighted sum of squares), ``status``, ``path`` ('formula', 'traced'
        or 'python') and ``why`` (why the model was not traced, else None).
        A batch returns ``status`` messages and codes per problem.

    Raises
    ------
    RuntimeError
        A single fit did not converge (a batch never raises for one problem).
    ValueError
        NaN/inf data with check_finite, bad shapes, sigma not positive definite,
        p0 outside the bounds.
    TypeError
        More parameters than data points (method 'lm').

    Notes
    -----
    Covariance as scipy computes it: the inverse of J^T J for 'lm' (inf, with
    an OptimizeWarning, when a parameter does not affect the model), its
    pseudo-inverse (singular values below ``eps * max(M, P) * s_max``
    dropped) for 'trf' and 'dogbox'; scaled by ``sum(r**2) / (M - P)`` unless
    ``absolute_sigma``.  Tolerances are leastsq's (ftol = xtol = 1.49012e-8,
    gtol = 0, maxfev = 100 * (P + 1) evaluations of value and Jacobian
    together).  With exact derivatives the iteration continues past scipy's
    stopping test until the relative reduction of the cost is below 1e-14 or
    the step below 1e-12 of the parameters (the reported status is the one
    scipy's test gives).

    Examples
    --------
    >>> import numpy as np, lawfit
    >>> x = np.linspace(0, 4, 50)
    >>> y = 2.5 * np.exp(-1.3 * x) + 0.5
    >>> popt, pcov = lawfit.curve_fit(lambda x, a, b, c: a * np.exp(-b * x) + c, x, y)
    >>> np.round(popt, 6)
    array([2.5, 1.3, 0.5])
    >>> popt, pcov, status = lawfit.curve_fit("a*exp(-b*x) + c", x, np.vstack([y, 2 * y]))
    >>> popt.shape, [lawfit.Status(s).name for s in status]
    ((2, 3), ['CONVERGED_XTOL', 'CONVERGED_XTOL'])
    """
    opts = _solver_options(kwargs) if kwargs else _DEFAULT_OPTIONS
    # GPU arrays (CuPy, PyTorch...) are copied to the host once: the input
    # matrix is built with numpy.  lawfit.solve_batch reads them in place.
    if type(xdata) is not np.ndarray:
        xdata = to_host(xdata)
    if type(ydata) is not np.ndarray:
        ydata = to_host(ydata)
    if sigma is not None:
        sigma = to_host(sigma)
    if ydata.ndim == 2 if type(ydata) is np.ndarray else _is_batch(ydata):
        _check_nan_policy(nan_policy)
        return _curve_fit_batch(
            f, xdata, ydata, p0, sigma, absolute_sigma, check_finite, bounds, method, jac,
            full_output, nan_policy, opts, kwargs.get("inputs"), kwargs.get("n_threads"),
            kwargs.get("param_names"), kwargs.get("device", "cpu"),
        )
    if not kwargs:
        return _curve_fit_single(f, xdata, ydata, p0, sigma, absolute_sigma, check_finite, bounds, method,
                                 jac, full_output, nan_policy, opts, None, None)
    return _curve_fit_single(f, xdata, ydata, p0, sigma, absolute_sigma, check_finite, bounds, method,
                             jac, full_output, nan_policy, opts, kwargs.get("inputs"),
                             kwargs.get("param_names"))


_BAD_INPUT = int(Status.BAD_INPUT)
_NON_FINITE = int(Status.NON_FINITE)
_CONVERGED_CODES = frozenset(int(c) for c in (Status.CONVERGED_FTOL, Status.CONVERGED_XTOL,
                                              Status.CONVERGED_FTOL_XTOL, Status.CONVERGED_GTOL))
_DEFAULT_OPTIONS = {"ftol": Options.ftol, "xtol": Options.xtol, "gtol": Options.gtol,
                    "max_nfev": Options.max_nfev, "jit": Options.jit, "loss": Options.loss, "delta": Options.delta}


_UNBOUNDED: dict = {}
_AS_GIVEN = ("vector", "rows")  # layouts whose float64 xdata is the input matrix's rows as they are


def _unbounded(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(-inf, ..., inf) bounds of n parameters: read-only arrays made once per n."""
    pair = _UNBOUNDED.get(n)
    if pair is None:
        pair = _UNBOUNDED[n] = (np.full(n, -np.inf), np.full(n, np.inf))
        for a in pair:
            a.flags.writeable = False
    return pair


def _is_inf_pair(bounds) -> bool:
    """Whether bounds is the plain pair (-inf, inf) (scipy's default, however spelt)."""
    return (type(bounds) is tuple and len(bounds) == 2 and all(type(b) is float for b in bounds)
            and bounds[0] == -np.inf and bounds[1] == np.inf)


def _curve_fit_single(f, xdata, ydata, p0, sigma, absolute_sigma, check_finite, bounds, method, jac,
                      full_output, nan_policy, opts, inputs, param_names):
    # --- the number of parameters, bounds and method, as scipy determines them
    if p0 is not None:
        if not (type(p0) is np.ndarray and p0.ndim == 1 and p0.dtype is _F64):
            p0 = np.atleast_1d(np.asarray(p0, dtype=float))
        if p0.ndim != 1:
            raise ValueError(f"p0 must be 1-D for a single fit, got shape {p0.shape}")
        n = p0.size
    elif isinstance(f, str):
        n = _formula_program(f, xdata, inputs, param_names).n_params
    else:
        n = _n_params_from_signature(f)
    if bounds is _INF_BOUNDS and method is None:  # scipy's defaults: no bounds, 'lm'
        lb, ub = _unbounded(n)
        bounded, method = False, "lm"
    else:
        if bounds is _INF_BOUNDS or _is_inf_pair(bounds):
            lb, ub = _unbounded(n)
            bounded = False
        else:
            lb, ub = _prepare_bounds(bounds, n)
            bounded = bool(np.any(np.isfinite(lb) | np.isfinite(ub)))
        if method is None:
            method = "trf" if bounded else "lm"
        elif method not in _METHODS:
            raise ValueError("`method` must be 'trf', 'dogbox' or 'lm'.")
        if method == "lm" and bounded:
            raise ValueError("Method 'lm' only works for unconstrained problems. Use 'trf' or 'dogbox' instead.")
    if p0 is None:
        p0 = _feasible_start(lb, ub)
    if jac is not None and not callable(jac) and jac not in _JAC_STRINGS:
        raise ValueError("`jac` must be '2-point', '3-point', 'cs' or callable.")
    if bounded and not np.all((p0 >= lb) & (p0 <= ub)):
        raise ValueError("Initial guess is outside of provided bounds")

    # --- data, as scipy checks it
    if check_finite is None:
        check_finite = nan_policy is None
    ydata = _as_float(ydata, check_finite)
    if isinstance(xdata, (list, tuple, np.ndarray)):
        xdata = _as_float(xdata, check_finite)
    elif isinstance(xdata, dict) and check_finite:
        for v in xdata.values():
            _as_float(v, True)
    if ydata.size == 0:
        raise ValueError("`ydata` must not be empty!")
    if not check_finite and nan_policy is not None:
        _check_nan_policy(nan_policy)
        xdata, ydata, sigma = _apply_nan_policy(xdata, ydata, sigma, nan_policy)
    if method == "lm" and ydata.size != 1 and n > ydata.size:
        raise TypeError(f"The number of func parameters={n} must not"
                        f" exceed the number of data points={ydata.size}")
    weight, whiten = (None, None) if sigma is None else _sigma_transform(sigma, ydata.size)
    robust = opts["loss"] != "l2"
    if robust and method == "lm":
        raise TypeError(_ROBUST_NEEDS_TRF)

    # --- the model: a law program (formula or traced) or the Python function
    program, layout, why, restarts, inverse = None, None, None, 0, None
    if isinstance(f, str):
        program, path = _formula_program(f, xdata, inputs, param_names), "formula"
        if program.n_params != n:
            raise ValueError(f"p0 has {n} values but the model has {program.n_params} parameters "
                             f"({', '.join(program.param_names)})")
    elif callable(jac):
        path, why = "python", "jac is a callable: f and jac are called from Python"
    else:
        traced = traced_model(f, xdata, p0, ydata.size if ydata.size > 1 else None)
        program, layout, why = traced.program, traced.layout, traced.why
        path = "traced" if program is not None else "python"

    if program is not None:
        k = len(program.input_names)
        if type(xdata) is np.ndarray and xdata.dtype is _F64 and (
                layout.kind in _AS_GIVEN if layout is not None else
                xdata.ndim == 1 and k == 1 or xdata.ndim == 2 and len(xdata) == k):
            x = xdata  # (M,) or (k, M): the input matrix reads it as it is
        elif layout is None:
            x = _x_matrix(xdata, program.input_names)
        else:
            x = layout.matrix(xdata)
        m = x.shape[-1]
        y = ydata if ydata.ndim == 1 else ydata.ravel()
        if y.size == 1:
            _check_lm_size(method, n, m)
        if y.size != m:
            if y.size != 1:
                raise ValueError(f"xdata has {m} points but ydata has {y.size}")
            y = np.full(m, y[0])
            weight = None if weight is None else np.full(m, weight[0])
        if robust and whiten is None:
            res_cols = residual_columns(x, y, weight, program)
            sol = _robust_single(program, res_cols[:program.n_columns], y, weight, p0, lb, ub, opts)
        elif whiten is None:
            res_cols = residual_columns(x, y, weight, program)  # the law's columns, then y (and sqrt(w))
            sol = solve_program(program, res_cols, y, weight, p0, lb, ub, ftol=opts["ftol"], xtol=opts["xtol"],
                                gtol=opts["gtol"], max_nfev=opts["max_nfev"])
            converged = sol.status in _CONVERGED_CODES
            # the scaled inverse: the singular-J^T-J test's and the covariance's
            inverse = scaled_inverse(sol.jtj) if converged else None
            if (not converged and sol.status != _BAD_INPUT) or (
                    converged and degenerate_one(sol.cost, sol.params, p0, sol.jtj, y, weight, inverse)):
                first = sol
                sol, restarts = _second_chance(program, res_cols[:program.n_columns], y, weight, p0, lb, ub, opts,
                                               sol)
                if sol is not first:
                    inverse = None
        else:
            columns = program.input_matrix(x)
            fun = _whitened_program(program, columns, y, whiten)
            sol = solve_function(fun, p0, lb, ub, ftol=opts["ftol"], xtol=opts["xtol"], gtol=opts["gtol"],
                                 max_nfev=opts["max_nfev"], exact=True, loss=opts["loss"], delta=opts["delta"])
    else:
        fun = _PythonResiduals(f, xdata, ydata, weight, whiten, jac if callable(jac) else None)
        if method == "lm" and ydata.size == 1:  # leastsq sizes the residuals by one call first
            fun(p0)
            _check_lm_size(method, n, fun.m)
        sol = solve_function(fun, p0, lb, ub, ftol=opts["ftol"], xtol=opts["xtol"], gtol=opts["gtol"],
                             max_nfev=opts["max_nfev"], exact=callable(jac), loss=opts["loss"], delta=opts["delta"])
        m = fun.m

    def at(p):
        """Weighted residuals and Jacobian at ``p`` by the path that fitted (full_output's fvec)."""
        if program is None:
            return fun.at(p)
        if whiten is None:
            return residuals(program, res_cols[:program.n_columns], y, weight, p)
        return _whitened_program(program, columns, y, whiten)(p)

    status = sol.status
    ier, mesg, success = _message(method, status, opts, n)
    if status == _BAD_INPUT:
        raise ValueError("xdata holds NaN or inf (use check_finite or nan_policy)")
    if status == _NON_FINITE and method != "lm" and sol.nfev <= 1:
        with np.errstate(all="ignore"):
            start_ok = bool(np.isfinite(at(p0)[0]).all())
        if not start_ok:  # least_squares checks the residuals at p0 first ('lm': MINPACK returns p0; we raise below)
            raise ValueError("Residuals are not finite in the initial point.")
    if not success:
        raise RuntimeError("Optimal parameters not found: " + mesg)

    popt = sol.params
    # scipy's robust covariance inverts least_squares' modified Jacobian at the solution, not the IRLS matrix.
    jtj = modified_jtj(*at(popt), opts["loss"], opts["delta"]) if robust else sol.jtj
    pcov, bad = single_covariance(jtj, sol.cost, m, absolute_sigma, "inf" if method == "lm" else "pinv",
                                  inverse)
    if bad:
        warnings.warn("Covariance of the parameters could not be estimated",
                      category=optimize_warning(), stacklevel=user_stacklevel())
    if not full_output:
        return popt, pcov
    fvec, J = at(popt)
    infodict = {"nfev": sol.nfev, "fvec": fvec}
    if method == "lm":
        infodict.update(_minpack_qr(J, fvec) if J is not None else {})
    if program is not None or callable(jac):
        infodict["njev"] = sol.nfev
    infodict.update(nit=sol.nit, cost=2.0 * sol.cost, status=Status(status), path=path, why=why,
                    restarts=restarts)
    return popt, pcov, infodict, mesg, ier


def _check_lm_size(method: str, n: int, m: int) -> None:
    """leastsq's refusal of fewer residuals than parameters, for a scalar ``ydata`` broadcast to the
    model's ``m`` values (curve_fit's own test, before, covers an array ``ydata``)."""
    if method == "lm" and n > m:
        raise TypeError(f"Improper input: func input vector length N={n} must not exceed "
                        f"func output vector length M={m}")


_ROBUST_NEEDS_TRF = ("a robust loss needs method='trf' or 'dogbox', as in scipy (leastsq, method 'lm', has no "
                     "loss argument)")


def _robust_single(program, columns, y, weight, p0, lb, ub, opts):
    """One fit of a law program with least_squares' robust ``loss`` and ``f_scale`` (the core's loss
    and delta; the IRLS matrix, which reaches the optimum where Triggs' can stop short: see
    solve_batch's robust_hessian), on this thread."""
    sol = polished_batch(program, columns, y, np.array([0, y.size], dtype=np.int64), p0[None], weight=weight,
                         lower=lb[None], upper=ub[None], ftol=opts["ftol"], xtol=opts["xtol"], gtol=opts["gtol"],
                         max_nfev=opts["max_nfev"], jit=opts["jit"], loss=opts["loss"], delta=opts["delta"],
                         n_threads=1, device="cpu")
    return SingleSolution(sol.params[0], float(sol.cost[0]), int(sol.nit[0]), int(sol.nfev[0]),
                          int(sol.status[0]), sol.jtj[0], True)


def _second_chance(program, columns, y, weight, p0, lb, ub, opts, sol):
    """A single fit's :func:`lawfit.engine.retry.retry`, finished on this thread; (solution, starts tried)."""
    options = Options(ftol=opts["ftol"], xtol=opts["xtol"], gtol=opts["gtol"], max_nfev=opts["max_nfev"],
                      device="cpu")
    best, found, tried = retry(program, columns, y, np.array([0, y.size]), weight, p0[None], lb[None], ub[None],
                               [0], options)
    if found[0]:
        second = solve_program(program, columns, y, weight, best[0], lb, ub, ftol=opts["ftol"], xtol=opts["xtol"],
                               gtol=opts["gtol"], max_nfev=opts["max_nfev"])
        # A candidate whose term ran away (B -> -1e82 with beta -> 1e78 makes B / D**beta underflow to 0)
        # is no answer: the problem keeps its first status (scipy's, e.g. maxfev reached).
        if second.status in _CONVERGED_CODES and (sol.status not in _CONVERGED_CODES or second.cost < sol.cost) \
                and not refused(np.array([second.cost]), second.params[None], p0[None], best, second.jtj[None], y,
                                weight, None, lb, ub)[0]:
            return second, tried
    return sol, tried


def _whitened_program(program, columns, y, whiten):
    """Residuals and Jacobian of a law program under a 2-D sigma: ``W (f - y)``, ``W J``."""
    res_cols = residual_columns(columns, y, None)

    def fun(p):
        r, J = residuals(program, res_cols[:-1], res_cols[-1], None, p)
        return whiten @ r, whiten @ J

    return fun


class _PythonResiduals:
    """Weighted residuals ``f(xdata, *p) - ydata`` (and ``jac``'s Jacobian) of a model called from Python.

    ``ydata`` broadcasts against the model's values, as in scipy.  The core
    adds forward differences when there is no ``jac``.  The evaluation of
    lowest cost (the solution's, when it was evaluated without a difference
    step) is kept, so that ``fvec`` costs no extra call of the model.
    """

    def __init__(self, f, xdata, ydata, weight, whiten, jac):
        self.f, self.xdata, self.ydata, self.jac = f, xdata, ydata, jac
        self.scale = None if weight is None else np.sqrt(weight)
        self.whiten = whiten
        self.m = ydata.size
        self.best = (np.inf, None, None, None)

    def _transform(self, a):
        if self.scale is not None:
            return a * (self.scale if a.ndim == 1 else self.scale[:, None])
        return self.whiten @ a if self.whiten is not None else a

    def __call__(self, p):
        r = self._transform((np.asarray(self.f(self.xdata, *p), dtype=float) - self.ydata).ravel())
        self.m = r.size
        J = None
        if self.jac is not None:
            J = self._transform(np.atleast_2d(np.asarray(self.jac(self.xdata, *p), dtype=float))
                                .reshape(r.size, -1))
        cost = float(r @ r)
        if cost < self.best[0]:
            self.best = (cost, np.array(p, copy=True), r, J)
        return r if J is None else (r, J)

    def at(self, p):
        """(fvec, J) at ``p``: from the kept evaluation, or one more call (J by differences without jac)."""
        _, bp, r, J = self.best
        if bp is None or not np.array_equal(bp, p):
            out = self(p)
            r, J = out if isinstance(out, tuple) else (out, None)
        if J is None:
            J = _forward_differences(self, p, r)
        return r, J


def _forward_differences(fun, p, r):
    J = np.empty((r.size, p.size))
    for j in range(p.size):
        h = math.sqrt(np.finfo(float).eps) * (abs(p[j]) or 1.0)
        q = np.array(p, dtype=float)
        q[j] += h
        out = fun(q)
        J[:, j] = ((out[0] if isinstance(out, tuple) else out) - r) / h
    return J


def _minpack_qr(J: np.ndarray, fvec: np.ndarray) -> dict:
    """leastsq's ``fjac``, ``ipvt`` and ``qtf`` at the solution.

    MINPACK's QR factorisation of J with column pivoting: ``ipvt`` orders the
    columns by decreasing remaining norm (greedy Householder pivoting;
    0-based, as scipy's leastsq returns it), ``fjac`` is the (P, M) array whose transpose holds R in its
    upper triangle and the Householder vectors below it (LAPACK's ``geqrf``
    layout, as numpy's ``qr(mode='raw')`` returns it), ``qtf`` is the first P
    entries of Q^T fvec.
    """
    A = np.array(J, dtype=float)
    m, n = A.shape
    perm = np.arange(n)
    work = A.copy()
    for k in range(min(m, n)):
        norms = np.einsum("ij,ij->j", work[k:, k:], work[k:, k:])
        j = k + int(np.argmax(norms))
        if j != k:
            work[:, [k, j]] = work[:, [j, k]]
            perm[[k, j]] = perm[[j, k]]
        v = work[k:, k].copy()
        alpha = np.linalg.norm(v)
        if alpha == 0.0:
            continue
        v[0] += math.copysign(alpha, v[0])
        v /= np.linalg.norm(v)
        work[k:, k:] -= 2.0 * np.outer(v, v @ work[k:, k:])
    h, _ = np.linalg.qr(A[:, perm], mode="raw")
    q = np.linalg.qr(A[:, perm], mode="reduced")[0]
    return {"fjac": h, "ipvt": perm.astype(np.int32), "qtf": q.T @ fvec}


# ----------------------------------------------------------------------------- batches


def _is_batch(ydata) -> bool:
    if type(ydata) is np.ndarray:
        return ydata.ndim == 2
    if isinstance(ydata, (list, tuple)):
        return len(ydata) > 0 and all(np.ndim(v) >= 1 for v in ydata)
    return np.ndim(ydata) == 2


def _curve_fit_batch(f, xdata, ydata, p0, sigma, absolute_sigma, check_finite, bounds, method, jac,
                     full_output, nan_policy, opts, inputs, n_threads, param_names, device):
    rect = isinstance(ydata, np.ndarray) and ydata.ndim == 2
    K = len(ydata)
    if K == 0:
        raise ValueError("`ydata` must not be empty!")
    per_problem_x = isinstance(xdata, (list, tuple)) and len(xdata) == K and all(
        isinstance(v, dict) or np.ndim(v) >= 1 for v in xdata)
    first_x = xdata[0] if per_problem_x else xdata

    # Model and parameter count.
    why = None
    if isinstance(f, str):
        program = _formula_program(f, first_x, inputs, param_names)
        n = len(program.param_names)
        path = "formula"
    else:
        program = None
        n = np.shape(p0)[-1] if p0 is not None else _n_params_from_signature(f)
    lb, ub = _prepare_bounds(bounds, n, K)
    if p0 is None:
        p0 = _feasible_start(lb, ub)
    p0 = np.asarray(p0, dtype=float)
    if p0.shape not in ((n,), (K, n)):
        raise ValueError(f"p0 must have shape ({n},) or ({K}, {n}), got {p0.shape}")
    p0 = np.ascontiguousarray(np.broadcast_to(p0, (K, n)))
    if method is not None and method not in _METHODS:
        raise ValueError("`method` must be 'trf', 'dogbox' or 'lm'.")
    if method == "lm" and np.any(np.isfinite(lb) | np.isfinite(ub)):
        raise ValueError("Method 'lm' only works for unconstrained problems. Use 'trf' or 'dogbox' instead.")
    robust = opts["loss"] != "l2"
    if robust and (method or "lm") == "lm" and not np.any(np.isfinite(lb) | np.isfinite(ub)):
        raise TypeError(_ROBUST_NEEDS_TRF)
    layout = None
    if not isinstance(f, str):
        if callable(jac):
            why = "jac is a callable: f and jac are called from Python"
        else:
            sample_x = _row_of(first_x, 0, rect and not per_problem_x)
            if isinstance(sample_x, (list, tuple)):
                sample_x = np.asarray(sample_x, dtype=float)
            sample_y = np.asarray(ydata[0])
            traced = traced_model(f, sample_x, p0[0], sample_y.size if sample_y.size > 1 else None)
            program, layout, why = traced.program, traced.layout, traced.why
        path = "traced" if program is not None else "python"

    if (program is not None and rect and not per_problem_x and nan_policy != "omit"
            and (layout is None or layout.kind != "cols")):
        data = _rectangular_batch(program, xdata, ydata, sigma, check_finite, nan_policy, layout)
    else:
        data = _ragged_batch(program, xdata if per_problem_x else None, first_x, ydata, sigma,
                             check_finite, nan_policy, layout)
    batch_x, y, sizes, weight = data  # the program's input matrix, or (Python path) each problem's x
    restarts = np.zeros(K, dtype=np.int64)
    if program is not None:
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        columns = batch_x
        sol = polished_batch(program, columns, y, offsets, p0, weight=weight,
                             lower=lb, upper=ub, n_threads=n_threads, device=device, **opts)
        if robust:  # scipy's covariance inverts least_squares' modified Jacobian: see _robust_single
            inverse = None
            sol.jtj = solve_batch(program, columns, y, offsets, sol.params, weight=weight, lower=lb, upper=ub,
                                  evaluate_only=True, want_jtj=True, robust_hessian="triggs", loss=opts["loss"],
                                  delta=opts["delta"], n_threads=n_threads, device=device).jtj
        else:
            # the scaled inverses of J^T J: the singular test's and the covariance's (one pass)
            inverse = free_block_inverse(sol.jtj)
            _second_chance_batch(program, columns, y, offsets, weight, p0, lb, ub, opts, sol, restarts, inverse,
                                 n_threads=n_threads, device=device)
        params, cost, nit, nfev, status, jtj = sol.params, sol.cost, sol.nit, sol.nfev, sol.status, sol.jtj
    else:
        params, cost, nit, nfev, status, jtj = _python_batch(f, batch_x, y, weight, p0, lb, ub, jac, opts)
        inverse = None

    ok = is_converged(status)
    pcov, _ = scaled_covariance(jtj, cost, sizes, n, absolute_sigma, "pinv" if robust else "inf", inverse=inverse)
    popt = np.where(ok[:, None], params, np.nan)
    pcov[~ok] = np.nan  # in place (the covariance's own array): no fresh (K, P, P) pages
    warn_failures(status)
    if not full_output:
        return popt, pcov, status
    infodict = {"nfev": nfev, "nit": nit, "cost": 2.0 * cost, "status": status, "x": params, "path": path,
                "why": why, "restarts": restarts}
    return popt, pcov, infodict, [status_message(s) for s in status], status.copy()


def _second_chance_batch(program, columns, y, offsets, weight, p0, lb, ub, opts, sol, restarts, inverse, **where):
    """The single fits' second chance for every problem of a batch that needs it (in place).

    ``inverse``: :func:`~lawfit.engine.covariance.free_block_inverse` of ``sol.jtj``, kept current (in
    place) for the problems whose solution changes."""
    ok = is_converged(sol.status)
    failed = ~ok & (sol.status != _BAD_INPUT) & np.isfinite(p0).all(axis=1)
    if ok.any():
        rows = np.flatnonzero(ok)
        y_rows, w_rows, sub_offsets = rows_data(y, weight, offsets, rows)
        every = slice(None) if rows.size == len(ok) else rows  # all converged: views, not (K, P, P) copies
        flat = degenerate(sol.cost[every], sol.params[every], p0[every], sol.jtj[every], y_rows, w_rows, sub_offsets,
                          inverse=(inverse[0][every], inverse[1][every]))
        failed[rows[flat]] = True
    rows = np.flatnonzero(failed)
    if not rows.size:
        return
    options = Options(ftol=opts["ftol"], xtol=opts["xtol"], gtol=opts["gtol"], max_nfev=opts["max_nfev"],
                      device="cpu", n_threads=where.get("n_threads"))
    best, found, tried = retry(program, columns, y, offsets, weight, p0, np.broadcast_to(lb, p0.shape),
                               np.broadcast_to(ub, p0.shape), rows, options)
    restarts[rows] = tried
    rows, best = rows[found], best[found]
    if not rows.size:
        return
    per_row = [b if b is None or np.ndim(b) < 2 else np.asarray(b)[rows] for b in (lb, ub)]  # bounds per problem
    second = polished_batch(program, columns, y, offsets, best, problem_law=rows, weight=weight, lower=per_row[0],
                            upper=per_row[1], ftol=opts["ftol"], xtol=opts["xtol"], gtol=opts["gtol"],
                            max_nfev=opts["max_nfev"], jit=opts["jit"], **where)
    better = is_converged(second.status) & (~is_converged(sol.status[rows]) | (second.cost < sol.cost[rows]))
    if better.any():  # refuse plateaus and valleys, as a single fit does (_second_chance)
        y_rows, w_rows, sub_offsets = rows_data(y, weight, offsets, rows)
        better &= ~refused(second.cost, second.params, p0[rows], best, second.jtj, y_rows, w_rows, sub_offsets,
                           per_row[0], per_row[1])
    take = rows[better]
    sol.params[take], sol.cost[take], sol.status[take] = second.params[better], second.cost[better], \
        second.status[better]
    sol.jtj[take] = second.jtj[better]
    if take.size:
        inverse[0][take], inverse[1][take] = free_block_inverse(sol.jtj[take])
    sol.nit[take] += second.nit[better]
    sol.nfev[take] += second.nfev[better]


def _row_of(x, k, per_row):
    """Problem k's inputs when inputs are given as (K, M) arrays, else x itself."""
    if not per_row:
        return x
    if isinstance(x, dict):
        return {name: (v[k] if np.ndim(v) == 2 else v) for name, v in x.items()}
    return x


def _check_batch_finite(finite_rows, check_finite, nan_policy):
    bad = np.flatnonzero(~finite_rows)
    if bad.size and check_finite:
        raise ValueError(f"problem {bad[0]}: data hold NaN or inf ({bad.size} problems in all)")
    if bad.size and nan_policy == "raise":
        raise ValueError(f"problem {bad[0]}: the input contains nan values ({bad.size} problems in all)")


def _problem_matrix(program, layout, x) -> np.ndarray:
    return layout.matrix(x) if layout is not None else _x_matrix(x, program.input_names)


def _rectangular_batch(program, xdata, Y, sigma, check_finite, nan_policy, layout):
    """K problems of M points each, inputs shared (M,) or per problem (K, M): no Python loop."""
    K, M = Y.shape
    names = program.input_names
    if isinstance(xdata, dict):
        keys = layout.keys if layout is not None and layout.kind == "mapping" else names
        raw = [np.asarray(xdata[name], dtype=float) for name in keys]
    else:
        x = np.asarray(xdata, dtype=float)
        raw = [x] if x.ndim <= 1 or (x.ndim == 2 and len(names) == 1 and x.shape == (K, M)) else list(x)
    if len(raw) != len(names):
        raise ValueError(f"xdata must provide {len(names)} inputs ({', '.join(names)}), got {len(raw)}")
    # The inputs go straight into the rows of the program's input matrix (its hoisted rows are
    # filled after): no stacked copy of K x M points in between.
    matrix = np.empty((program.n_columns, K * M))
    for i, (name, a) in enumerate(zip(names, raw)):
        if a.shape not in ((M,), (K, M)):
            raise ValueError(f"input {name!r} must have shape ({M},) or ({K}, {M}) to match ydata, got {a.shape}")
        matrix[i].reshape(K, M)[...] = a
    x_rows = matrix[:len(names)]
    Y = np.asarray(Y, dtype=float)
    # the usual all-finite case settled by a sum each, without (K, M) bool temporaries
    finite = finite_rows(Y) & finite_rows(x_rows.reshape(len(names), K, M).transpose(1, 0, 2))
    _check_batch_finite(finite, check_finite, nan_policy)
    weight = None
    if sigma is not None:
        s = np.asarray(sigma, dtype=float)
        if s.shape not in ((M,), (K, M)):
            raise ValueError(f"sigma must have shape ({M},) or ({K}, {M}) in a batch, got {s.shape}")
        weight = _inverse_variance(np.broadcast_to(s, (K, M))).ravel()
    return program.input_matrix(x_rows, out=matrix), Y.ravel(), np.full(K, M), weight  # hoisted rows in place


def _ragged_batch(program, xs, shared_x, ydata, sigma, check_finite, nan_policy, layout):
    """Problems of any lengths: per-problem arrays concatenated (a loop over problems)."""
    K = len(ydata)
    names = program.input_names if program is not None else None
    sigmas = [None] * K if sigma is None else list(sigma)
    if len(sigmas) != K:
        raise ValueError(f"sigma must hold one array per problem ({K}), got {len(sigmas)}")
    xm, ys, ws = [], [], []
    finite_rows = np.ones(K, bool)
    for k in range(K):
        y = np.asarray(ydata[k], dtype=float).ravel()
        xk = xs[k] if xs is not None else shared_x
        x = _problem_matrix(program, layout, xk) if names is not None else xk
        if names is not None and x.shape[1] != y.size:
            raise ValueError(f"problem {k}: xdata has {x.shape[1]} points but ydata has {y.size}")
        finite = np.isfinite(y) & (np.isfinite(x).all(axis=0) if names is not None else True)
        s = sigmas[k]
        if s is not None and np.ndim(s) > 1:
            raise ValueError("a batch takes 1-D sigma per problem (2-D covariance only for single fits)")
        if not np.all(finite):
            finite_rows[k] = False
            if nan_policy == "omit":
                y = y[finite]
                x = x[:, finite] if names is not None else x[..., finite]
                s = None if s is None else np.broadcast_to(np.asarray(s, float), finite.shape)[finite]
        ws.append(None if s is None else np.broadcast_to(_inverse_variance(s), y.shape))
        xm.append(x)
        ys.append(y)
    if nan_policy != "omit":
        _check_batch_finite(finite_rows, check_finite, nan_policy)
    sizes = np.array([y.size for y in ys], dtype=np.int64)
    if names is None:  # Python path keeps per-problem lists
        return xm, ys, sizes, ws
    weight = None
    if any(w is not None for w in ws):
        weight = np.concatenate([np.ones(n) if w is None else w for w, n in zip(ws, sizes)])
    x_rows = np.hstack(xm) if K else np.zeros((len(names), 0))
    return program.input_matrix(x_rows), np.concatenate(ys), sizes, weight


def _python_batch(f, xs, ys, weights, p0, lb, ub, jac, opts):
    """Batch of an untraceable function: one callback fit per problem (slow path)."""
    K, n = p0.shape
    robust = opts["loss"] != "l2"
    params = p0.copy()
    cost = np.zeros(K)
    nit = np.zeros(K, np.int32)
    nfev = np.zeros(K, np.int32)
    status = np.full(K, int(Status.BAD_INPUT), np.int32)
    jtj = np.zeros((K, n, n))
    exact = callable(jac)
    for k in range(K):
        if ys[k].size < n or not np.all(np.isfinite(ys[k])) or not np.all(np.isfinite(p0[k])):
            continue
        fun = _PythonResiduals(f, xs[k], ys[k], weights[k], None, jac if exact else None)
        try:
            sol = solve_function(fun, p0[k], lb if lb.ndim == 1 else lb[k], ub if ub.ndim == 1 else ub[k],
                                 ftol=opts["ftol"], xtol=opts["xtol"], gtol=opts["gtol"],
                                 max_nfev=opts["max_nfev"], exact=exact, loss=opts["loss"], delta=opts["delta"])
            if robust and sol.status in _CONVERGED_CODES:  # scipy's covariance: the modified Jacobian's
                sol.jtj = modified_jtj(*fun.at(sol.params), opts["loss"], opts["delta"])
        except (ValueError, FloatingPointError, ZeroDivisionError):
            status[k] = int(Status.NON_FINITE)
            continue
        params[k], cost[k], nit[k], nfev[k], status[k], jtj[k] = (sol.params, sol.cost, sol.nit, sol.nfev,
                                                                 sol.status, sol.jtj)
    return params, cost, nit, nfev, status, jtj

