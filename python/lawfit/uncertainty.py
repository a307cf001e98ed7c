"""Uncertainty of fitted laws: covariances, goodness of fit and bootstrap intervals.

Formulas (r: residuals in the fitted space, i.e. f - y or log f - log y;
w: weights 1/sigma^2; J: Jacobian of the residuals; n points, k free
parameters):

* **Covariance from J^T W J** (L2 loss), exactly as scipy.optimize.curve_fit:
  pinv(J^T W J) scaled by s^2 = sum w r^2 / (n - k) unless ``absolute_sigma``
  (:mod:`lawfit._covariance`).
* **Sandwich covariance** (any loss; the default for robust losses): the
  M-estimator covariance (Huber 1967; White 1980) ``A^-1 B A^-1 * n/(n-k)``
  with bread A = sum psi'(r) w J J^T, psi' = rho' + 2 rho'' z (the
  Gauss-Newton Hessian of the robust objective; unlike the solver's matrix it
  is not clipped at eps, so for cauchy and arctan far residuals count
  negatively), and meat B = sum g g^T, g = rho'(z) w r J the per-point
  gradient of the objective (z = w r^2 / delta^2).  For L2 this is White's
  HC1 covariance.  It is only as good as A: for Huber with a scale ``delta``
  below most residuals (Chinchilla's delta = 1e-3), A counts only the few
  points with |r| < delta, so a warning says to use the bootstrap; where A
  is not positive definite there is no sandwich (NaN, with a warning).
* **Goodness of fit**: RSS = sum w r^2; R^2 = 1 - RSS / sum w (y - ybar_w)^2
  (in the fitted space: log y for log residuals); the Gaussian log-likelihood
  at the maximum-likelihood variance RSS/n,
  log L = -n/2 (log(2 pi RSS/n) + 1) + 1/2 sum log w;
  AIC = 2 (k + 1) - 2 log L and BIC = (k + 1) log n - 2 log L, counting the
  variance as a parameter as R's ``logLik.lm`` does.  For robust losses these
  describe the residuals of the robust fit; they are not the robust objective.
* **Bootstrap intervals**: percentile, and BCa (Efron 1987, JASA 82:171;
  Efron & Tibshirani 1993, ch. 14): bias correction
  z0 = Phi^-1(#{theta* < theta_hat} / R) (ties count one half) and
  acceleration a = sum (tbar - t_(i))^3 / (6 [sum (tbar - t_(i))^2]^(3/2))
  from jackknife values t_(i); the interval is the bootstrap quantiles at
  Phi(z0 + (z0 + z_q) / (1 - a (z0 + z_q))) for q = (1 -+ level)/2.
"""
from __future__ import annotations

import warnings
from functools import lru_cache
from statistics import NormalDist
from typing import Mapping, Union

import numpy as np

from .engine.core import evaluate_points
from .engine.covariance import (free_block_inverse, free_block_pinv, inverse_diagonals, loss_terms,
                                parameter_covariance)
from .engine.checks import finite_rows
from .engine.data import segment_sum, segment_tss
from .status import LawfitWarning, user_stacklevel
from .formula import Program, compile_law

__all__ = [
    "covariance",
    "stderr",
    "correlation",
    "goodness_of_fit",
    "evaluate_many",
    "percentile_interval",
    "bca_interval",
    "jackknife_acceleration",
    "wald_interval",
]

# --------------------------------------------------------------------------
# Evaluating a law (or any formula of the parameters) for many parameter rows


@lru_cache(maxsize=128)
def params_as_inputs(formula: str, param_names: tuple, input_names: tuple) -> Program:
    """Compile ``formula`` with its parameters as *inputs*: one numpy pass
    evaluates it for any number of parameter rows (no parameter gradients
    needed).  Cached: derived quantities are evaluated many times."""
    return compile_law(formula, inputs=list(input_names) + list(param_names), params=[])


