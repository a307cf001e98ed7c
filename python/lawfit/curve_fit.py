"""``lawfit.curve_fit``: scipy.optimize.curve_fit's signature and semantics, batched.

Where lawfit departs from scipy on purpose (see the docstring's Notes):

* every method name runs lawfit's Levenberg-Marquardt (bounded problems use
  projected steps instead of scipy's trust-region reflective algorithm); the
  ``method`` argument is only checked the way scipy checks it;
* a 2-D ``ydata`` (or a list of arrays) means *many independent fits*, not one
  fit of a flattened array;
* ``f`` may be a formula string, and a Python function written with numpy
  operations is traced into a law program with exact derivatives; functions
  that cannot be traced are called from Python with finite differences, as
  scipy does (``infodict["path"]`` says which path ran).
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from .engine import native as _core
from .engine.device import to_host
from .engine.core import solve_batch
from .engine.covariance import scaled_covariance
from .engine.options import Options
from ._status import CONVERGED, Status, is_converged, status_message, warn_failures
from .formula import compile_law, trace_checked

try:  # so that filters written for scipy's warning also catch ours
    from scipy.optimize import OptimizeWarning
except ImportError:  # pragma: no cover - scipy is optional

    class OptimizeWarning(UserWarning):
        """The covariance of the parameters could not be estimated."""


__all__ = ["curve_fit", "OptimizeWarning"]

_SOLVER_KEYS = ("ftol", "xtol", "gtol", "maxfev", "max_nfev", "n_threads", "device", "jit")


def _solver_options(kwargs: dict) -> dict:
    if "args" in kwargs:
        raise ValueError("'args' is not a supported keyword argument.")
    unknown = set(kwargs) - set(_SOLVER_KEYS) - {"inputs", "param_names"}
    if unknown:
        raise TypeError(f"curve_fit() got unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    opts = {
        "ftol": kwargs.get("ftol", Options.ftol),
        "xtol": kwargs.get("xtol", Options.xtol),
        "gtol": kwargs.get("gtol", Options.gtol),
        "max_nfev": kwargs.get("max_nfev", kwargs.get("maxfev")) or 0,
        "jit": kwargs.get("jit", Options.jit),  # formula laws only (lawfit.solve_batch)
    }
    for k in ("ftol", "xtol", "gtol"):
        if not np.isfinite(opts[k]) or opts[k] < 0:
            raise ValueError(f"{k} must be a non-negative finite number, got {opts[k]!r}")
    return opts


def _input_names(xdata, inputs) -> list[str]:
    if isinstance(xdata, dict):
        return list(xdata)
    if inputs is not None:
        return list(inputs)
    x = np.asarray(xdata)
    return ["x"] if x.ndim <= 1 else [f"x{i}" for i in range(x.shape[0])]


def _x_matrix(xdata, names: list[str]) -> np.ndarray:
    """Inputs as a (n_inputs, M) float array in the order of ``names``."""
    if isinstance(xdata, dict):
        return np.vstack([np.asarray(xdata[n], dtype=float).ravel() for n in names])
    x = np.asarray(xdata, dtype=float)
    if x.ndim <= 1:
        return x.reshape(1, -1)
    if x.ndim != 2 or x.shape[0] != len(names):
        raise ValueError(f"xdata must have shape ({len(names)}, M), got {x.shape}")
    return x


def _n_params_from_signature(f) -> int:
    params = [
        p for p in inspect.signature(f).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) < 2:
        raise ValueError("Unable to determine number of fit parameters.")
    return len(params) - 1


def _prepare_bounds(bounds, n: int) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
        lb, ub = bounds.lb, bounds.ub
    else:
        try:
            lb, ub = bounds
        except (TypeError, ValueError):
            raise ValueError("bounds must be a pair (lower, upper)") from None
    lb = np.broadcast_to(np.asarray(lb, dtype=float), (n,)).copy()
    ub = np.broadcast_to(np.asarray(ub, dtype=float), (n,)).copy()
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


class _Model:
    """The model as lawfit will run it: a law program if possible, else the callable."""

    def __init__(self, f, xdata, p0, n, inputs, jac, param_names=None):
        self.func = None if isinstance(f, str) else f
        self.program = None
        if isinstance(f, str):
            self.program = compile_law(f, inputs=_input_names(xdata, inputs), params=param_names)
            self.path = "formula"
        elif jac is None:
            self.program = trace_checked(f, xdata, p0)
            self.path = "traced" if self.program is not None else "python"
        else:
            self.path = "python"
        if self.program is not None and len(self.program.param_names) != n:
            raise ValueError(
                f"p0 has {n} values but the model has {len(self.program.param_names)} parameters "
                f"({', '.join(self.program.param_names)})"
            )

    def values(self, xdata, params):
        if self.program is not None:
            return self.program.evaluate(params, xdata)[0]
        return np.asarray(self.func(xdata, *params), dtype=float)


def _check_nan_policy(nan_policy):
    if nan_policy == "propagate":
        raise ValueError("`nan_policy='propagate'` is not supported by this function.")
    if nan_policy not in (None, "raise", "omit"):
        raise ValueError("nan_policy must be one of {None, 'raise', 'omit'}")


def _sigma_transform(sigma, m: int):
    """(weight per point, inverse Cholesky factor or None) from curve_fit's sigma."""
    if sigma is None:
        return None, None
    sigma = np.asarray(sigma, dtype=float)
    if sigma.size == 1 or sigma.shape == (m,):
        return np.broadcast_to(1.0 / sigma.ravel() ** 2, (m,)).copy(), None
    if sigma.shape == (m, m):
        try:
            chol = np.linalg.cholesky(sigma)
        except np.linalg.LinAlgError as e:
            raise ValueError("`sigma` must be positive definite.") from e
        return None, np.linalg.inv(chol)
    raise ValueError("`sigma` has incorrect shape.")


