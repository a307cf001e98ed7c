"""`FitResult`: what :func:`lawfit.fit` returns -- tidy tables, predictions, derived
quantities, the compute-optimal frontier, model comparison, plots and reports.

Every array is indexed by *group* (one law per group of ``by``), in the sorted
order of the group keys, so an in-process fit and a Dask fit of the same data
give the same result.  The statistics come from :mod:`lawfit.multistart`
(best start, basin count), :mod:`lawfit.bootstrap` (replicates, percentile and
BCa intervals via :class:`lawfit.bootstrap.Replicates`) and
:mod:`lawfit.uncertainty` (covariance, goodness of fit, Wald intervals); this
module only evaluates formulas at the fitted parameters and lays out tables.

Quantities of a fit (a prediction, ``N_opt(C)``, ``beta/(alpha + beta)``) get

* with a bootstrap: the quantity on every resample's parameters, the
  bootstrap standard error and the percentile (or BCa) interval;
* without: the delta-method standard error from the parameter covariance
  (curve_fit's for least squares, the sandwich for robust losses) and the
  normal interval ``estimate -+ z stderr``.

Both are computed for every group at once: the delta method evaluates the
gradient of the quantity at every point with its own group's parameters in one
call of the core (:func:`lawfit.engine.core.evaluate_points`), never in a
Python loop over groups.

Groups whose parameters the data cannot determine (five parameters and two
model sizes) are flagged by :func:`lawfit.uncertainty.identifiability`: their
:meth:`FitResult.derived` and :meth:`FitResult.frontier` values are NaN, with
a ``reason`` column saying why.
"""
from __future__ import annotations

import json
import warnings
from functools import lru_cache
from typing import Mapping, Optional, Sequence

import numpy as np

from .status import LawfitWarning, is_converged, summarize_status, user_stacklevel
from .bootstrap import Replicates, _ragged_arange
from .engine.core import evaluate_points
from .engine.pool import thread_pool
from .formula import compile_law
from .uncertainty import params_as_inputs, percentile_interval, wald_interval

__all__ = ["FitResult", "eval_grouped", "eval_rows"]


def _pd():
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas is an extra
        raise ImportError("lawfit.fit and FitResult need pandas: pip install lawfit[pandas]") from exc
    return pd


# --------------------------------------------------------------------------
# Evaluating a formula at per-point parameters (vectorised, no per-group loop)


@lru_cache(maxsize=128)
def _grad_program(formula: str, param_names: tuple, input_names: tuple):
    return compile_law(formula, inputs=list(input_names), params=list(param_names))


def eval_rows(formula: str, param_names: Sequence[str], input_names: Sequence[str], params, x) -> np.ndarray:
    """``formula`` at point i with parameters ``params[i]`` (shape (n, P) or (n, R, P)).

    ``x`` is (n_inputs, n) in ``input_names`` order.  Returns (n,) or (n, R).
    """
    prog = params_as_inputs(formula, tuple(param_names), tuple(input_names))
    p = np.asarray(params, dtype=float)
    lead = p.shape[:-1]
    n = lead[0]
    rep = int(np.prod(lead[1:])) if len(lead) > 1 else 1
    xr = np.asarray(x, dtype=float).reshape(len(input_names), n)
    if n * rep == 0:
        return np.empty(lead)
    rows = np.vstack([np.repeat(xr, rep, axis=1), p.reshape(n * rep, -1).T])
    value, _ = prog.evaluate_columns(np.empty(0), prog.input_matrix(rows))
    return value.reshape(lead)


_PARALLEL_VALUES = 1 << 16  # predictions (points x replicates) from which replicates go to threads


def eval_grouped(formula: str, param_names: Sequence[str], input_names: Sequence[str], params, x,
                 group) -> np.ndarray:
    """``formula`` at point i with its group's parameters ``params[group[i]]``.

    ``params`` is (G, P), or (G, R, P) for R replicates of every group; ``x`` is
    (n_inputs, n) in ``input_names`` order.  Returns (n,) or (n, R).  The points
    are sorted by group once and the core evaluates every group at its own
    parameters in one call per replicate (:func:`~lawfit.engine.core.evaluate_points`),
    so no (n, R) copy of the inputs is made: a bootstrap of the Hitchhiker
    collection predicts its 53,822 rows x 200 resamples in a fraction of a second.
    """
    p = np.asarray(params, dtype=float)
    group = np.asarray(group, dtype=np.int64)
    n = group.size
    lead = (n,) + p.shape[1:-1]
    if n == 0:
        return np.empty(lead)
    order = np.argsort(group, kind="stable")
    present, counts = np.unique(group[order], return_counts=True)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    prog = _grad_program(formula, tuple(param_names), tuple(input_names))
    x = np.asarray(x, dtype=float).reshape(len(input_names), n)
    cols = prog.input_matrix(x[:, order])
    by_group = p[present].reshape(len(present), -1, p.shape[-1])  # (G', R, P)
    R = by_group.shape[1]
    # Replicates by rows of a (R, n) array (contiguous writes; the core releases the GIL, so
    # replicates run on the process's threads), put back in the points' order once at the end.
    sorted_out = np.empty((R, n))

    def one(r):
        sorted_out[r] = evaluate_points(prog, cols, by_group[:, r], offsets, gradient=False)[0]

    if R > 1 and n * R >= _PARALLEL_VALUES:
        list(thread_pool().map(one, range(R)))
    else:
        for r in range(R):
            one(r)
    out = np.empty((n, R))
    out[order] = sorted_out.T
    return out.reshape(lead)


def _readonly(a):
    """A read-only view of an array (None stays None)."""
    if a is None:
        return None
    v = np.asarray(a).view()
    v.flags.writeable = False
    return v


def _fmt_key(v) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{v:g}"
    return str(v)


