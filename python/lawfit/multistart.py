"""Multistart fitting: laws x starting points in one batch, reduced to the best start per law.

Scaling-law objectives are not convex (Chinchilla's Approach 3 in log-sum-exp
form has many poor local minima), so published fits start the optimiser from a
grid of points and keep the best result: Hoffmann et al. (2022, App. D.2) and
Besiroglu et al. (2024) use 4,500 starts.  Here every (law, start) pair is one
problem of a single :func:`lawfit.engine.core.solve_batch` call; the reduction to the
best converged start per law, and the *basin count* (how many starts reached
the best objective), are numpy operations over a (laws, starts) matrix.

Start sets: a Cartesian grid named per parameter (:func:`grid_starts`), a
scrambled Sobol sequence or a Latin hypercube within bounds
(:func:`sobol_starts`, :func:`latin_hypercube_starts`; scipy.stats.qmc), or any
array.  ``prune=k`` first evaluates the objective at every start (one pass over
the points, no iterations) and runs Levenberg-Marquardt only from the k best
starts of each law.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence, Union

import numpy as np

from .engine.checks import first_failure, law_reasons
from .engine.core import grid_axes
from .engine.data import Data
from .engine.options import Options
from .engine.starts import reduce_best, run_starts  # noqa: F401  (reduce_best: its old home)
from .status import is_converged, warn_failures
from .formula import Program, compile_law

__all__ = [
    "grid_starts",
    "sobol_starts",
    "latin_hypercube_starts",
    "make_starts",
    "prepare_data",
    "fit_multistart",
    "FitData",
    "MultistartResult",
]



# --------------------------------------------------------------------------
# Start sets


def grid_starts(grid: Mapping[str, Sequence[float]], param_names: Sequence[str]) -> np.ndarray:
    """Cartesian product of per-parameter values, one start per row.

    Parameters
    ----------
    grid : mapping of str to sequence of float
        Values for every parameter (a scalar or a one-element list holds a
        parameter at one value).
    param_names : sequence of str
        Column order of the result (the law's parameters).

    Returns
    -------
    ndarray, shape (prod(len(v) for v in grid.values()), len(param_names))
        The first parameter of ``param_names`` varies slowest, as in
        ``itertools.product``.

    Examples
    --------
    >>> grid_starts({"a": [0, 1], "b": [5, 6, 7]}, ["a", "b"]).tolist()
    [[0.0, 5.0], [0.0, 6.0], [0.0, 7.0], [1.0, 5.0], [1.0, 6.0], [1.0, 7.0]]
    """
    axes = grid_axes(grid, param_names)
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _box(lower, upper) -> tuple[np.ndarray, np.ndarray]:
    lo = np.atleast_1d(np.asarray(lower, dtype=np.float64))
    hi = np.atleast_1d(np.asarray(upper, dtype=np.float64))
    lo, hi = np.broadcast_arrays(lo, hi)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or np.any(lo >= hi):
        raise ValueError("space-filling starts need finite bounds with lower < upper for every parameter")
    return lo, hi


def _qmc():
    try:
        from scipy.stats import qmc
    except ImportError as exc:  # pragma: no cover - scipy is optional
        raise ImportError("Sobol and Latin hypercube starts need scipy (scipy.stats.qmc)") from exc
    return qmc


def sobol_starts(n: int, lower, upper, *, seed: int = 0, scramble: bool = True) -> np.ndarray:
    """``n`` starts from a scrambled Sobol sequence in the box [lower, upper].

    The first ``n`` points of a sequence of ``2**ceil(log2 n)`` (Owen-scrambled,
    seeded), scaled to the box.  Needs scipy.

    Examples
    --------
    >>> s = sobol_starts(100, [0, -1], [1, 1], seed=0)
    >>> s.shape, bool((s[:, 1] >= -1).all() and (s[:, 1] <= 1).all())
    ((100, 2), True)
    """
    lo, hi = _box(lower, upper)
    if n < 1:
        raise ValueError("n must be positive")
    sampler = _qmc().Sobol(d=lo.size, scramble=scramble, seed=seed)
    u = sampler.random_base2(int(np.ceil(np.log2(n))))[:n]
    return lo + u * (hi - lo)


def latin_hypercube_starts(n: int, lower, upper, *, seed: int = 0) -> np.ndarray:
    """``n`` starts from a Latin hypercube in the box [lower, upper] (needs scipy).

    Examples
    --------
    >>> latin_hypercube_starts(10, [0, 0], [1, 5], seed=1).shape
    (10, 2)
    """
    lo, hi = _box(lower, upper)
    if n < 1:
        raise ValueError("n must be positive")
    u = _qmc().LatinHypercube(d=lo.size, seed=seed).random(n)
    return lo + u * (hi - lo)


def make_starts(spec, param_names: Sequence[str], *, n: int | None = None, lower=None, upper=None,
                seed: int = 0) -> np.ndarray:
    """Starts from a specification: a grid mapping, ``"sobol"``, ``"lhs"`` or an array.

    Parameters
    ----------
    spec : mapping, {"sobol", "lhs"} or array_like
        A mapping is a Cartesian grid (:func:`grid_starts`).  ``"sobol"`` and
        ``"lhs"`` draw ``n`` points in the box ``[lower, upper]``.  An array is
        used as given: (S, P) shared by every law, or (L, S, P) per law.
    param_names : sequence of str
    n, lower, upper, seed
        For the space-filling designs.

    Examples
    --------
    >>> make_starts({"a": [1, 2], "b": 0.5}, ["a", "b"]).tolist()
    [[1.0, 0.5], [2.0, 0.5]]
    """
    if isinstance(spec, Mapping):
        return grid_starts(spec, param_names)
    if isinstance(spec, str):
        if n is None:
            raise ValueError(f"starts={spec!r} needs n (the number of starts)")
        if spec == "sobol":
            return sobol_starts(n, lower, upper, seed=seed)
        if spec in ("lhs", "latin_hypercube"):
            return latin_hypercube_starts(n, lower, upper, seed=seed)
        raise ValueError(f"unknown start design {spec!r}; use a grid mapping, 'sobol', 'lhs' or an array")
    starts = np.asarray(spec, dtype=np.float64)
    if starts.ndim == 1:
        starts = starts[None, :]
    if starts.ndim not in (2, 3) or starts.shape[-1] != len(param_names):
        raise ValueError(f"starts must have shape (S, {len(param_names)}) or (L, S, {len(param_names)}), "
                         f"got {starts.shape}")
    return starts


# --------------------------------------------------------------------------
# Data: one law program over a ragged batch of laws


FitData = Data  # the engine's ragged container (kept under its old name)


def _default_inputs(x) -> list[str]:
    if isinstance(x, Mapping):
        return list(x)
    a = np.asarray(x)
    return ["x"] if a.ndim <= 1 else [f"x{i}" for i in range(a.shape[0])]


def _x_rows(x, names: list[str]) -> np.ndarray:
    """Inputs of one block of points as (n_inputs, m)."""
    if isinstance(x, Mapping):
        missing = [n for n in names if n not in x]
        if missing:
            raise ValueError(f"missing input {missing[0]!r}")
        return np.vstack([np.asarray(x[n], dtype=np.float64).ravel() for n in names]) if names \
            else np.empty((0, 0))
    a = np.asarray(x, dtype=np.float64)
    if a.ndim <= 1:
        a = a.reshape(1, -1)
    if a.shape[0] != len(names):
        raise ValueError(f"expected {len(names)} input row(s) ({', '.join(names)}), got shape {a.shape}")
    return a


def _is_list_of_laws(y) -> bool:
    if isinstance(y, (list, tuple)):
        return len(y) > 0 and np.ndim(y[0]) >= 1  # a list of arrays, not a list of numbers
    return np.ndim(y) == 2


def prepare_data(law: Union[str, Program], x, y, *, inputs: Sequence[str] | None = None,
                 params: Sequence[str] | None = None, offsets=None, sigma=None) -> FitData:
    """Compile the law (if a string) and lay out the data of one or many laws.

    ``y`` is a 1-D array (one law, or all laws' points concatenated with
    ``offsets``), a list of 1-D arrays (one per law) or a 2-D array (L, M)
    (laws sharing ``x``).  ``x`` is a mapping of input name to values, an
    (n_inputs, M) array, or a list with one of those per law.  ``sigma``
    (standard deviations, curve_fit's meaning) is laid out like ``y``.
    """
    first_x = x[0] if isinstance(x, (list, tuple)) else x
    if isinstance(law, Program):
        program = law
    else:
        program = compile_law(law, list(inputs) if inputs is not None else _default_inputs(first_x), params)
    names = program.input_names
    if _is_list_of_laws(y) and offsets is None:
        ys = [np.asarray(v, dtype=np.float64).ravel() for v in y]
        L = len(ys)
        if isinstance(x, (list, tuple)):
            if len(x) != L:
                raise ValueError(f"got {len(x)} input blocks for {L} laws")
            xs = [_x_rows(v, names) for v in x]
        else:
            shared = _x_rows(x, names)
            xs = [shared] * L
        for k, (xa, ya) in enumerate(zip(xs, ys)):
            if xa.shape[1] != ya.size:
                raise ValueError(f"law {k}: {xa.shape[1]} input points but {ya.size} values")
        x_all = np.concatenate(xs, axis=1) if L else np.empty((len(names), 0))
        y_all = np.concatenate(ys) if L else np.empty(0)
        offs = np.concatenate([[0], np.cumsum([v.size for v in ys])]).astype(np.int64)
        if sigma is not None:
            if isinstance(sigma, (list, tuple)) or np.ndim(sigma) == 2:
                sig = np.concatenate([np.broadcast_to(np.asarray(s, dtype=np.float64).ravel(), (v.size,))
                                      for s, v in zip(sigma, ys)])
            else:
                sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64).ravel(), (ys[0].size,))
                sig = np.tile(sig, L)
        else:
            sig = None
    else:
        y_all = np.asarray(y, dtype=np.float64).ravel()
        x_all = _x_rows(x, names)
        if x_all.shape[1] != y_all.size:
            raise ValueError(f"{x_all.shape[1]} input points but {y_all.size} values")
        offs = np.array([0, y_all.size] if offsets is None else offsets, dtype=np.int64)
        if offs.ndim != 1 or offs[0] != 0 or offs[-1] != y_all.size or np.any(np.diff(offs) < 0):
            raise ValueError("offsets must rise from 0 to the number of points")
        sig = None if sigma is None else np.broadcast_to(np.asarray(sigma, dtype=np.float64).ravel(),
                                                          y_all.shape)
    weight = None
    if sig is not None:
        if np.any(sig <= 0):
            raise ValueError("sigma must be positive")
        weight = 1.0 / (sig * sig)
    return Data(program, program.input_matrix(x_all), np.ascontiguousarray(y_all), offs, weight)


# --------------------------------------------------------------------------
# The fit


@dataclass(eq=False)
class MultistartResult:
    """Best start per law of a multistart fit, with every start's outcome.

    Attributes
    ----------
    params : ndarray, (L, P)
        Best converged parameters per law; NaN where no start converged
        (``status`` then holds the best start's failure code).
    cost : ndarray, (L,)
        Objective at ``params``: 1/2 weighted sum of squares, or for a robust
        loss 1/2 delta^2 sum rho((r/delta)^2) (scipy.optimize.least_squares).
    status : ndarray of int32, (L,)
        :class:`lawfit.Status` of the best start.
    best_start : ndarray of int, (L,)
        Index of that start in the start set.
    n_converged, basin_count : ndarray of int, (L,)
        Starts that converged, and converged starts whose cost is within
        ``basin_rtol`` (relative) of the best: how often the optimum was found.
    jtj : ndarray, (L, P, P)
        J^T W J at ``params`` (for robust losses the IRLS- or Triggs-weighted
        Gauss-Newton matrix sum max(rho' + 2 rho'' z, eps) w J J^T).
    starts : ndarray, (S, P) or (L, S, P)
        The start set as run (clipped into the bounds).
    nit : ndarray of int, (L,)
        Iterations of the best start.
    nfev : ndarray of int, (L,)
        Model evaluations summed over all starts of the law (the work done).
    all_params, all_cost, all_status, all_nit : ndarrays, (L, S, ...)
        Every start's outcome; NaN / NOT_RUN for starts that ``prune`` skipped.
    start_cost : ndarray (L, S) or None
        Objective at every start (the pruning pass), when the starts were pruned; NaN where it is
        not finite.
    """

    data: FitData
    params: np.ndarray
    cost: np.ndarray
    status: np.ndarray
    best_start: np.ndarray
    n_converged: np.ndarray
    basin_count: np.ndarray
    jtj: np.ndarray
    nit: np.ndarray
    nfev: np.ndarray
    starts: np.ndarray
    all_params: np.ndarray
    all_cost: np.ndarray
    all_status: np.ndarray
    all_nit: np.ndarray
    start_cost: np.ndarray | None
    loss: str
    delta: float
    residual: str
    fixed: np.ndarray  # (P,) or (L, P) bool
    lower: np.ndarray  # (L, P)
    upper: np.ndarray  # (L, P)
    options: Options = field(default_factory=Options)
    n_run: np.ndarray | None = None  # (L,) starts LM ran from (fewer than S when pruned)

    @property
    def program(self) -> Program:
        return self.data.program

    @property
    def param_names(self) -> list[str]:
        return list(self.data.program.param_names)

    @property
    def n_laws(self) -> int:
        return self.data.n_laws

    @property
    def solver_options(self) -> dict:
        """The solver options as a dict (older name; see :attr:`options`)."""
        return asdict(self.options)

    @property
    def fixed_rows(self) -> np.ndarray:
        """Which parameters each law holds fixed, (L, P) bool (a read-only view)."""
        return np.broadcast_to(np.asarray(self.fixed, dtype=bool), (self.n_laws, len(self.param_names)))

    @property
    def n_free(self) -> np.ndarray:
        """Free (not fixed) parameters per law, (L,)."""
        fixed = np.asarray(self.fixed, dtype=bool)
        if fixed.ndim <= 1:  # one mask for every law: one count, not a pass over (L, P)
            n = len(self.param_names) - int(np.broadcast_to(fixed, (len(self.param_names),)).sum())
            return np.full(self.n_laws, n, dtype=np.int64)
        return (~self.fixed_rows).sum(axis=1)

    @property
    def converged(self) -> np.ndarray:
        """Boolean mask of laws whose best start converged."""
        return is_converged(self.status)

    @property
    def reason(self) -> list[str]:
        """Why each law ended as it did: its status's explanation, or for BAD_INPUT the
        first offending point and column ("missing value (nan) in column 'y' at point 3")."""
        return law_reasons(self.data, self.status, self.n_free, self.residual)

    # Uncertainty, delegated to lawfit.uncertainty (see there for formulas).
    def covariance(self, kind: str = "auto", absolute_sigma: bool = False, inverse=None) -> np.ndarray:
        """Parameter covariance (L, P, P); see :func:`lawfit.uncertainty.covariance`."""
        from .uncertainty import covariance

        return covariance(self, kind=kind, absolute_sigma=absolute_sigma, inverse=inverse)

    def stderr(self, kind: str = "auto", absolute_sigma: bool = False) -> np.ndarray:
        """Standard errors (L, P) from :meth:`covariance`."""
        cov = self.covariance(kind=kind, absolute_sigma=absolute_sigma)
        return np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))

    def goodness_of_fit(self) -> dict:
        """R^2, Gaussian log-likelihood, AIC, BIC per law; see :func:`lawfit.uncertainty.goodness_of_fit`."""
        from .uncertainty import goodness_of_fit

        return goodness_of_fit(self)

    def predict(self, x) -> np.ndarray:
        """The fitted law of every law at the inputs ``x`` (a mapping or array), (L, n)."""
        from .uncertainty import evaluate_many

        return evaluate_many(self.program, self.params, x)


def _per_law(a, L: int, P: int, fill: float, name: str) -> np.ndarray:
    if a is None:
        return np.full((L, P), fill)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        a = np.full(P, float(a))
    if a.shape == (P,):
        return np.tile(a, (L, 1))
    if a.shape == (L, P):
        return a.copy()
    raise ValueError(f"{name} must have shape ({P},) or ({L}, {P}), got {a.shape}")


def _fixed_mask(fixed, names: list[str], L: int) -> np.ndarray:
    P = len(names)
    if fixed is None:
        return np.zeros(P, dtype=bool)
    arr = np.atleast_1d(np.asarray(fixed))
    if arr.dtype.kind in "US":  # parameter names
        fixed = [str(n) for n in arr]
        unknown = [n for n in fixed if n not in names]
        if unknown:
            raise ValueError(f"unknown parameter(s) to fix: {unknown}")
        return np.isin(names, fixed)
    mask = np.asarray(fixed, dtype=bool)
    if mask.shape not in ((P,), (L, P)):
        raise ValueError(f"fixed must name parameters or be a mask of shape ({P},) or ({L}, {P})")
    return mask


def fit_multistart(
    law: Union[str, Program],
    x,
    y,
    starts,
    *,
    inputs: Sequence[str] | None = None,
    params: Sequence[str] | None = None,
    offsets=None,
    sigma=None,
    loss: str = Options.loss,
    delta: float = Options.delta,
    residual: str = Options.residual,
    lower=None,
    upper=None,
    fixed=None,
    prune="auto",
    basin_rtol: float = 1e-6,
    n_starts: int | None = None,
    seed: int = 0,
    ftol: float = Options.ftol,
    xtol: float = Options.xtol,
    gtol: float = Options.gtol,
    max_nfev: int = Options.max_nfev,
    n_threads: int | None = None,
    device: str = Options.device,
    robust_hessian: str = Options.robust_hessian,
    warn: bool = True,
    jit=Options.jit,
) -> MultistartResult:
    """Fit one or many laws from many starting points in one batch; keep the best start per law.

    Parameters
    ----------
    law : str or Program
        A formula such as ``"log(exp(a - alpha*log(N)) + exp(b - beta*log(D)) + exp(e))"``
        or a compiled :class:`lawfit.Program`.
    x, y
        The data (see :func:`prepare_data`): ``x`` a mapping of input name to
        values or an (n_inputs, M) array; ``y`` a 1-D array for one law, a
        list of arrays or an (L, M) array for many laws (``x`` shared or one
        per law), or all laws concatenated with ``offsets``.
    starts : mapping, array or {"sobol", "lhs"}
        Start set (:func:`make_starts`): a grid ``{param: values}``, an (S, P)
        array shared by every law or (L, S, P) per law, or a space-filling
        design of ``n_starts`` points in ``[lower, upper]``.  Starts are
        clipped into the bounds.
    inputs, params : list of str, optional
        Names for a formula string (default: the keys of ``x``, or ``x`` /
        ``x0, x1, ...``; parameters in order of first appearance).
    sigma : array_like, optional
        Standard deviations of ``y``: weights 1/sigma^2 (in the residual space).
    loss : {"l2", "huber", "soft_l1", "cauchy", "arctan"}
        Robust loss with scale ``delta``, as scipy.optimize.least_squares'
        ``loss`` and ``f_scale`` (scipy's ``"linear"`` is accepted for l2).
    residual : {"linear", "log"}
        ``"log"`` fits log f - log y.
    lower, upper : array_like, optional
        Bounds, (P,) or (L, P).
    fixed : list of str or bool mask, optional
        Parameters held at their start values.
    prune : "auto", int or None
        Evaluate the objective at every start first (no iterations), then run
        LM only from the ``prune`` best starts of each law.  ``"auto"``
        (default) prunes sets of more than 64 starts to the best 16 (see
        :mod:`lawfit.engine.starts` for the measurements behind it); None runs
        every start.
    basin_rtol : float
        Relative cost tolerance of the basin count.
    n_starts, seed : for ``starts="sobol"`` or ``"lhs"``.
    ftol, xtol, gtol, max_nfev : MINPACK-style stopping rules, as curve_fit.
    n_threads, device : where the batch runs ('cpu', 'cuda', 'auto').
    jit : bool or 'auto'
        Compiled or interpreted law (:func:`lawfit.solve_batch`; the same
        results); kept for the bootstrap.
    robust_hessian : {'irls', 'triggs'}
        Gauss-Newton matrix of robust losses (see :func:`lawfit.engine.core.solve_batch`).
    warn : bool
        Warn (:class:`lawfit.LawfitWarning`) when some law has no converged start.

    Returns
    -------
    MultistartResult

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(1, 10, 40)
    >>> y = 3 * x**-0.5 + 1 + 0.01 * np.sin(7 * x)
    >>> fit = fit_multistart("a*x**-b + c", x, y, {"a": [1, 10], "b": [0.1, 1, 3], "c": [0, 2]})
    >>> np.round(fit.params[0], 1), int(fit.basin_count[0]) > 1
    (array([3. , 0.5, 1. ]), True)
    """
    options = Options(ftol=ftol, xtol=xtol, gtol=gtol, max_nfev=max_nfev, loss=loss, delta=delta,
                      residual=residual, robust_hessian=robust_hessian, device=device, n_threads=n_threads,
                      jit=jit)
    data = prepare_data(law, x, y, inputs=inputs, params=params, offsets=offsets, sigma=sigma)
    return fit_data(data, starts, options, lower=lower, upper=upper, fixed=fixed, prune=prune,
                    basin_rtol=basin_rtol, n_starts=n_starts, seed=seed, warn=warn)


def fit_data(data: Data, starts, options: Options, *, lower=None, upper=None, fixed=None, prune="auto",
             basin_rtol: float = 1e-6, n_starts: int | None = None, seed: int = 0, warn: bool = True,
             progress=None) -> MultistartResult:
    """:func:`fit_multistart` on a ready :class:`lawfit.engine.data.Data` and :class:`Options`.

    ``starts`` may also be a grid mapping, which goes to the core as its axes.
    """
    names = list(data.program.param_names)
    L, P = data.n_laws, len(names)
    lo = _per_law(lower, L, P, -np.inf, "lower")
    hi = _per_law(upper, L, P, np.inf, "upper")
    if np.any(lo > hi):
        raise ValueError("each lower bound must not exceed the upper bound")
    start_set: Union[list, np.ndarray]
    if isinstance(starts, Mapping):
        start_set = list(grid_axes(starts, names))  # the core makes the grid's points
    else:
        points = make_starts(starts, names, n=n_starts, lower=lower, upper=upper, seed=seed)
        if points.ndim == 3 and points.shape[0] != L:
            raise ValueError(f"per-law starts must have {L} rows, got {points.shape[0]}")
        start_set = points
    fixed_mask = _fixed_mask(fixed, names, L)
    out = run_starts(data, start_set, options, lower=lo, upper=hi, fixed=fixed_mask, prune=prune,
                     basin_rtol=basin_rtol, progress=progress)
    result = MultistartResult(
        data=data, params=out.params, cost=out.cost, status=out.status, best_start=out.best_start,
        n_converged=out.n_converged, basin_count=out.basin_count, jtj=out.jtj, nit=out.nit, nfev=out.nfev,
        starts=out.starts, all_params=out.all_params, all_cost=out.all_cost, all_status=out.all_status,
        all_nit=out.all_nit, start_cost=out.start_cost, loss=options.loss, delta=options.delta,
        residual=options.residual, fixed=fixed_mask, lower=lo, upper=hi, options=options, n_run=out.n_run)
    if warn and not is_converged(out.status).all():
        warn_failures(out.status, detail=first_failure(out.status, result.reason))
    return result