def evaluate_many(expr: Union[str, Program], params, x=None, *, param_names=None) -> np.ndarray:
    """Value of a law or formula for every row of ``params`` at every input point.

    Parameters
    ----------
    expr : str or Program
        A law program, or a formula of the parameters (and of inputs named in
        ``x``), e.g. ``"beta/(alpha + beta)"`` or ``"exp(a)*N**-alpha"``.
    params : array_like, (..., P)
        Parameter rows (any leading shape, e.g. (L,) laws or (L, R) resamples).
    x : mapping or array, optional
        Input points: a mapping of input name to 1-D values (or an
        (n_inputs, n) array in the program's input order).  None: no inputs.
    param_names : list of str, optional
        Names of the columns of ``params`` (default: the program's).

    Returns
    -------
    ndarray, (..., n) — n = 1 when the formula has no inputs.

    Examples
    --------
    >>> import numpy as np
    >>> evaluate_many("a/(a + b)", np.array([[1.0, 3.0], [1.0, 1.0]]), param_names=["a", "b"])
    array([[0.25],
           [0.5 ]])
    """
    if param_names is None:
        if not isinstance(expr, Program):
            raise ValueError("param_names is required for a formula string")
        param_names = expr.param_names
    param_names = list(param_names)
    if isinstance(expr, Program):
        input_names = list(expr.input_names)  # extra keys of a mapping are ignored
    elif isinstance(x, Mapping):
        input_names = list(x)
    elif x is None:
        input_names = []
    else:
        raise ValueError("name the inputs of a formula string with a mapping {name: values}")
    if input_names and x is None:
        raise ValueError(f"inputs {input_names} need values (x)")
    prog = params_as_inputs(expr.formula if isinstance(expr, Program) else expr, tuple(param_names),
                            tuple(input_names))
    p = np.asarray(params, dtype=np.float64)
    if p.shape[-1] != len(param_names):
        raise ValueError(f"params must have {len(param_names)} columns, got shape {p.shape}")
    lead = p.shape[:-1]
    p = p.reshape(-1, len(param_names))
    if input_names:
        if isinstance(x, Mapping):
            xr = np.vstack([np.asarray(x[n], dtype=np.float64).ravel() for n in input_names])
        else:
            xr = np.asarray(x, dtype=np.float64)
            xr = xr.reshape(1, -1) if xr.ndim <= 1 else xr
        if xr.shape[0] != len(input_names):
            raise ValueError(f"expected {len(input_names)} input rows, got {xr.shape[0]}")
    else:
        xr = np.empty((0, 1))
    n = xr.shape[1]
    rows = np.vstack([np.tile(xr, (1, p.shape[0])), np.repeat(p.T, n, axis=1)])
    value, _ = prog.evaluate_columns(np.empty(0), prog.input_matrix(rows))
    return value.reshape(*lead, n)


# --------------------------------------------------------------------------
# Per-point terms at the solution


def _point_terms(fit):
    """Residuals r, weights w and residual Jacobian J (M, P) of every law at its solution,
    and the law of every point: one core evaluation for the whole batch.

    Laws without a converged fit are evaluated at zeros and must be masked by the caller.
    """
    data = fit.data
    ok = np.isfinite(fit.params).all(axis=1)
    params = np.where(ok[:, None], fit.params, 0.0)
    f, grad = evaluate_points(data.program, data.columns, params, data.offsets)
    y = data.y
    w = data.weights_or_ones()
    with np.errstate(all="ignore"):
        if fit.residual == "log":
            r = np.log(f) - np.log(y)
            grad = grad / f[:, None]
        else:
            r = f - y
    return r, w, grad, data.point_law