def curve_fit(
    f,
    xdata,
    ydata,
    p0=None,
    sigma=None,
    absolute_sigma=False,
    check_finite=None,
    bounds=(-np.inf, np.inf),
    method=None,
    jac=None,
    *,
    full_output=False,
    nan_policy=None,
    **kwargs,
):
    """Use non-linear least squares to fit a function, f, to data.

    Same signature, defaults and results as :func:`scipy.optimize.curve_fit`;
    additionally fits many problems at once and accepts formula strings.

    Parameters
    ----------
    f : callable or str
        The model ``f(x, *params)``, or a formula such as ``"a*exp(-b*x) + c"``
        whose inputs are named by ``xdata`` (``x`` for 1-D data, ``x0, x1, ...``
        for rows of 2-D data, the keys of a dict) and whose remaining names are
        the parameters in order of first appearance.
    xdata : array_like or dict
        Independent variable(s): shape (M,) or (k, M), or a dict of arrays.
        For a batch, one array shared by every problem or a list of K arrays.
    ydata : array_like
        Dependent data, shape (M,).  A 2-D array (K, M) or a list of K arrays
        (lengths may differ) fits K independent problems in one call.
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
        Lower and upper bounds on parameters (projected LM steps).
    method : {None, 'lm', 'trf', 'dogbox'}, optional
        Accepted for compatibility; 'lm' with bounds raises as in scipy.  All
        methods run lawfit's Levenberg-Marquardt.
    jac : callable, optional
        ``jac(x, *params)`` returning the (M, P) Jacobian; disables tracing.
    full_output : bool, optional
        Also return ``infodict, mesg, ier`` (ier is the status code, 1-4 on
        success as MINPACK).
    nan_policy : {None, 'raise', 'omit'}, optional
        As scipy: 'omit' drops points with NaN, 'raise' raises.
    **kwargs
        ``ftol``, ``xtol``, ``gtol``, ``maxfev``/``max_nfev`` as leastsq, and
        ``n_threads`` (batch threads, default all cores), ``device`` ('cpu',
        'cuda' or 'auto'; batches only, default 'cpu'); for a formula string
        ``inputs`` (names of the rows of a 2-D xdata), ``param_names`` (the
        parameters in the order of p0; default: order of first appearance)
        and ``jit`` (True or 'auto': compile the law to machine code first,
        see :func:`lawfit.solve_batch`; same results, about 1.3x the speed
        once compiled).

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
        With ``full_output=True`` (replacing ``status`` in a batch):
        ``infodict`` holds ``nfev``, ``nit``, ``fvec`` (single fit), ``cost``
        (weighted sum of squares), ``status`` and ``path`` ('formula',
        'traced' or 'python').

    Raises
    ------
    RuntimeError
        A single fit did not converge (a batch never raises for one problem).
    ValueError
        NaN/inf data with check_finite, bad shapes, sigma not positive definite,
        p0 outside the bounds or of the wrong length.
    TypeError
        More parameters than data points.

    Notes
    -----
    Covariance follows curve_fit's pseudo-inverse of J (singular values below
    ``eps * max(M, P) * s_max`` dropped), scaled by ``sum(r**2) / (M - P)``
    unless ``absolute_sigma``.  Default tolerances are leastsq's
    (ftol = xtol = 1.49012e-8, gtol = 0, maxfev = 100 * (P + 1) evaluations of
    value and Jacobian together).

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
    opts = _solver_options(kwargs)
    _check_nan_policy(nan_policy)
    # GPU arrays (CuPy, PyTorch...) are copied to the host once: the input
    # matrix is built with numpy.  lawfit.solve_batch reads them in place.
    xdata, ydata, sigma = to_host(xdata), to_host(ydata), to_host(sigma)
    if _is_batch(ydata):
        return _curve_fit_batch(
            f, xdata, ydata, p0, sigma, absolute_sigma, check_finite, bounds, method, jac,
            full_output, nan_policy, opts, kwargs.get("inputs"), kwargs.get("n_threads"),
            kwargs.get("param_names"), kwargs.get("device", "cpu"),
        )

    # --- the number of parameters, as scipy determines it
    if p0 is not None:
        p0 = np.atleast_1d(np.asarray(p0, dtype=float))
        if p0.ndim != 1:
            raise ValueError(f"p0 must be 1-D for a single fit, got shape {p0.shape}")
        n = p0.size
    elif isinstance(f, str):
        n = len(compile_law(f, inputs=_input_names(xdata, kwargs.get("inputs")),
                            params=kwargs.get("param_names")).param_names)
    else:
        n = _n_params_from_signature(f)
    lb, ub = _prepare_bounds(bounds, n)
    if p0 is None:
        p0 = _feasible_start(lb, ub)
    bounded = bool(np.any(np.isfinite(lb) | np.isfinite(ub)))
    if method not in (None, "lm", "trf", "dogbox"):
        raise ValueError(f"method {method!r} is not one of None, 'lm', 'trf', 'dogbox'")
    if method == "lm" and bounded:
        raise ValueError("Method 'lm' only works for unconstrained problems. Use 'trf' or 'dogbox' instead.")
    if np.any((p0 < lb) | (p0 > ub)):
        raise ValueError("`x0` is infeasible: p0 lies outside the bounds.")
    if not np.all(np.isfinite(p0)):
        raise ValueError("p0 must be finite.")

    # --- data, as scipy checks it
    if check_finite is None:
        check_finite = nan_policy is None
    ydata = np.asarray_chkfinite(ydata, float) if check_finite else np.asarray(ydata, float)
    if not isinstance(xdata, dict):
        xdata = np.asarray_chkfinite(xdata, float) if check_finite else np.asarray(xdata, float)
    elif check_finite:
        xdata = {k: np.asarray_chkfinite(v, float) for k, v in xdata.items()}
    if ydata.size == 0:
        raise ValueError("`ydata` must not be empty!")
    ydata = ydata.ravel()
    if nan_policy is not None and not check_finite:
        xdata, ydata, sigma = _apply_nan_policy(xdata, ydata, sigma, nan_policy)
    m = ydata.size
    if n > m:
        raise TypeError(f"The number of func parameters={n} must not exceed the number of data points={m}")
    weight, whiten = _sigma_transform(sigma, m)
    model = _Model(f, xdata, p0, n, kwargs.get("inputs"), jac, kwargs.get("param_names"))

    if model.program is not None and whiten is None:
        x = _x_matrix(xdata, model.program.input_names)
        if x.shape[1] != m:
            raise ValueError(f"xdata has {x.shape[1]} points but ydata has {m}")
        sol = solve_batch(
            model.program, model.program.input_matrix(x), ydata, np.array([0, m]), p0,
            weight=weight, lower=lb, upper=ub, n_threads=1, **opts,
        )
        popt, cost, nit, nfev = sol.params[0], sol.cost[0], int(sol.nit[0]), int(sol.nfev[0])
        status, jtj = Status(int(sol.status[0])), sol.jtj[0]
    else:
        fun = _residual_function(model, xdata, ydata, weight, whiten, jac)
        popt, cost, nit, nfev, code, jtj = _core.solve_callback(
            fun, p0, None, lb, ub, opts["ftol"], opts["xtol"], opts["gtol"], int(opts["max_nfev"])
        )
        status = Status(int(code))
    if status == Status.BAD_INPUT:
        raise ValueError("xdata holds NaN or inf (use check_finite or nan_policy)")
    if status not in CONVERGED:
        raise RuntimeError("Optimal parameters not found: " + status_message(status))

    pcov, bad = scaled_covariance(jtj, cost, m, n, absolute_sigma)
    if bad:
        warnings.warn("Covariance of the parameters could not be estimated", OptimizeWarning, stacklevel=2)
    if not full_output:
        return popt, pcov
    fvec = model.values(xdata, popt) - ydata
    if weight is not None:
        fvec = fvec * np.sqrt(weight)
    elif whiten is not None:
        fvec = whiten @ fvec
    infodict = {"nfev": nfev, "nit": nit, "fvec": fvec, "cost": 2.0 * cost,
                "status": status, "path": model.path}
    return popt, pcov, infodict, status_message(status), int(status)


def _apply_nan_policy(xdata, ydata, sigma, nan_policy):
    xmat = np.vstack([np.asarray(v, float) for v in xdata.values()]) if isinstance(xdata, dict) else np.asarray(xdata)
    has_nan = np.isnan(ydata) | np.isnan(xmat.reshape(-1, ydata.size)).any(axis=0)
    if not has_nan.any():
        return xdata, ydata, sigma
    if nan_policy == "raise":
        raise ValueError("The input contains nan values")
    keep = ~has_nan
    if isinstance(xdata, dict):
        xdata = {k: np.asarray(v, float)[keep] for k, v in xdata.items()}
    else:
        xdata = xdata[..., keep]
    if sigma is not None:
        sigma = np.asarray(sigma)
        if sigma.ndim == 1 and sigma.size == keep.size:
            sigma = sigma[keep]
        elif sigma.ndim == 2:
            sigma = sigma[np.ix_(keep, keep)]
    return xdata, ydata[keep], sigma


def _residual_function(model: _Model, xdata, ydata, weight, whiten, jac):
    """Weighted residuals (and Jacobian when known) for the Python-callback path."""
    scale = None if weight is None else np.sqrt(weight)
    x_program = None
    if model.program is not None:
        x_program = model.program.input_matrix(_x_matrix(xdata, model.program.input_names))
        code, consts, P = model.program.code, model.program.consts, len(model.program.param_names)

    def transform(a):
        if scale is not None:
            return a * (scale if a.ndim == 1 else scale[:, None])
        return whiten @ a if whiten is not None else a

    def fun(p):
        if x_program is not None:
            value, grad = _core.evaluate(code, consts, P, x_program, p)
            return transform(value - ydata), transform(grad)
        r = transform(np.asarray(model.func(xdata, *p), dtype=float).ravel() - ydata)
        if jac is None:
            return r
        return r, transform(np.atleast_2d(np.asarray(jac(xdata, *p), dtype=float)).reshape(ydata.size, -1))

    return fun


# ----------------------------------------------------------------------------- batches


def _is_batch(ydata) -> bool:
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
    if isinstance(f, str):
        program = compile_law(f, inputs=_input_names(first_x, inputs), params=param_names)
        n = len(program.param_names)
        path = "formula"
    else:
        program = None
        n = np.shape(p0)[-1] if p0 is not None else _n_params_from_signature(f)
    lb, ub = _prepare_bounds(bounds, n)
    if p0 is None:
        p0 = _feasible_start(lb, ub)
    p0 = np.asarray(p0, dtype=float)
    if p0.shape not in ((n,), (K, n)):
        raise ValueError(f"p0 must have shape ({n},) or ({K}, {n}), got {p0.shape}")
    p0 = np.ascontiguousarray(np.broadcast_to(p0, (K, n)))
    if method == "lm" and np.any(np.isfinite(lb) | np.isfinite(ub)):
        raise ValueError("Method 'lm' only works for unconstrained problems. Use 'trf' or 'dogbox' instead.")
    if not isinstance(f, str):
        if jac is None:
            sample_x = _row_of(first_x, 0, rect and not per_problem_x)
            program = trace_checked(f, sample_x, p0[0])
        path = "traced" if program is not None else "python"

    if program is not None and rect and not per_problem_x and nan_policy != "omit":
        data = _rectangular_batch(program, xdata, ydata, sigma, check_finite, nan_policy)
    else:
        data = _ragged_batch(program, xdata if per_problem_x else None, first_x, ydata, sigma,
                             check_finite, nan_policy)
    x_rows, y, sizes, weight = data
    if program is not None:
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        sol = solve_batch(program, program.input_matrix(x_rows), y, offsets, p0, weight=weight,
                          lower=lb, upper=ub, n_threads=n_threads, device=device, **opts)
        params, cost, nit, nfev, status, jtj = sol.params, sol.cost, sol.nit, sol.nfev, sol.status, sol.jtj
    else:
        params, cost, nit, nfev, status, jtj = _python_batch(f, x_rows, y, weight, p0, lb, ub, jac, opts)

    ok = is_converged(status)
    pcov, _ = scaled_covariance(jtj, cost, sizes, n, absolute_sigma)
    popt = np.where(ok[:, None], params, np.nan)
    pcov = np.where(ok[:, None, None], pcov, np.nan)
    warn_failures(status, stacklevel=4)
    if not full_output:
        return popt, pcov, status
    infodict = {"nfev": nfev, "nit": nit, "cost": 2.0 * cost, "status": status, "x": params, "path": path}
    return popt, pcov, infodict, [status_message(s) for s in status], status.copy()


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


def _rectangular_batch(program, xdata, Y, sigma, check_finite, nan_policy):
    """K problems of M points each, inputs shared (M,) or per problem (K, M): no Python loop."""
    K, M = Y.shape
    names = program.input_names
    if isinstance(xdata, dict):
        raw = [np.asarray(xdata[name], dtype=float) for name in names]
    else:
        x = np.asarray(xdata, dtype=float)
        raw = [x] if x.ndim <= 1 or (x.ndim == 2 and len(names) == 1 and x.shape == (K, M)) else list(x)
    if len(raw) != len(names):
        raise ValueError(f"xdata must provide {len(names)} inputs ({', '.join(names)}), got {len(raw)}")
    rows = []
    for name, a in zip(names, raw):
        if a.shape not in ((M,), (K, M)):
            raise ValueError(f"input {name!r} must have shape ({M},) or ({K}, {M}) to match ydata, got {a.shape}")
        rows.append(np.broadcast_to(a, (K, M)).ravel())
    x_rows = np.vstack(rows)
    Y = np.asarray(Y, dtype=float)
    finite = np.isfinite(Y).all(axis=1) & np.isfinite(x_rows).all(axis=0).reshape(K, M).all(axis=1)
    _check_batch_finite(finite, check_finite, nan_policy)
    weight = None
    if sigma is not None:
        s = np.asarray(sigma, dtype=float)
        if s.shape not in ((M,), (K, M)):
            raise ValueError(f"sigma must have shape ({M},) or ({K}, {M}) in a batch, got {s.shape}")
        weight = (1.0 / np.broadcast_to(s, (K, M)) ** 2).ravel()
    return x_rows, Y.ravel(), np.full(K, M), weight


def _ragged_batch(program, xs, shared_x, ydata, sigma, check_finite, nan_policy):
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
        x = _x_matrix(xk, names) if names is not None else xk
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
        ws.append(None if s is None else np.broadcast_to(1.0 / np.asarray(s, float) ** 2, y.shape))
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
    return x_rows, np.concatenate(ys), sizes, weight


def _python_batch(f, xs, ys, weights, p0, lb, ub, jac, opts):
    """Batch of an untraceable function: one callback fit per problem (slow path)."""
    K, n = p0.shape
    params = p0.copy()
    cost = np.zeros(K)
    nit = np.zeros(K, np.int32)
    nfev = np.zeros(K, np.int32)
    status = np.full(K, int(Status.BAD_INPUT), np.int32)
    jtj = np.zeros((K, n, n))
    for k in range(K):
        if ys[k].size < n or not np.all(np.isfinite(ys[k])) or not np.all(np.isfinite(p0[k])):
            continue
        model = _Model.__new__(_Model)
        model.func, model.program, model.path = f, None, "python"
        fun = _residual_function(model, xs[k], ys[k], weights[k], None, jac)
        try:
            out = _core.solve_callback(fun, p0[k], None, lb, ub, opts["ftol"], opts["xtol"],
                                       opts["gtol"], int(opts["max_nfev"]))
        except (ValueError, FloatingPointError, ZeroDivisionError):
            status[k] = int(Status.NON_FINITE)
            continue
        params[k], cost[k], nit[k], nfev[k], status[k], jtj[k] = out
    return params, cost, nit, nfev, status, jtj