class FitResult:
    """Laws fitted to the groups of a table, as returned by :func:`lawfit.fit`.

    Attributes
    ----------
    params : pandas.DataFrame
        One row per group: the group keys, then for every parameter ``p`` the
        columns ``p``, ``p_stderr``, ``p_low``, ``p_high`` (a reparameterised
        law such as ``chinchilla_lse`` adds its natural parameters, E, A, B,
        the same way), then
        ``n_points``, ``cost``, ``r2``, ``aic``, ``bic``, ``status`` (the
        :class:`lawfit.Status` name), ``reason`` (what the status means or,
        for a group that is not identified, why), ``converged``,
        ``identified``, ``n_starts``, ``n_converged``, ``basin_count`` (starts
        that reached the best cost), and with a bootstrap ``n_resamples``,
        ``n_failed_resamples``.
    law : lawfit.Law
    keys : pandas.DataFrame
        The group keys (one row per group, the order of every table).
    by, x, y : the column names used (``x`` in the law's input order).
    param_names, inputs : list of str
        The law's parameters (the columns of every (G, P) array) and inputs.
    n_groups : int
    summary : str
        The status line, e.g. ``"12 laws, 12 converged"``.
    level : float
        Confidence level of the intervals; ``ci`` their kind with a bootstrap.
    settings : dict
        The fit's options (loss, delta, residual, level, ci, seed, ...).
    derived_inputs : dict
        ``{name: inputs}`` of the law's derived quantities (``()`` for a
        scalar such as Chinchilla's ``a``); ``has_frontier`` says whether it
        defines ``N_opt`` and ``D_opt``.
    multistart, bootstrap_result
        The raw :class:`~lawfit.multistart.MultistartResult` and
        :class:`~lawfit.bootstrap.BootstrapResult` (lists of them, one per
        partition, for a Dask fit; the joint fit's for ``shared=``).

    The arrays behind the tables follow (read-only views; G groups in the order
    of :attr:`keys`, P parameters in the order of :attr:`param_names`).  Plots,
    reports and :func:`lawfit.evaluate` read only these public names.

    estimates, stderr : ndarray, (G, P)
        Best-fit parameters and their standard errors (bootstrap, or from
        :attr:`cov`).
    low, high : ndarray, (G, P)
        Interval bounds at :attr:`level`.
    cov : ndarray, (G, P, P)
        Parameter covariance (curve_fit's, or the sandwich for robust losses).
    status : ndarray of int32, (G,)
        :class:`lawfit.Status` codes; ``converged`` is the boolean mask.
    reason : list of str
        What each group's status means.
    cost, n_points, n_starts, n_converged, basin_count : ndarray, (G,)
        The objective at the optimum, points fitted, starts run, starts
        converged, starts that reached the best cost.
    goodness : dict of ndarray (G,)
        ``rss``, ``r2``, ``log_likelihood``, ``aic``, ``bic``.
    replicates : ndarray (G, R, P) or None
        Bootstrap replicates (NaN rows for failed resamples);
        ``replicate_status`` (G, R) their status codes; ``n_resamples`` R.
    jackknife, jackknife_law : ndarray or None
        Leave-one-unit-out estimates (rows, P) and the group of each row (for
        BCa intervals).
    identified : ndarray of bool, (G,)
        False where the data cannot determine the parameters (see
        :func:`lawfit.uncertainty.identifiability`); ``identified_reason`` (list of str) says
        why (``""`` where identified).
    group_index : ndarray of int64, (n_rows,)
        The group of every fitted row (rows sorted by group, as in :meth:`data`).
    points : ndarray, (n_inputs, n_rows)
        The fitted inputs, in the law's input order (the columns :attr:`x`).

    Besides the tables (:attr:`params`, :meth:`table`, :meth:`predict`,
    :meth:`derived`, :meth:`frontier`, :meth:`residuals`, :meth:`compare`),
    :meth:`data` returns the fitted rows, :meth:`select_groups` the group of
    each row of a frame naming the keys, and :meth:`quantity` any formula's
    estimate, stderr and interval at given points and groups, all at once.

    Examples
    --------
    >>> import numpy as np, pandas as pd, lawfit
    >>> x = np.geomspace(1, 1e4, 30)
    >>> df = pd.DataFrame({"x": np.tile(x, 2), "g": np.repeat(["a", "b"], 30),
    ...                    "y": np.r_[3 * x**-0.5 + 1, 5 * x**-0.3 + 2]})
    >>> res = lawfit.fit(df, "a*x**-b + c", x=["x"], y="y", by="g", progress=False,
    ...                  starts={"a": [1, 10], "b": [0.1, 1], "c": [0, 3]})
    >>> res.summary
    '2 laws, 2 converged'
    >>> res.params[["g", "a", "b", "c"]].round(6)
       g    a    b    c
    0  a  3.0  0.5  1.0
    1  b  5.0  0.3  2.0
    """

    def __init__(self, *, law, keys, by, x, y, sigma, data, est, stderr, low, high, cov, status, reason, cost,
                 n_points, n_starts, n_converged, basin_count, gof, replicates=None, boot_status=None,
                 jack=None, jack_law=None, settings=None, multistart=None, bootstrap_result=None, shared=(),
                 identified=None, identified_reason=None):
        self.law = law
        self.keys = keys.reset_index(drop=True)
        self.by = list(by)
        self.x = list(x)
        self.y = y
        self.sigma = sigma
        self._data = data
        self._est = np.asarray(est, dtype=float)
        self._se = np.asarray(stderr, dtype=float)
        self._lo = np.asarray(low, dtype=float)
        self._hi = np.asarray(high, dtype=float)
        self._cov = np.asarray(cov, dtype=float)
        self._status = np.asarray(status, dtype=np.int32)
        self._reason = list(reason)
        self._cost = np.asarray(cost, dtype=float)
        self._n_points = np.asarray(n_points, dtype=np.int64)
        self._n_starts = np.asarray(n_starts, dtype=np.int64)
        self._n_converged = np.asarray(n_converged, dtype=np.int64)
        self._basin = np.asarray(basin_count, dtype=np.int64)
        self._gof = {k: np.asarray(v, dtype=float) for k, v in gof.items()}
        self._reps = None if replicates is None else np.asarray(replicates, dtype=float)
        self._boot_status = None if boot_status is None else np.asarray(boot_status)
        self._jack = None if jack is None else np.asarray(jack, dtype=float)
        self._jack_law = None if jack_law is None else np.asarray(jack_law, dtype=np.int64)
        G = len(self.keys)
        self._identified = (np.ones(G, dtype=bool) if identified is None
                            else np.asarray(identified, dtype=bool).reshape(G).copy())
        reasons = [""] * G if identified_reason is None else list(identified_reason)
        if not set(map(type, reasons)) <= {str}:  # None (or a str subclass) as ""/str
            reasons = ["" if r is None else str(r) for r in reasons]
        self._ident_reason = reasons
        if len(self._ident_reason) != G:
            raise ValueError(f"identified_reason has {len(self._ident_reason)} entries for {G} groups")
        self.settings = dict(settings or {})
        self.multistart = multistart
        self.bootstrap_result = bootstrap_result
        self.shared = tuple(shared)
        self._params_df = None
        self._group_index = self._points = None  # built from the rows on first use

    # ------------------------------------------------------------------ basics
    @property
    def param_names(self) -> list[str]:
        return list(self.law.params)

    @property
    def inputs(self) -> list[str]:
        """The law's input names (``x`` holds the data columns feeding them, in this order)."""
        return list(self.law.input_names)

    @property
    def n_groups(self) -> int:
        return len(self.keys)

    @property
    def level(self) -> float:
        return float(self.settings.get("level", 0.95))

    @property
    def ci(self) -> str:
        return str(self.settings.get("ci", "percentile"))

    @property
    def n_resamples(self) -> int:
        return 0 if self._reps is None else int(self._reps.shape[1])

    @property
    def converged(self) -> np.ndarray:
        """Boolean mask of groups whose law converged."""
        return is_converged(self._status)

    # ------------------------------------------------------------------ the arrays (read-only)
    @property
    def estimates(self) -> np.ndarray:
        """Best-fit parameters, (G, P)."""
        return _readonly(self._est)

    @property
    def stderr(self) -> np.ndarray:
        """Standard errors of the parameters, (G, P)."""
        return _readonly(self._se)

    @property
    def low(self) -> np.ndarray:
        """Lower interval bounds of the parameters at :attr:`level`, (G, P)."""
        return _readonly(self._lo)

    @property
    def high(self) -> np.ndarray:
        """Upper interval bounds of the parameters at :attr:`level`, (G, P)."""
        return _readonly(self._hi)

    @property
    def cov(self) -> np.ndarray:
        """Parameter covariance, (G, P, P)."""
        return _readonly(self._cov)

    @property
    def status(self) -> np.ndarray:
        """:class:`lawfit.Status` codes per group, (G,) int32."""
        return _readonly(self._status)

    @property
    def reason(self) -> list[str]:
        """What each group's status means, (G,) strings."""
        return list(self._reason)

    @property
    def cost(self) -> np.ndarray:
        """The objective at the optimum, (G,)."""
        return _readonly(self._cost)

    @property
    def n_points(self) -> np.ndarray:
        """Points fitted per group, (G,)."""
        return _readonly(self._n_points)

    @property
    def n_starts(self) -> np.ndarray:
        """Starts run per group, (G,)."""
        return _readonly(self._n_starts)

    @property
    def n_converged(self) -> np.ndarray:
        """Starts that converged per group, (G,)."""
        return _readonly(self._n_converged)

    @property
    def basin_count(self) -> np.ndarray:
        """Starts that reached the best cost per group, (G,)."""
        return _readonly(self._basin)

    @property
    def goodness(self) -> dict:
        """Goodness of fit per group: ``{"rss", "r2", "log_likelihood", "aic", "bic": (G,)}``."""
        return {k: _readonly(v) for k, v in self._gof.items()}

    @property
    def replicates(self) -> Optional[np.ndarray]:
        """Bootstrap replicates of the parameters, (G, R, P), or None without a bootstrap."""
        return _readonly(self._reps)

    @property
    def replicate_status(self) -> Optional[np.ndarray]:
        """Status codes of the bootstrap replicates, (G, R), or None."""
        return _readonly(self._boot_status)

    @property
    def jackknife(self) -> Optional[np.ndarray]:
        """Jackknife (leave one unit out) parameter rows, (n_jack, P), or None (BCa intervals only)."""
        return _readonly(self._jack)

    @property
    def jackknife_law(self) -> Optional[np.ndarray]:
        """The group of every :attr:`jackknife` row, (n_jack,), or None."""
        return _readonly(self._jack_law)

    @property
    def identified(self) -> np.ndarray:
        """False for groups whose parameters the data cannot determine, (G,) bool."""
        return _readonly(self._identified)

    @property
    def identified_reason(self) -> list[str]:
        """Why a group is not identified (``""`` where it is), (G,) strings."""
        return list(self._ident_reason)

    @property
    def group_index(self) -> np.ndarray:
        """The group of every fitted row, (n_rows,) int64, rows sorted by group as in :meth:`data`."""
        if self._group_index is None:
            self._group_index = self._data["_group"].to_numpy(dtype=np.int64).copy()
        return _readonly(self._group_index)

    @property
    def points(self) -> np.ndarray:
        """The fitted inputs, (n_inputs, n_rows), in the law's input order (columns :attr:`x`)."""
        if self._points is None:
            n = len(self._data)
            self._points = (np.vstack([self._data[c].to_numpy(dtype=float) for c in self.x]) if self.x
                            else np.empty((0, n)))
        return _readonly(self._points)

    @property
    def derived_inputs(self) -> dict:
        """``{name: tuple of inputs}`` of the law's derived quantities (``()`` for a scalar)."""
        return {name: tuple(ins) for name, (_, ins) in self.law._derived_programs.items()}

    @property
    def has_frontier(self) -> bool:
        """Whether the law defines the compute-optimal frontier (derived ``N_opt`` and ``D_opt``)."""
        d = self.derived_inputs
        return "N_opt" in d and "D_opt" in d

    @property
    def summary(self) -> str:
        """``"12 laws, 12 converged"`` (plus the bootstrap's line when there is one)."""
        line = f"{self.n_groups:,} laws, {summarize_status(self._status)}"
        n_unident = int((~self._identified).sum())
        if n_unident:
            line += f" ({n_unident:,} not identifiable)"
        if self._reps is not None:
            failed = int((~np.isfinite(self._reps).all(axis=2)).sum())
            line += f"; bootstrap {self.n_resamples:,} resamples per law"
            if failed:
                line += f" ({failed:,} resamples failed)"
        return line

    def group_labels(self) -> list[str]:
        """A short text label per group (``"a"``, ``"c4, 2.0"``), for plots and reports."""
        if not self.by:
            return [self.law.name or "all"]
        return [", ".join(_fmt_key(v) for v in row) for row in self.keys.itertuples(index=False, name=None)]

    def data(self) -> "object":
        """The rows that were fitted (sorted by group) with the group keys, inputs and y."""
        return self._data.drop(columns=["_group"]).rename(columns={"_row": "row"}).reset_index(drop=True)


    # ------------------------------------------------------------------ tables
    @property
    def params(self):
        """One row per group: keys, estimates, stderr, CI, cost, status (see the class notes)."""
        if self._params_df is None:
            self._params_df = self._build_params()
        return self._params_df.copy()

    def _build_params(self):
        pd = _pd()
        df = self.keys.copy()
        for j, p in enumerate(self.param_names):
            df[p] = self._est[:, j]
            df[f"{p}_stderr"] = self._se[:, j]
            df[f"{p}_low"] = self._lo[:, j]
            df[f"{p}_high"] = self._hi[:, j]
        for p, formula in self.law.natural.items():
            if p in self.param_names:
                continue
            # a reparameterised law (chinchilla_lse): its natural parameters next to the fitted ones
            q = self.quantity(formula, np.empty((0, self.n_groups)), np.arange(self.n_groups), inputs=[])
            df[p], df[f"{p}_stderr"], df[f"{p}_low"], df[f"{p}_high"] = (q["estimate"], q["stderr"],
                                                                          q["low"], q["high"])
        df["n_points"] = self._n_points
        df["cost"] = self._cost
        for k in ("r2", "aic", "bic"):
            df[k] = self._gof.get(k, np.full(self.n_groups, np.nan))
        from .engine.native import Status

        df["status"] = pd.Series([Status(int(s)).name for s in self._status], dtype=object)
        reason = [why if why else r for r, why in zip(self._reason, self._ident_reason)]
        df["reason"] = pd.Series(reason, dtype=object)
        df["converged"] = self.converged
        df["identified"] = self._identified.copy()
        df["n_starts"] = self._n_starts
        df["n_converged"] = self._n_converged
        df["basin_count"] = self._basin
        if self._reps is not None:
            df["n_resamples"] = self.n_resamples
            df["n_failed_resamples"] = (~np.isfinite(self._reps).all(axis=2)).sum(axis=1)
        return df

    def to_frame(self):
        """The :attr:`params` table (a copy)."""
        return self.params

    def table(self, long: bool = True, derived: bool = True):
        """Parameters (and the law's scalar derived quantities) as a table.

        ``long=True``: one row per (group, quantity) with columns ``quantity``,
        ``kind`` (``"parameter"`` or ``"derived"``), ``estimate``, ``stderr``,
        ``low``, ``high``.  ``long=False``: :attr:`params`.
        """
        pd = _pd()
        if not long:
            return self.params
        frames = []
        for j, p in enumerate(self.param_names):
            f = self.keys.copy()
            f["quantity"], f["kind"] = p, "parameter"
            f["estimate"], f["stderr"], f["low"], f["high"] = (self._est[:, j], self._se[:, j],
                                                               self._lo[:, j], self._hi[:, j])
            frames.append(f)
        if derived:
            for name, ins in self.derived_inputs.items():
                if ins:
                    continue
                d = self.derived(name)
                f = self.keys.copy()
                f["quantity"], f["kind"] = name, "derived"
                f["estimate"] = d[name].to_numpy()
                f["stderr"] = d[f"{name}_stderr"].to_numpy()
                f["low"], f["high"] = d[f"{name}_low"].to_numpy(), d[f"{name}_high"].to_numpy()
                frames.append(f)
        out = pd.concat(frames, ignore_index=True)
        if self.by:
            order = np.argsort(np.tile(np.arange(self.n_groups), len(frames)), kind="stable")
            out = out.iloc[order].reset_index(drop=True)
        return out

    # ------------------------------------------------------------------ quantities
    def quantity(self, formula: str, x, group, *, inputs: Optional[Sequence[str]] = None,
                 level: Optional[float] = None) -> dict:
        """Estimate, stderr and interval of ``formula`` at points of given groups, all at once.

        Parameters
        ----------
        formula : str
            A formula of the law's parameters and of ``inputs`` (the law's
            own formula, a derived quantity's, ``"beta/(alpha + beta)"``).
        x : array_like, (len(inputs), n)
            The points, one row per input.
        group : array_like of int, (n,)
            The group (row of :attr:`params`) whose parameters each point uses.
        inputs : sequence of str, optional
            Names of the rows of ``x`` (default: the law's inputs).
        level : float, optional
            Interval level (default: the fit's).

        Returns
        -------
        dict of ndarray (n,)
            ``estimate``, ``stderr``, ``low``, ``high``: the bootstrap standard
            error and percentile (or BCa) interval when the fit was
            bootstrapped, else the delta-method standard error and a normal
            interval.  Unlike :meth:`derived` this does not blank groups that
            are not identified.
        """
        ins = list(self.inputs if inputs is None else inputs)
        group = np.asarray(group, dtype=np.int64).ravel()
        x = np.asarray(x, dtype=float).reshape(len(ins), group.size)
        return self._quantity(formula, ins, x, group, level)

    def _quantity(self, formula: str, input_names: Sequence[str], x: np.ndarray, group: np.ndarray,
                  level: Optional[float]) -> dict:
        """Estimate, stderr and interval of ``formula`` at points ``x`` (k, n) of groups ``group`` (n,)."""
        level = self.level if level is None else level
        names = self.param_names
        est = eval_grouped(formula, names, input_names, self._est, x, group)
        n = est.shape[0]
        if self._reps is not None:
            reps = eval_grouped(formula, names, input_names, self._reps, x, group)  # (n, R)
            jack = jl = None
            if self.ci == "bca" and self._jack is not None:
                G = self.n_groups
                order = np.argsort(self._jack_law, kind="stable")
                counts = np.bincount(self._jack_law, minlength=G)
                first = np.cumsum(counts) - counts
                rows = _ragged_arange(first[group], counts[group])
                jl = np.repeat(np.arange(n), counts[group])
                jack = eval_rows(formula, names, input_names, self._jack[order[rows]], x[:, jl])
            r = Replicates(est, reps, jack, jl)
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN replicates of failed groups
                lo, hi = r.interval(level, self.ci if jack is not None else "percentile")
                se = r.stderr()
            return {"estimate": est, "stderr": se, "low": lo, "high": hi}
        se = self._delta_stderr(formula, input_names, x, group)
        with np.errstate(all="ignore"):
            lo, hi = wald_interval(est, se, level)
        return {"estimate": est, "stderr": se, "low": lo, "high": hi}

    def _delta_stderr(self, formula: str, input_names: Sequence[str], x: np.ndarray,
                      group: np.ndarray) -> np.ndarray:
        """Delta-method standard errors of ``formula`` at every point, every group at once.

        The points are sorted by group and handed to the core in one call with
        each group's parameters (:func:`~lawfit.engine.core.evaluate_points`);
        the variance is ``g' C g`` with the gradient ``g`` and the group's
        covariance ``C``.  Groups with non-finite estimates get NaN.
        """
        n = group.size
        se = np.full(n, np.nan)
        usable = np.isfinite(self._est).all(axis=1)
        take = np.flatnonzero(usable[group])
        if take.size == 0:
            return se
        take = take[np.argsort(group[take], kind="stable")]
        gs = group[take]
        present, counts = np.unique(gs, return_counts=True)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        prog = _grad_program(formula, tuple(self.param_names), tuple(input_names))
        P = len(self.param_names)
        var = np.empty(take.size)
        with np.errstate(all="ignore"):
            _, grad = evaluate_points(prog, prog.input_matrix(x[:, take]), self._est[present], offsets)
            block = max(1, (1 << 22) // max(1, P * P))  # bound the (points, P, P) covariance gather
            for a in range(0, take.size, block):  # blocks of points, not groups
                b = min(take.size, a + block)
                var[a:b] = np.einsum("ni,nij,nj->n", grad[a:b], self._cov[gs[a:b]], grad[a:b])
            se[take] = np.sqrt(np.clip(var, 0.0, None))
        return se

    def _blank_unidentified(self, q: dict, group: np.ndarray) -> dict:
        """NaN estimates and intervals for points of groups that are not identified."""
        bad = ~self._identified[group]
        if bad.any():
            q = {k: np.where(bad, np.nan, v) for k, v in q.items()}
        return q

    def _reason_of(self, group: np.ndarray):
        """The identifiability reason of every point's group (``""`` where identified)."""
        why = np.asarray(self._ident_reason + [""], dtype=object)
        return why[np.asarray(group, dtype=np.int64)]

    def select_groups(self, frame) -> Optional[np.ndarray]:
        """The group (row of :attr:`params`) of every row of ``frame``, (n,) int64.

        ``frame`` (a DataFrame or mapping of columns) names the group keys
        :attr:`by`; None when it names none of them (or the fit has no
        groups): then every group applies to every row.  Raises ValueError
        when only some key columns are given or a row's keys match no
        fitted group.
        """
        if not self.by:
            return None
        have = [c for c in self.by if c in frame]
        if not have:
            return None
        if len(have) != len(self.by):
            missing = [c for c in self.by if c not in frame]
            raise ValueError(f"name all group columns or none: missing {missing}")
        pd = _pd()
        left = pd.DataFrame({c: np.asarray(frame[c]).ravel() for c in self.by})
        right = self.keys.assign(_g=np.arange(self.n_groups))
        m = left.merge(right, on=self.by, how="left")
        if m["_g"].isna().any():
            bad = left[m["_g"].isna().to_numpy()].iloc[0].to_dict()
            raise ValueError(f"no fitted group {bad}")
        return m["_g"].to_numpy(dtype=np.int64)

    def _rows_at(self, data, inputs: Mapping, needed: Sequence[str]):
        """Rows to evaluate at: (frame of inputs and keys, x (k, n), group (n,))."""
        pd = _pd()
        kw = {k: np.atleast_1d(np.asarray(v, dtype=float)).ravel() for k, v in inputs.items()}
        if data is None:
            n_kw = max([v.size for v in kw.values()], default=1)
            data = pd.DataFrame({k: np.broadcast_to(v, (n_kw,)) for k, v in kw.items()}, index=range(n_kw))
        else:
            if not isinstance(data, pd.DataFrame):
                data = pd.DataFrame({k: np.atleast_1d(np.asarray(v)) for k, v in dict(data).items()})
            data = data.reset_index(drop=True).copy()
            for k, v in kw.items():
                data[k] = np.broadcast_to(v, (len(data),)) if v.size == 1 else v
        cols = {}
        x_of = dict(zip(self.inputs, self.x))
        for name in needed:
            col = x_of.get(name, name)
            if col in data:
                cols[name] = data[col].to_numpy(dtype=float)
            elif name in data:
                cols[name] = data[name].to_numpy(dtype=float)
            else:
                raise ValueError(f"missing input {col!r}: pass it as a column or keyword (the parameters are "
                                 f"{', '.join(self.param_names)}; the law's inputs {', '.join(self.inputs)})")
        n = len(data)
        group = self.select_groups(data)
        if group is None:  # every group at every point
            G = self.n_groups
            group = np.repeat(np.arange(G), n)
            frame = self.keys.loc[group].reset_index(drop=True)
            body = data.loc[np.tile(np.arange(n), G)].reset_index(drop=True)
            body = body.drop(columns=[c for c in self.by if c in body], errors="ignore")
            frame = pd.concat([frame, body], axis=1) if len(body.columns) else frame
            x = np.vstack([np.tile(cols[k], G) for k in needed]) if needed else np.empty((0, n * G))
        else:
            frame = data
            x = np.vstack([cols[k] for k in needed]) if needed else np.empty((0, n))
        return frame, x, group

    def predict(self, data=None, *, level: Optional[float] = None, **inputs):
        """The fitted laws at new inputs, with intervals.

        Parameters
        ----------
        data : DataFrame or mapping, optional
            Input columns (the fit's ``x`` names or the law's input names).  If
            it holds the group columns, each row is predicted with its group's
            law; otherwise every group is predicted at every row.
        level : float, optional
            Interval level (default: the fit's).
        **inputs
            Inputs as keywords, e.g. ``predict(N=70e9, D=1.4e12)``.

        Returns
        -------
        pandas.DataFrame
            The group keys and inputs, then ``prediction``, ``stderr``, ``low``,
            ``high``: bootstrap SE and percentile (or BCa) interval of the
            fitted curve when the fit was bootstrapped, else the delta method
            and a normal interval; and ``reason``, ``""`` unless the group is
            not identified (its curve is still predicted: it fits the data,
            but extrapolations and intervals deserve little trust).
        """
        frame, x, group = self._rows_at(data, inputs, self.inputs)
        q = self._quantity(self.law.formula, self.inputs, x, group, level)
        out = frame.copy()
        out["prediction"], out["stderr"], out["low"], out["high"] = (q["estimate"], q["stderr"],
                                                                     q["low"], q["high"])
        out["reason"] = self._reason_of(group)
        return out

    def _formula_of(self, name_or_formula: str):
        progs = self.law._derived_programs  # (the law's own compiled derived formulas)
        if name_or_formula in progs:
            prog, ins = progs[name_or_formula]
            return name_or_formula, prog.formula, list(ins)
        if name_or_formula in self.param_names:
            return name_or_formula, name_or_formula, []
        from .formula import parse

        tree = parse(name_or_formula)
        ins = [s for s in tree.symbols if s not in self.param_names and s != "pi"]
        return "value", name_or_formula, ins

    def derived(self, name_or_formula: str, data=None, *, level: Optional[float] = None, **inputs):
        """A derived quantity of every group's law, with stderr and interval.

        ``name_or_formula`` is one of the law's derived quantities
        (``print(law)`` lists them, e.g. Chinchilla's ``"a"`` or ``"N_opt"``)
        or a formula of the parameters and inputs (``"beta/(alpha + beta)"``,
        ``"E + A/N**alpha"``).  Inputs it needs are passed as keywords
        (``C=[1e21, 1e23]``) or in ``data``.

        Returns
        -------
        pandas.DataFrame
            Keys, inputs, then ``<name>``, ``<name>_stderr``, ``<name>_low``,
            ``<name>_high`` (``value`` for a formula) and ``reason``: NaN
            values and the reason (e.g. ``"not identifiable: the data determine
            only a combination of A, alpha (...); 2 distinct N"``) for groups
            whose parameters the data do not determine, ``""`` elsewhere.
        """
        label, formula, ins = self._formula_of(name_or_formula)
        frame, x, group = self._rows_at(data, inputs, ins)
        q = self._blank_unidentified(self._quantity(formula, ins, x, group, level), group)
        out = frame.copy()
        out[label], out[f"{label}_stderr"] = q["estimate"], q["stderr"]
        out[f"{label}_low"], out[f"{label}_high"] = q["low"], q["high"]
        out["reason"] = self._reason_of(group)
        return out

    def frontier(self, C, *, level: Optional[float] = None):
        """Compute-optimal model size and data at compute budgets ``C`` (FLOP), per group.

        For laws defining ``N_opt`` and ``D_opt`` (Chinchilla, Hoffmann et al.
        2022, eq. 4: ``N_opt = G (C/6)^a``, ``D_opt = G^-1 (C/6)^b``).  Returns
        keys, ``C``, then ``N_opt``, ``D_opt`` and, where the law defines them,
        ``L_opt`` and ``tokens_per_param``, each with ``_stderr``, ``_low``,
        ``_high``, and ``reason`` (NaN values and why for groups that are not
        identified, ``""`` elsewhere; see :meth:`derived`).
        """
        progs = self.derived_inputs
        if not self.has_frontier:
            from .catalog import laws

            have = [n for n, law in laws.items() if "N_opt" in law.derived and "D_opt" in law.derived]
            raise ValueError(f"law {self.law.name or self.law.formula!r} defines no compute-optimal frontier "
                             f"(derived N_opt and D_opt); laws that do: {', '.join(have)}")
        C = np.atleast_1d(np.asarray(C, dtype=float)).ravel()
        bad = ~(np.isfinite(C) & (C > 0))
        if bad.any():
            raise ValueError(f"compute budgets C must be positive and finite (FLOP), got {float(C[bad][0])!r}")
        out = None
        for name in ("N_opt", "D_opt", "L_opt", "tokens_per_param"):
            if name not in progs:
                continue
            d = self.derived(name, C=C, level=level)
            reason = d.pop("reason")
            out = d if out is None else out.join(d[[name, f"{name}_stderr", f"{name}_low", f"{name}_high"]])
        out["reason"] = reason
        return out

    def residuals(self):
        """Every fitted row with ``fitted`` and ``residual`` (in the fitted space: ``f - y``,
        or ``log f - log y`` for log residuals), and ``row`` (the row's index in the input)."""
        g = self.group_index
        fitted = eval_rows(self.law.formula, self.param_names, self.inputs, self._est[g], self.points)
        y = self._data[self.y].to_numpy(dtype=float)
        with np.errstate(all="ignore"):
            r = np.log(fitted) - np.log(y) if self.settings.get("residual") == "log" else fitted - y
        out = self.data()
        out["fitted"] = fitted
        out["residual"] = r
        return out

    # ------------------------------------------------------------------ comparison
    def compare(self, other: "FitResult", *, along: Optional[str] = None, at: Optional[Mapping] = None,
                grid=None, extrapolate: float = 100.0, n_grid: int = 400, level: Optional[float] = None):
        """Compare with another fit of the same groups: AIC/BIC, and where the two laws cross.

        Parameters
        ----------
        other : FitResult
            Another law fitted to the same rows (same ``y``, groups and
            residual space, else the information criteria are not comparable
            and come back NaN with a warning).
        along : str, optional
            An input to search for a crossing of the two laws' predictions
            (e.g. ``"N"``).  The other inputs are held at ``at`` (a number, or
            a function of ``along``, e.g. ``{"D": lambda N: 20 * N}``).
        grid : array_like, optional
            Values of ``along`` to search (default: log-spaced from the
            smallest value in the group's data to ``extrapolate`` times the
            largest).
        level : float, optional
            Level of the crossing's bootstrap interval (both fits bootstrapped
            with the same seed and resamples: the resamples are then paired).

        Returns
        -------
        pandas.DataFrame
            Keys, ``aic_<law>``, ``aic_<other>``, ``delta_aic`` (this minus
            other; negative favours this law), the same for BIC,
            ``preferred`` (by AIC), and with ``along``: ``crossing``, the first
            value of ``along`` where the predictions cross (NaN if they do not
            in the grid), ``crossing_low``, ``crossing_high`` and
            ``crossing_fraction`` (share of resamples that cross) when both
            fits were bootstrapped.
        """
        pd = _pd()
        if sorted(self.by) != sorted(other.by):
            raise ValueError(f"the fits group by different columns: {self.by} vs {other.by}")
        a = self.law.name or "this"
        b = other.law.name or "other"
        if a == b:
            a, b = f"{a}_1", f"{b}_2"
        left = self.keys.assign(_ga=np.arange(self.n_groups))
        right = other.keys.assign(_gb=np.arange(other.n_groups))
        m = left.merge(right, on=self.by, how="inner") if self.by else left.join(right)
        ga, gb = m["_ga"].to_numpy(), m["_gb"].to_numpy()
        out = m[self.by].copy()
        comparable = (self.y == other.y and self.settings.get("residual") == other.settings.get("residual")
                      and np.array_equal(self.n_points[ga], other.n_points[gb]))
        if not comparable:
            warnings.warn("lawfit: the two fits differ in y, residual space or points; AIC/BIC are not "
                          "comparable (NaN)", LawfitWarning, stacklevel=user_stacklevel())
        for crit in ("aic", "bic"):
            va = self.goodness.get(crit, np.full(self.n_groups, np.nan))[ga]
            vb = other.goodness.get(crit, np.full(other.n_groups, np.nan))[gb]
            out[f"{crit}_{a}"], out[f"{crit}_{b}"] = va, vb
            with np.errstate(all="ignore"):
                out[f"delta_{crit}"] = va - vb if comparable else np.nan
        d = out["delta_aic"].to_numpy()
        out["preferred"] = pd.Series(np.where(np.isnan(d), None, np.where(d <= 0, a, b)), dtype=object)
        if along is not None:
            out = out.join(pd.DataFrame(self._crossing(other, ga, gb, along, dict(at or {}), grid,
                                                       extrapolate, n_grid, level)))
        return out

    def _crossing(self, other, ga, gb, along, at, grid, extrapolate, n_grid, level):
        level = self.level if level is None else level
        needed = list(dict.fromkeys(self.inputs + other.inputs))
        if along not in needed:
            raise ValueError(f"along={along!r} is not an input of either law ({needed})")
        missing = [n for n in needed if n != along and n not in at]
        if missing:
            raise ValueError(f"hold the other inputs fixed: at={{{', '.join(repr(m) + ': ...' for m in missing)}}}")
        K = len(ga)
        if grid is not None:
            xs = np.tile(np.asarray(grid, dtype=float).ravel(), (K, 1))
        else:
            # The range of `along` in each pair of groups' data (both fits), every group at once.
            lo, hi = np.full(K, np.inf), np.full(K, -np.inf)
            for res, groups in ((self, ga), (other, gb)):
                if along in res.inputs:
                    v = res.points[res.inputs.index(along)]
                    gi = res.group_index
                    fin = np.isfinite(v)
                    glo, ghi = np.full(res.n_groups, np.inf), np.full(res.n_groups, -np.inf)
                    np.minimum.at(glo, gi[fin], v[fin])
                    np.maximum.at(ghi, gi[fin], v[fin])
                    lo, hi = np.minimum(lo, glo[groups]), np.maximum(hi, ghi[groups])
            empty = ~(np.isfinite(lo) & np.isfinite(hi))
            lo, hi = np.where(empty, 1.0, lo), np.where(empty, 1.0, hi) * extrapolate
            pos = lo > 0
            with np.errstate(all="ignore"):
                geo = np.geomspace(np.where(pos, lo, 1.0), np.where(pos, hi, 2.0), n_grid, axis=1)
            xs = np.where(pos[:, None], geo, np.linspace(lo, hi, n_grid, axis=1))
        n = xs.shape[1]
        env = {along: xs.ravel()}
        for name, v in at.items():
            env[name] = np.asarray(v(xs.ravel()) if callable(v) else np.broadcast_to(v, xs.size), float).ravel()

        def values(res, groups, reps):
            x = np.vstack([env[i] for i in res.inputs])
            g = np.repeat(groups, n)
            p = res.replicates[g] if reps else res.estimates[g]
            f = eval_rows(res.law.formula, res.param_names, res.inputs, p, x)
            return f.reshape(K, n, -1) if reps else f.reshape(K, n)

        def first_cross(diff, logx):  # diff (K, n) -> (K,)
            s = np.sign(diff)
            change = (s[:, :-1] * s[:, 1:] < 0) & np.isfinite(diff[:, :-1]) & np.isfinite(diff[:, 1:])
            has = change.any(axis=1)
            k = np.argmax(change, axis=1)
            rows = np.arange(diff.shape[0])
            d0, d1 = diff[rows, k], diff[rows, k + 1]
            with np.errstate(all="ignore"):
                t = d0 / (d0 - d1)
                v = logx[rows, k] + t * (logx[rows, k + 1] - logx[rows, k])
            return np.where(has, v, np.nan)

        log = np.all(xs > 0)
        lx = np.log(xs) if log else xs
        back = np.exp if log else (lambda v: v)
        with np.errstate(all="ignore"):
            out = {"crossing": back(first_cross(values(self, ga, False) - values(other, gb, False), lx))}
        if self.replicates is not None and other.replicates is not None and self.n_resamples == other.n_resamples:
            with np.errstate(all="ignore"):
                da = values(self, ga, True) - values(other, gb, True)  # (K, n, R)
                R = da.shape[2]
                dd = np.moveaxis(da, 2, 1).reshape(K * R, n)
                c = back(first_cross(dd, np.repeat(lx, R, axis=0))).reshape(K, R)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # no resample crosses: all-NaN rows
                lo, hi = percentile_interval(c, level, axis=1)
            out["crossing_low"], out["crossing_high"] = lo, hi
            out["crossing_fraction"] = np.isfinite(c).mean(axis=1)
        return out

    # ------------------------------------------------------------------ output
    def plot(self, kind: str = "fit", **kwargs):
        """A matplotlib figure: ``kind`` is ``"fit"`` (data, fitted curves, extrapolation and
        bootstrap bands), ``"frontier"`` (isoFLOP curves and the compute-optimal frontier),
        ``"params"`` (bootstrap distributions) or ``"residuals"``; see :mod:`lawfit.plot`."""
        from .plot import plot as _plot  # (not `from . import plot`: lawfit.plot may be exported as a function)

        return _plot(self, kind=kind, **kwargs)

    def report(self, path, **kwargs):
        """Write a report: ``.html`` (self-contained, plots embedded) or ``.md``; see :mod:`lawfit.report`."""
        from .report import write_report

        return write_report(self, path, **kwargs)

    def metadata(self) -> dict:
        """What the fit was: law, columns, settings and summary (JSON-serialisable)."""
        law = self.law
        return {
            "law": law.name, "formula": law.formula, "inputs": self.inputs, "params": self.param_names,
            "citation": str(law.citation) if law.citation else "", "x": self.x, "y": self.y,
            "by": self.by, "sigma": self.sigma if isinstance(self.sigma, str) else None,
            "shared": list(self.shared), "summary": self.summary,
            "settings": {k: v for k, v in self.settings.items() if isinstance(v, (str, int, float, bool, type(None)))},
        }

    def to_parquet(self, path, **kwargs) -> None:
        """Write :attr:`params` to parquet, with :meth:`metadata` under the key ``b"lawfit"``
        (``lawfit report results.parquet`` renders it)."""
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:  # pragma: no cover
            raise ImportError("to_parquet needs pyarrow: pip install lawfit[pandas]") from exc
        table = pa.Table.from_pandas(self.params, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"lawfit"] = json.dumps(self.metadata()).encode()
        pq.write_table(table.replace_schema_metadata(meta), path, **kwargs)

    def __repr__(self) -> str:
        law = self.law
        name = f"{law.name} ({law.formula})" if law.name else law.formula
        by = f" by {', '.join(self.by)}" if self.by else ""
        lines = [f"FitResult: {name}{by}", f"  {self.summary}"]
        delta = self.settings.get("delta")
        loss = self.settings.get("loss", "l2")
        obj = loss if loss == "l2" else f"{loss} (delta={delta:g})"
        source = f"bootstrap ({self.ci})" if self._reps is not None else "covariance"
        lines.append(f"  {obj} on {self.settings.get('residual', 'linear')} residuals; "
                     f"{100 * self.level:g}% intervals from the {source}")
        cols = list(self.by) + self.param_names + ["status"]
        head = self.params[cols].head(10)
        with _pd().option_context("display.width", 120, "display.max_columns", 20,
                                  "display.float_format", lambda v: f"{v:.5g}"):
            lines.append(head.to_string(index=False))
        if self.n_groups > 10:
            lines.append(f"  ... {self.n_groups - 10} more groups (.params has them all)")
        return "\n".join(lines)

    # ------------------------------------------------------------------ merging (Dask)
    @classmethod
    def concat(cls, parts: Sequence["FitResult"]) -> "FitResult":
        """One result from fits of disjoint groups (e.g. Dask partitions), groups in sorted key order."""
        pd = _pd()
        parts = [p for p in parts if p is not None and p.n_groups]
        if not parts:
            raise ValueError("no groups were fitted")
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        keys = pd.concat([p.keys for p in parts], ignore_index=True)
        order = keys.sort_values(first.by, kind="mergesort").index.to_numpy() if first.by else np.arange(len(keys))
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)

        def cat(name):
            arrs = [getattr(p, name) for p in parts]
            return None if any(a is None for a in arrs) else np.concatenate(arrs)[order]

        def cat_list(name):
            items = sum((list(getattr(p, name)) for p in parts), [])
            return [items[i] for i in order]

        offs = np.cumsum([0] + [p.n_groups for p in parts])
        frames = []
        for p, o in zip(parts, offs[:-1]):
            d = p._data.copy()
            d["_group"] = rank[d["_group"].to_numpy() + o]
            frames.append(d)
        data = pd.concat(frames, ignore_index=True)
        data = data.iloc[np.argsort(data["_group"].to_numpy(), kind="stable")].reset_index(drop=True)
        gof = {k: np.concatenate([p.goodness[k] for p in parts])[order] for k in first.goodness}
        jack = jack_law = None
        if all(p.jackknife is not None for p in parts):
            jack = np.concatenate([p.jackknife for p in parts])
            jack_law = rank[np.concatenate([p.jackknife_law + o for p, o in zip(parts, offs[:-1])])]
        return cls(law=first.law, keys=keys.loc[order].reset_index(drop=True), by=first.by, x=first.x,
                   y=first.y, sigma=first.sigma, data=data, est=cat("estimates"), stderr=cat("stderr"),
                   low=cat("low"), high=cat("high"), cov=cat("cov"), status=cat("status"),
                   reason=cat_list("reason"), cost=cat("cost"), n_points=cat("n_points"),
                   n_starts=cat("n_starts"), n_converged=cat("n_converged"), basin_count=cat("basin_count"),
                   gof=gof, replicates=cat("replicates"), boot_status=cat("replicate_status"), jack=jack,
                   jack_law=jack_law, settings=first.settings, multistart=[p.multistart for p in parts],
                   identified=cat("identified"), identified_reason=cat_list("identified_reason"),
                   bootstrap_result=[p.bootstrap_result for p in parts], shared=first.shared)