def _segment_outer(a: np.ndarray, b: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-law sums of a_m b_m^T over every law's points, (L, P, P), in O(M) memory
    (one column product at a time instead of an (M, P, P) array)."""
    P = a.shape[1]
    out = np.empty((len(offsets) - 1, P, P))
    for i in range(P):
        out[:, i, :] = segment_sum(a[:, i, None] * b, offsets)
    return out


def covariance(fit, *, kind: str = "auto", absolute_sigma: bool = False, inverse=None) -> np.ndarray:
    """Covariance of the fitted parameters, (L, P, P).

    Parameters
    ----------
    fit : MultistartResult
    kind : {"auto", "jtj", "sandwich"}
        ``"jtj"``: curve_fit's pinv(J^T W J), scaled by the reduced chi-square
        unless ``absolute_sigma`` (L2 loss only).  ``"sandwich"``: the robust
        (M-estimator) covariance ``A^-1 B A^-1 n/(n-k)``, valid for every loss.
        ``"auto"``: ``"jtj"`` for L2, ``"sandwich"`` for robust losses.
    absolute_sigma : bool
        As curve_fit (``"jtj"`` only).
    inverse : optional
        :func:`lawfit.engine.covariance.free_block_inverse` of ``fit.jtj``
        when the caller has it (``"jtj"`` uses it instead of inverting again).

    Returns
    -------
    ndarray, (L, P, P); NaN for laws without a converged fit; rows and
    columns of fixed parameters are 0.

    Warns
    -----
    LawfitWarning
        For Huber when fewer than half the points of some law lie within the
        loss scale (``|r| <= delta``): the curvature A then rests on few
        points and the sandwich can be off by a factor of two (Chinchilla's
        Approach 3 is such a case); and where A is not positive definite
        (cauchy or arctan with many far residuals).  Use the bootstrap there.
    """
    if kind == "auto":
        kind = "jtj" if fit.loss == "l2" else "sandwich"
    if kind == "jtj":
        if fit.loss != "l2":
            raise ValueError("kind='jtj' needs the L2 loss; use kind='sandwich' or the bootstrap")
        cov = parameter_covariance(fit.jtj, fit.cost, fit.data.n_points, fit.fixed_rows, absolute_sigma,
                                   inverse)
        cov[~np.isfinite(fit.params).all(axis=1)] = np.nan
        return cov
    if kind != "sandwich":
        raise ValueError(f"kind must be 'auto', 'jtj' or 'sandwich', got {kind!r}")
    P = len(fit.param_names)
    ok = np.isfinite(fit.params).all(axis=1)
    fixed = fit.fixed_rows
    r, w, J, point_law = _point_terms(fit)
    offsets = fit.data.offsets
    with np.errstate(all="ignore"):
        J = np.where(fixed[point_law], 0.0, J)
        z = w * r * r / fit.delta**2
        _, rho1, rho2 = loss_terms(fit.loss, z)
        g = (rho1 * w * r)[:, None] * J
        # psi' = rho' + 2 rho'' z, not clipped at eps as in the solver's matrix:
        # for cauchy and arctan, residuals beyond the scale bend the objective down.
        Jc = J * ((rho1 + 2.0 * rho2 * z) * w)[:, None]
        meat = _segment_outer(g, g, offsets)
        hess = _segment_outer(Jc, J, offsets)
    meat[~ok] = np.nan
    hess[~ok] = np.nan
    # Smallest eigenvalue of each free block (fixed rows and columns set to the identity).
    free_hess = np.where(np.isfinite(hess), hess, 0.0)
    fixed_rc = fixed[:, :, None] | fixed[:, None, :]
    free_hess[fixed_rc] = 0.0
    free_hess[fixed_rc & np.eye(P, dtype=bool)] = 1.0
    min_eig = np.linalg.eigvalsh(free_hess)[:, 0]
    bad = ok & (min_eig <= 0)
    meat[bad] = np.nan
    indefinite = list(np.flatnonzero(bad))
    few_inside = []
    if fit.loss == "huber":
        inside = segment_sum((z <= 1.0).astype(float), offsets)
        few_inside = list(np.flatnonzero(ok & ~bad & (inside < 0.5 * fit.data.n_points)))
    if few_inside:
        warnings.warn(
            f"lawfit: for {len(few_inside)} law(s) most residuals exceed the Huber scale delta="
            f"{fit.delta:g}; the sandwich covariance's curvature counts only the points inside it "
            "and is unreliable there: use lawfit.bootstrap for intervals", LawfitWarning,
            stacklevel=user_stacklevel())
    if indefinite:
        warnings.warn(
            f"lawfit: for {len(indefinite)} law(s) the robust objective is not convex at the solution "
            "(many residuals beyond the loss scale); no sandwich covariance (NaN): use lawfit.bootstrap",
            LawfitWarning, stacklevel=user_stacklevel())
    bread = free_block_pinv(np.where(np.isfinite(hess), hess, 0.0), fit.fixed_rows, fit.data.n_points)
    n = fit.data.n_points
    k = fit.n_free
    factor = np.where(n > k, n / np.maximum(n - k, 1), np.inf)
    return np.einsum("lij,ljk,lkm->lim", bread, meat, bread) * factor[:, None, None]


def stderr(cov: np.ndarray) -> np.ndarray:
    """Standard errors: square roots of the diagonal of (..., P, P) covariances."""
    return np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))


def correlation(cov: np.ndarray) -> np.ndarray:
    """Correlation matrices of (..., P, P) covariances (NaN where a variance is 0).

    Examples
    --------
    >>> correlation(np.array([[4.0, 1.0], [1.0, 1.0]]))
    array([[1. , 0.5],
           [0.5, 1. ]])
    """
    cov = np.asarray(cov, dtype=float)
    sd = stderr(cov)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / (sd[..., :, None] * sd[..., None, :])
    return out


def goodness_of_fit(fit) -> dict:
    """R^2, RSS, Gaussian log-likelihood, AIC and BIC per law (formulas in the module docstring).

    Returns
    -------
    dict of ndarray (L,): ``n``, ``k`` (free parameters), ``rss``, ``r2``,
    ``log_likelihood``, ``aic``, ``bic``; NaN for laws without a converged fit.
    """
    ok = np.isfinite(fit.params).all(axis=1)
    n = fit.data.n_points.astype(float)
    n_free = fit.n_free  # (a property: computed once here)
    k = n_free.astype(float)
    offsets = fit.data.offsets
    w = fit.data.weight
    with np.errstate(all="ignore"):
        yt = np.log(fit.data.y) if fit.residual == "log" else fit.data.y
        if fit.loss == "l2":  # the solver's cost is 1/2 sum w r^2 at the optimum: no evaluation needed
            rss = 2.0 * np.asarray(fit.cost, dtype=float)
        else:
            r = _point_terms(fit)[0]
            rss = segment_sum(r * r if w is None else w * r * r, offsets)
        tss = segment_tss(yt, w, offsets)
        log_w = 0.0 if w is None else 0.5 * segment_sum(np.log(w), offsets)  # unweighted: sum log w = 0
        ll = -0.5 * n * (np.log(2.0 * np.pi * rss / n) + 1.0) + log_w
        out = {"rss": rss, "r2": np.where(tss > 0, 1.0 - rss / tss, np.nan), "log_likelihood": ll,
               "aic": 2.0 * (k + 1.0) - 2.0 * ll, "bic": (k + 1.0) * np.log(n) - 2.0 * ll}
    out = {name: np.where(ok, v, np.nan) for name, v in out.items()}
    out["n"] = fit.data.n_points.copy()
    out["k"] = n_free
    return out


# --------------------------------------------------------------------------
# Bootstrap intervals


def _ndtr(z):
    try:
        from scipy.special import ndtr

        return ndtr(z)
    except ImportError:  # pragma: no cover - scipy is optional
        return np.vectorize(NormalDist().cdf, otypes=[float])(z)


def _ndtri(p):
    try:
        from scipy.special import ndtri

        return ndtri(p)
    except ImportError:  # pragma: no cover
        p = np.asarray(p, dtype=float)
        safe = np.where((p > 0) & (p < 1), p, 0.5)
        out = np.vectorize(NormalDist().inv_cdf, otypes=[float])(safe)
        return np.where(p <= 0, -np.inf, np.where(p >= 1, np.inf, out))


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return level


def percentile_interval(replicates, level: float = 0.95, axis: int = 0):
    """Percentile bootstrap interval: the (1 -+ level)/2 quantiles along ``axis``.

    NaN replicates (failed resamples) are left out.

    Examples
    --------
    >>> lo, hi = percentile_interval(np.arange(101.0), 0.9)
    >>> round(float(lo), 9), round(float(hi), 9)
    (5.0, 95.0)
    """
    level = _check_level(level)
    t = np.moveaxis(np.asarray(replicates, dtype=float), axis, 0)
    # np.nanquantile's values, without its Python loop over every element of a replicate
    # (53,822 predictions x 200 resamples: 7.8 s there, 0.3 s here).
    q = _linear_quantiles(np.sort(t, axis=0), (~np.isnan(t)).sum(axis=0),
                          np.array([(1 - level) / 2, (1 + level) / 2]).reshape((2,) + (1,) * (t.ndim - 1)))
    return q[0], q[1]


def _linear_quantiles(ts: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Quantiles by numpy's default ('linear', Hyndman & Fan's 7th) rule, bit for bit as
    ``np.nanquantile`` computes them, for many samples at once.

    ``ts`` (R, ...): samples sorted along axis 0, each one's ``n`` (...) valid values first;
    ``p`` (k, ...): probabilities, broadcast against ``n``.  Returns (k, ...); NaN where n = 0.
    numpy's rule: virtual index v = (n - 1) p, the neighbours floor(v) and floor(v) + 1 (both
    the last value where v >= n - 1), and the interpolation a + (b - a) g with g = v - floor(v),
    taken as b - (b - a)(1 - g) where g >= 1/2.
    """
    n = np.asarray(n)
    v = (n - 1) * p
    below = np.floor(v)
    g = v - below
    last = np.maximum(n - 1, 0)
    above = v >= n - 1
    lo = np.where(above, last, np.maximum(below, 0)).astype(np.intp)
    hi = np.where(above, last, np.maximum(below + 1, 0)).astype(np.intp)
    a = np.take_along_axis(ts[None], lo[:, None], axis=1)[:, 0]
    b = np.take_along_axis(ts[None], hi[:, None], axis=1)[:, 0]
    with np.errstate(invalid="ignore"):
        d = b - a
        out = np.where(g >= 0.5, b - d * (1 - g), a + d * g)
    return np.where(n > 0, out, np.nan)


def jackknife_acceleration(jackknife, axis: int = 0) -> np.ndarray:
    """BCa acceleration from jackknife values (Efron 1987, eq. 6.6).

    a = sum (tbar - t_(i))^3 / (6 [sum (tbar - t_(i))^2]^(3/2)).  Delete-d
    (block) jackknife values with blocks of equal size give the same ratio.
    """
    t = np.asarray(jackknife, dtype=float)
    d = np.nanmean(t, axis=axis, keepdims=True) - t
    num = np.nansum(d**3, axis=axis)
    den = 6.0 * np.nansum(d**2, axis=axis) ** 1.5
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def grouped_acceleration(jackknife, group, shape) -> np.ndarray:
    """:func:`jackknife_acceleration` of every group at once.

    ``jackknife`` (J, ...) holds jackknife values, ``group`` (J,) the law (or
    point) each row belongs to; returns ``shape`` = (n_groups, ...), NaN for
    groups without jackknife values.  Sums per group via sorting and
    ``np.add.reduceat`` (no loop over groups); NaN values are left out.
    """
    t = np.asarray(jackknife, dtype=float)
    group = np.asarray(group, dtype=np.int64)
    out = np.full(shape, np.nan)
    if t.shape[0] == 0:
        return out
    order = np.argsort(group, kind="stable")
    g, t = group[order], t[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    ok = np.isfinite(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        n = np.add.reduceat(ok.astype(float), starts, axis=0)
        mean = np.add.reduceat(np.where(ok, t, 0.0), starts, axis=0) / n
        d = np.where(ok, np.repeat(mean, np.diff(np.r_[starts, g.size]), axis=0) - t, 0.0)
        num = np.add.reduceat(d**3, starts, axis=0)
        den = 6.0 * np.add.reduceat(d**2, starts, axis=0) ** 1.5
        out[g[starts]] = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return out


def bca_interval(estimate, replicates, acceleration, level: float = 0.95, axis: int = 0):
    """Bias-corrected and accelerated (BCa) bootstrap interval (Efron 1987).

    Parameters
    ----------
    estimate : array_like
        The statistic on the full data (shape of a replicate).
    replicates : array_like
        Bootstrap replicates along ``axis``; NaN ones are left out.
    acceleration : array_like
        From :func:`jackknife_acceleration` (shape of a replicate).
    level : float

    Returns
    -------
    (lower, upper)
        NaN where every replicate lies on one side of the estimate (z0
        infinite) — the BCa interval is undefined there.
    """
    level = _check_level(level)
    t = np.moveaxis(np.asarray(replicates, dtype=float), axis, 0)
    est = np.asarray(estimate, dtype=float)
    a = np.asarray(acceleration, dtype=float)
    valid = np.isfinite(t)
    n_valid = valid.sum(axis=0)
    below = np.sum(valid & (t < est), axis=0) + 0.5 * np.sum(valid & (t == est), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z0 = _ndtri(below / n_valid)
    out = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        zq = NormalDist().inv_cdf(q)
        with np.errstate(divide="ignore", invalid="ignore"):
            adj = _ndtr(z0 + (z0 + zq) / (1.0 - a * (z0 + zq)))
        out.append(adj)
    alpha = np.stack(out)  # (2, ...)
    ok = np.isfinite(alpha) & np.isfinite(z0)
    alpha = np.where(ok, alpha, 0.5)
    # The quantile of each element at its own probability: sort once (the non-finite
    # replicates left out, as NaN: sorted last), numpy's rule.
    res = np.where(ok, _linear_quantiles(np.sort(np.where(valid, t, np.nan), axis=0), n_valid, alpha), np.nan)
    return res[0], res[1]


def wald_interval(estimate, stderr, level: float = 0.95):
    """Normal-approximation interval ``estimate -+ z stderr``, z the (1 + level)/2 normal quantile.

    The interval that goes with a covariance (curve_fit's or the sandwich) and
    with delta-method standard errors of derived quantities; NaN where the
    standard error is.

    Examples
    --------
    >>> lo, hi = wald_interval(np.array([1.0]), np.array([0.5]), 0.95)
    >>> np.round([lo[0], hi[0]], 3).tolist()
    [0.02, 1.98]
    """
    level = _check_level(level)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    est = np.asarray(estimate, dtype=float)
    half = z * np.asarray(stderr, dtype=float)
    return est - half, est + half


# --------------------------------------------------------------------------
# Identifiability

#: A law whose column-scaled J^T W J has a smaller eigenvalue than this share of
#: its largest is not identifiable: the data determine a combination of its
#: parameters, not each of them (the scaled matrix is the correlation form, so
#: the share is independent of units; 1e-12 keeps laws whose covariance carries
#: at least a couple of digits).
IDENTIFIABLE_RCOND = 1e-12


def identifiability(jtj, stderr, fixed, converged, param_names, distinct=None, n_points=None, inverse=None):
    """Which laws the data determine, and why not where they do not.

    Parameters
    ----------
    jtj : (L, P, P)
        J^T W J at the solutions.
    stderr : (L, P)
        Standard errors from the covariance.
    fixed : (L, P) bool
        Fixed parameters (left out).
    converged : (L,) bool
        Laws that did not converge are not judged (their status says why).
    param_names : list of str
    n_points : (L,) int, optional
        Points per law: a law with no residual degrees of freedom (as many
        points as free parameters) has no finite standard error by
        construction, which is not taken as a sign of unidentifiability.
    inverse : (diagonals (L, P), ok (L,)), optional
        :func:`lawfit.engine.covariance.inverse_diagonals` of
        :func:`~lawfit.engine.covariance.free_block_inverse` of ``jtj``, when the
        caller has that inverse already (the covariance's); computed here otherwise.
    distinct : callable, optional
        ``distinct(laws)`` -> {input name: counts of distinct values in each of
        ``laws``}; asked only for the laws found not identifiable, and an
        input with fewer than 4 values is named in their reason.

    Returns
    -------
    (identified (L,) bool, reasons: list of str, "" where identified)

    A law is not identifiable when a free parameter has no finite standard
    error (the law does not depend on it at the optimum, e.g. an exponent
    whose coefficient sits at 0), or when the column-scaled J^T W J is
    singular to :data:`IDENTIFIABLE_RCOND` (e.g. Chinchilla's five parameters
    on two model sizes: E and the N term trade off exactly).
    """
    jtj = np.asarray(jtj, dtype=float)
    L, P = jtj.shape[0], jtj.shape[-1]
    fixed = np.broadcast_to(np.asarray(fixed, dtype=bool), (L, P))
    converged = np.asarray(converged, dtype=bool)
    se = np.asarray(stderr, dtype=float)
    finite = finite_rows(jtj)
    free = ~fixed
    all_free = bool(free.all())  # the usual case: the masks below are no-ops
    with np.errstate(invalid="ignore"):
        d = np.sqrt(np.clip(np.diagonal(jtj, axis1=-2, axis2=-1), 0.0, None))
    if not finite.all():
        d = np.where(finite[:, None], d, 0.0)
    d_safe = np.where((d > 0) & free, d, 1.0)

    def scaled(laws):
        """The column-scaled free blocks D^-1 A D^-1 of ``laws`` (the correlation form)."""
        A = np.where(free[laws][:, :, None] & free[laws][:, None, :], jtj[laws], np.eye(P))
        return A / (d_safe[laws][:, :, None] * d_safe[laws][:, None, :])

    rcond = np.ones(L)
    judged = np.flatnonzero(converged & finite)
    with np.errstate(all="ignore"):
        # Screen first: the eigenvalues of the scaled matrix S lie in
        # [1 / trace(S^-1), trace(S)] with trace(S) = P, so a law with
        # P trace(S^-1) < 1 / IDENTIFIABLE_RCOND is identifiable without its
        # eigenvalues; trace(S^-1) = sum_i d_i^2 (A^-1)_ii, from the core's
        # Cholesky of A (where it succeeds); the rest get their eigenvalues.
        if judged.size:
            if inverse is None:
                inverse = inverse_diagonals(free_block_inverse(jtj, fixed))
            rows = slice(None) if judged.size == L else judged  # every law: views, no copies
            terms = d_safe[rows] ** 2 * inverse[0][rows]
            if not all_free:
                terms = np.where(free[rows], terms, 1.0)
            trace = terms.sum(axis=1)
            ok = np.asarray(inverse[1], dtype=bool)[rows]
            look = judged[~(ok & (1.0 / (P * trace) > IDENTIFIABLE_RCOND))]
            if look.size:
                w = np.linalg.eigvalsh(scaled(look))  # eigenvectors only for the laws named below
                rcond[look] = w[:, 0] / np.maximum(w[:, -1], np.finfo(float).tiny)
    flat = free & (d == 0)  # the law does not depend on these at the optimum
    no_se = free & ~np.isfinite(se)
    if n_points is not None:  # no residual degrees of freedom: no standard error, by construction
        n_free = P if all_free else free.sum(axis=1)
        no_se &= (np.asarray(n_points) > n_free)[..., None]
    singular = rcond <= IDENTIFIABLE_RCOND
    bad = converged & finite & ((flat | no_se).any(axis=1) | singular)
    reasons = [""] * L
    bad_laws = np.flatnonzero(bad)
    counts = distinct(bad_laws) if distinct is not None and bad_laws.size else {}
    for i, law in enumerate(bad_laws):  # only the laws that need a message
        if flat[law].any():
            which = [param_names[j] for j in np.flatnonzero(flat[law])]
            why = "the fit does not depend on " + ", ".join(which) + " at the optimum"
        elif singular[law]:
            comp = np.abs(np.linalg.eigh(scaled([law])[0])[1][:, 0]) * free[law]
            which = [param_names[j] for j in np.flatnonzero(comp >= 0.3 * comp.max())]
            cond = (f"condition number {1.0 / rcond[law]:.1e}" if rcond[law] > np.finfo(float).eps
                    else "singular to working precision")
            why = f"the data determine only a combination of {', '.join(which)} (scaled J^T J {cond})"
        else:
            why = "no finite standard error for " + ", ".join(param_names[j] for j in np.flatnonzero(no_se[law]))
        few = [f"{int(c[i])} distinct {name}" for name, c in counts.items() if c[i] < 4]
        reasons[law] = "not identifiable: " + why + (f"; {', '.join(few)}" if few else "")
    return ~bad, reasons
