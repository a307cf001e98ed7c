"""Bootstrap of fitted laws: laws x resamples x starts in one batch.

A resample is not a copy of the data: problem k of the batch fits law l with
every point (or every group of points) weighted by a Poisson(1) multiplicity
drawn by the C++ core from a counter-based generator keyed by
(seed, law, resample, unit) — the Poisson bootstrap (Hanley & MacGibbon 2006;
cpp/lawfit/rng.hpp), the large-n limit of the classical multinomial
bootstrap.  Any resample can be regenerated anywhere
(:meth:`BootstrapResult.counts`), and CPU and GPU draw identical resamples.

* **Point (pairs) bootstrap**: units are points.
* **Grouped bootstrap**: ``group`` labels (e.g. the training run of each
  checkpoint) make whole groups the unit, so correlated points move together.

Each resample is fitted from a few starts (by default the full-data optimum
and up to ``n_starts - 1`` other distinct local optima of nearly the same
cost that the full-data multistart found), and reduced to its best
converged start.  The intervals —
percentile and BCa — are for parameters, for any formula of the parameters
(``"beta/(alpha + beta)"``, ``"exp(e)"``, a compute-optimal ``N_opt`` with an
input ``C``) and for predictions of the law at given inputs; see
:mod:`lawfit.uncertainty` for the formulas.

**Jackknife for the BCa acceleration.**  The core's point weights are shared
by every problem of a batch, so a leave-one-out problem cannot be expressed
as a 0/1 weight per problem, and ``fixed`` concerns parameters, not points.
The jackknife is therefore laid out as separate laws — law l without unit u —
and fitted in one more batch call from the full-data optimum (one near-
converged problem per unit).  Its size is sum over laws of n_l (B_l - 1)
points; when a law has more than ``max_jackknife`` units they are dealt into
``max_jackknife`` random blocks of (nearly) equal size and whole blocks are
left out (the delete-d jackknife).  The acceleration is a ratio of the third
to the 3/2 power of the second cumulant of the influence values, and
cumulants add over the units of a block, so blocks estimate the same
quantity (Efron & Tibshirani 1993, sec. 11.5 and 14.3).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

import warnings

import numpy as np

from .engine import native as _core
from .engine.core import solve_batch
from .status import is_converged, summarize_status
from .engine.data import Data, group_ids
from .multistart import MultistartResult
from .uncertainty import (
    bca_interval,
    grouped_acceleration,
    evaluate_many,
    percentile_interval,
)

__all__ = ["bootstrap", "BootstrapResult", "Replicates", "group_ids"]

# Problems per solver call (bounds the memory of one call's outputs), and points
# copied per jackknife call.
_CHUNK_PROBLEMS = 1 << 21
_CHUNK_POINTS = 1 << 24


@dataclass(eq=False)
class Replicates:
    """A statistic's full-data value, bootstrap replicates and jackknife values.

    Attributes
    ----------
    estimate : ndarray, ``(L, *shape)``
        The statistic on the full data, per law.
    replicates : ndarray, ``(L, R, *shape)``
        Its value on every resample (NaN for resamples that did not converge).
    jackknife : ndarray ``(J, *shape)`` or None
        Its value with each unit (or block of units) left out; ``jack_law``
        (J,) says which law each row belongs to.
    names : list of str or None
        Labels of the last axis (parameter names).
    """

    estimate: np.ndarray
    replicates: np.ndarray
    jackknife: np.ndarray | None
    jack_law: np.ndarray | None
    names: list[str] | None = None

    @property
    def n_laws(self) -> int:
        return self.estimate.shape[0]

    def stderr(self) -> np.ndarray:
        """Bootstrap standard error (sample SD of the replicates), ``(L, *shape)``."""
        with warnings.catch_warnings():  # a law whose every resample failed: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            if not np.isnan(self.replicates).any():
                # np.nanstd's own steps without its NaN bookkeeping (the same sums and divisions:
                # the same bits); 40 -> 29 ms on 53,822 predictions x 200 resamples.
                return np.std(self.replicates, axis=1, ddof=1)
            return np.nanstd(self.replicates, axis=1, ddof=1)

    def bias(self) -> np.ndarray:
        """Bootstrap bias estimate mean(replicates) - estimate, ``(L, *shape)``."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.replicates, axis=1) - self.estimate

    def acceleration(self) -> np.ndarray:
        """BCa acceleration per law from the jackknife values, ``(L, *shape)``."""
        if self.jackknife is None:
            raise ValueError("no jackknife values: run bootstrap(..., jackknife=True) for BCa")
        return grouped_acceleration(self.jackknife, self.jack_law, self.estimate.shape)

    def interval(self, level: float = 0.95, method: str = "percentile") -> tuple[np.ndarray, np.ndarray]:
        """Confidence interval ``(lower, upper)``, each ``(L, *shape)``.

        ``method`` is ``"percentile"`` or ``"bca"`` (bias-corrected and
        accelerated; needs the jackknife).
        """
        if method == "percentile":
            return percentile_interval(self.replicates, level, axis=1)
        if method == "bca":
            return bca_interval(self.estimate, self.replicates, self.acceleration(), level, axis=1)
        raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")

    def summary(self, level: float = 0.95, method: str = "percentile") -> dict:
        """``estimate``, ``stderr``, ``lower``, ``upper`` in one dict."""
        lo, hi = self.interval(level, method)
        return {"estimate": self.estimate, "stderr": self.stderr(), "lower": lo, "upper": hi}


@dataclass(eq=False)
class BootstrapResult:
    """Bootstrap of a multistart fit.

    Attributes
    ----------
    fit : MultistartResult
        The full-data fit.
    params : Replicates
        Parameter replicates, ``params.replicates`` of shape (L, R, P).
    status, cost : ndarray, (L, R)
        Best start's status and objective per resample.
    n_failed : ndarray, (L,)
        Resamples without a converged start (left out of the intervals;
        includes resamples that drew too few distinct points: BAD_INPUT).
    seed : int
    group : ndarray of int32 (M,) or None
        Law-local group ids when the bootstrap was grouped.
    law_key : ndarray of int64 (L,) or None
        The laws' ids in the generator's key (None: their batch positions).
    starts : ndarray, (L, S, P)
        Starts each resample was fitted from.
    """

    fit: MultistartResult
    params: Replicates
    status: np.ndarray
    cost: np.ndarray
    n_failed: np.ndarray
    seed: int
    group: np.ndarray | None
    law_key: np.ndarray | None
    starts: np.ndarray
    jack_params: np.ndarray | None
    jack_law: np.ndarray | None

    @property
    def n_resamples(self) -> int:
        return self.status.shape[1]

    @property
    def param_names(self) -> list[str]:
        return self.fit.param_names

    def interval(self, level: float = 0.95, method: str = "percentile"):
        """Parameter intervals ``(lower, upper)``, each (L, P)."""
        return self.params.interval(level, method)

    def stderr(self) -> np.ndarray:
        """Bootstrap standard errors of the parameters, (L, P)."""
        return self.params.stderr()

    def covariance(self) -> np.ndarray:
        """Bootstrap covariance of the parameters, (L, P, P) (failed resamples left out)."""
        t = self.params.replicates
        ok = np.isfinite(t).all(axis=2)
        out = np.full((t.shape[0], t.shape[2], t.shape[2]), np.nan)
        for law in range(t.shape[0]):
            if ok[law].sum() > 1:
                out[law] = np.cov(t[law, ok[law]], rowvar=False)
        return out

    def derived(self, expr: str, x: Mapping | None = None) -> Replicates:
        """Replicates of a formula of the parameters (and of inputs given in ``x``).

        ``expr`` uses the law's parameter names, e.g. ``"exp(e)"`` or
        ``"beta/(alpha + beta)"``; inputs are named by the keys of ``x``
        (e.g. ``{"C": [1e21, 1e23]}`` for a compute-optimal model size).
        Values have shape (L, R, n) — n input points, 1 without inputs.
        Evaluated with numpy for all resamples at once.
        """
        return self._replicates(lambda p: evaluate_many(expr, p, x, param_names=self.param_names))

    def predict(self, x) -> Replicates:
        """Replicates of the law itself at the inputs ``x`` (a mapping or array), (L, R, n)."""
        prog = self.fit.program
        return self._replicates(lambda p: evaluate_many(prog, p, x))

    def _replicates(self, fn) -> Replicates:
        est = fn(self.fit.params)
        reps = fn(self.params.replicates)
        jack = None if self.jack_params is None else fn(self.jack_params)
        return Replicates(est, reps, jack, self.jack_law)

    def counts(self, law: int, resample: int) -> np.ndarray:
        """Multiplicity of every point of ``law`` in ``resample`` (as the solver drew it).

        With a grouped bootstrap every point of a group gets its group's count.
        """
        s, e = self.fit.data.offsets[law], self.fit.data.offsets[law + 1]
        key = law if self.law_key is None else int(self.law_key[law])
        if self.group is None:
            return _core.bootstrap_counts(self.seed, key, resample, int(e - s))
        g = self.group[s:e]
        units = _core.bootstrap_counts(self.seed, key, resample, int(g.max(initial=-1)) + 1)
        return units[g]

    def describe(self, level: float = 0.95, method: str = "percentile") -> str:
        """A small text table: estimate, bootstrap SE and interval per law and parameter."""
        lo, hi = self.interval(level, method)
        se = self.stderr()
        lines = [f"bootstrap: {self.n_resamples} resamples, {summarize_status(self.status.ravel())}; "
                 f"{method} {100 * level:g}% intervals"]
        for law in range(self.fit.n_laws):
            for j, name in enumerate(self.param_names):
                lines.append(f"law {law:3d}  {name:>10}  {self.fit.params[law, j]:12.6g}  "
                             f"se {se[law, j]:10.4g}  [{lo[law, j]:.6g}, {hi[law, j]:.6g}]")
        return "\n".join(lines)


def _distinct_optima(fit: MultistartResult, n_starts: int, rtol: float, optima_rtol: float):
    """(L, S <= n_starts, P): each law's best converged optimum, then its next distinct
    local optima whose cost is within ``optima_rtol`` of the best (padded with the best),
    and how many of those rows each law has (L,)."""
    L, S, P = fit.all_params.shape
    conv = is_converged(fit.all_status) & np.isfinite(fit.all_cost)
    cost = np.where(conv, fit.all_cost, np.inf)
    order = np.argsort(cost, axis=1, kind="stable")
    c = np.take_along_axis(cost, order, axis=1)
    distinct = np.isfinite(c) & (c <= c[:, :1] + optima_rtol * np.abs(c[:, :1]))
    distinct[:, 1:] &= c[:, 1:] > c[:, :-1] + rtol * np.abs(c[:, :-1])
    rank = np.cumsum(distinct, axis=1) - 1
    take = distinct & (rank < n_starts)
    width = max(1, int(take.sum(axis=1).max(initial=0)))  # pad only to the widest law
    out = np.repeat(fit.params[:, None, :], width, axis=1)
    law, pos = np.nonzero(take)
    out[law, rank[law, pos]] = fit.all_params[law, order[law, pos]]
    return out, np.maximum(take.sum(axis=1), 1)


def _resample_starts(fit: MultistartResult, starts, n_starts: int, rtol: float, optima_rtol: float):
    """Starts of every law's resamples (L, S, P) and how many of the S rows each law uses (L,)."""
    L, P = fit.n_laws, len(fit.param_names)
    if isinstance(starts, str):
        if starts == "best":
            return fit.params[:, None, :].copy(), np.ones(L, dtype=np.int64)
        if starts == "optima":
            return _distinct_optima(fit, max(1, n_starts), rtol, optima_rtol)
        if starts == "grid":
            s = fit.starts
            s = np.broadcast_to(s, (L,) + s.shape[-2:]).copy() if s.ndim == 2 else s.copy()
            return s, np.full(L, s.shape[1], dtype=np.int64)
        raise ValueError(f"starts must be 'optima', 'best', 'grid' or an array, got {starts!r}")
    s = np.asarray(starts, dtype=np.float64)
    if s.ndim == 2 and s.shape[1] == P:
        s = np.broadcast_to(s, (L,) + s.shape).copy()
    elif not (s.ndim == 3 and s.shape[0] == L and s.shape[2] == P):
        raise ValueError(f"starts must have shape (S, {P}) or ({L}, S, {P}), got {s.shape}")
    return s.copy(), np.full(L, s.shape[1], dtype=np.int64)


def _ragged_arange(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for every (s, n)."""
    total = int(lengths.sum())
    first = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + (np.arange(total) - first)


def _jackknife(fit: MultistartResult, unit: np.ndarray, max_jackknife: int, seed: int, common: dict):
    """Leave-one-unit-out (or -block-out) refits of every law, one batch call (or a few).

    Returns (params (J, P), law (J,)) for laws whose full-data fit converged.
    """
    data = fit.data
    L, P = fit.n_laws, len(fit.param_names)
    law_of_point = data.point_law
    n_units = np.zeros(L, dtype=np.int64)
    np.maximum.at(n_units, law_of_point, unit.astype(np.int64) + 1)
    ok_law = np.isfinite(fit.params).all(axis=1) & (n_units >= 2)
    # Blocks of equal size m = ceil(n / max_jackknife) units (the last may be smaller).
    m = -(-n_units // max(1, max_jackknife))
    n_blocks = np.where(ok_law, -(-n_units // np.maximum(m, 1)), 0)
    # Deal units into blocks at random (seeded) when there are more than max_jackknife.
    rng = np.random.default_rng([seed & 0xFFFFFFFF, 0x6A636B])
    unit_start = np.concatenate([[0], np.cumsum(n_units)[:-1]])
    u_rank = np.empty(int(n_units.sum()), dtype=np.int64)
    perm_key = rng.random(u_rank.size) + np.repeat(np.arange(L), n_units)  # shuffle within each law
    u_rank[np.argsort(perm_key, kind="stable")] = np.arange(u_rank.size)
    u_rank -= np.repeat(unit_start, n_units)
    block_of_unit = np.where(np.repeat(n_units > n_blocks, n_units),
                             u_rank % np.maximum(np.repeat(n_blocks, n_units), 1),
                             np.arange(u_rank.size) - np.repeat(unit_start, n_units))
    block = block_of_unit[unit_start[law_of_point] + unit]
    # Jackknife law (l, b): the points of law l outside block b.
    j_law = np.repeat(np.arange(L), n_blocks)
    j_block = np.arange(j_law.size) - np.repeat(np.cumsum(n_blocks) - n_blocks, n_blocks)
    if j_law.size == 0:
        return np.empty((0, P)), np.empty(0, dtype=np.int64)
    n_pts = data.n_points
    fixed_law = fit.fixed_rows
    params = np.full((j_law.size, P), np.nan)
    # Chunks of jackknife laws bound the copied points (n_l per leave-out law).
    size = n_pts[j_law]
    chunk_of = np.cumsum(size) // _CHUNK_POINTS
    for c in np.unique(chunk_of):
        sel = np.flatnonzero(chunk_of == c)
        jl = j_law[sel]
        cand = _ragged_arange(data.offsets[:-1][jl], n_pts[jl])
        cand_j = np.repeat(np.arange(sel.size), n_pts[jl])
        keep = block[cand] != j_block[sel][cand_j]
        pts, pj = cand[keep], cand_j[keep]
        offsets = np.concatenate([[0], np.cumsum(np.bincount(pj, minlength=sel.size))]).astype(np.int64)
        fixed = fixed_law[jl].astype(np.uint8)
        sol = solve_batch(data.program, np.ascontiguousarray(data.columns[:, pts]), data.y[pts], offsets,
                          fit.params[jl], weight=None if data.weight is None else data.weight[pts],
                          fixed=fixed if fixed.any() else None, lower=fit.lower[jl], upper=fit.upper[jl],
                          want_jtj=False, **common)
        params[sel] = np.where(is_converged(sol.status)[:, None], sol.params, np.nan)
    return params, j_law


def bootstrap(
    fit: MultistartResult,
    n_resamples: int = 1000,
    *,
    seed: int = 0,
    group=None,
    starts: Union[str, np.ndarray] = "optima",
    n_starts: int = 4,
    jackknife: bool = True,
    max_jackknife: int = 256,
    optima_rtol: float = 0.1,
    basin_rtol: float = 1e-6,
    law_key=None,
    progress=None,
) -> BootstrapResult:
    """Bootstrap a multistart fit: every law x resample x start in one batch.

    Parameters
    ----------
    fit : MultistartResult
        From :func:`lawfit.multistart.fit_multistart`; the same law, data,
        loss, residual space, bounds, fixed parameters and solver options are
        used for every resample.
    n_resamples : int
        Resamples per law.
    seed : int
        Keys the counter-based generator with (law, resample, unit): the same
        seed gives bit-identical resamples anywhere.
    law_key : array_like of int, optional
        One id per law used in the generator's key instead of the law's
        position in this batch (e.g. a hash of its group label), so a law
        draws the same resamples whatever else is fitted with it.
    group : array_like, optional
        A label per point (in the fit's point order: laws concatenated).  Given,
        whole groups are resampled (grouped bootstrap) and the jackknife leaves
        out whole groups.
    starts : {"optima", "best", "grid"} or array
        Where each resample starts: ``"optima"`` (default) the full-data
        optimum and up to ``n_starts - 1`` other distinct local optima the
        multistart found with a cost within ``optima_rtol`` of the best (a
        resample's optimum lies near the full data's; near-best optima guard
        against a resample switching basins, far worse ones cannot win);
        ``"best"`` the optimum only; ``"grid"`` the fit's whole start set (the
        exact but costly analysis); or an (S, P) / (L, S, P) array.
    n_starts, optima_rtol : int, float
        For ``starts="optima"``.
    jackknife : bool
        Also run the (block) jackknife needed for BCa intervals.
    max_jackknife : int
        Most jackknife refits per law (see the module notes).
    basin_rtol : float
        Relative cost tolerance telling two local optima apart.
    progress : callable, optional
        ``progress(done, total)``, called by the core while batches run
        (:class:`lawfit.engine.progress.Progress`).

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> import numpy as np
    >>> from lawfit.multistart import fit_multistart
    >>> rng = np.random.default_rng(0)
    >>> x = np.linspace(1, 10, 60)
    >>> y = 3 * x**-0.5 + 1 + 0.02 * rng.standard_normal(60)
    >>> fit = fit_multistart("a*x**-b + c", x, y, {"a": [1, 5], "b": [0.2, 1], "c": [0, 2]})
    >>> boot = bootstrap(fit, 500, seed=1)
    >>> lo, hi = boot.interval(0.9)
    >>> bool(lo[0, 1] < 0.5 < hi[0, 1])
    True
    """
    if not isinstance(fit, MultistartResult):
        raise TypeError(f"fit must be a MultistartResult (from lawfit.fit_multistart), not {type(fit).__name__}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)):
        raise TypeError(f"n_resamples must be an int, not {type(n_resamples).__name__}")
    if n_resamples < 1:
        raise ValueError("n_resamples must be positive")
    data: Data = fit.data
    L, P = fit.n_laws, len(fit.param_names)
    gid = None if group is None else group_ids(group, data.offsets)
    S0, n_used = _resample_starts(fit, starts, n_starts, basin_rtol, optima_rtol)  # (L, S, P), (L,)
    S0 = np.clip(S0, fit.lower[:, None, :], fit.upper[:, None, :])
    common = fit.options.solver_kwargs()
    fixed_law = fit.fixed_rows
    any_fixed = bool(fixed_law.any())

    # Problems ordered (resample, law, start) within each start-count group; chunks of whole
    # resamples bound memory.
    params = np.full((L, n_resamples, P), np.nan)
    cost = np.full((L, n_resamples), np.nan)
    status = np.zeros((L, n_resamples), dtype=np.int32)
    keys = None
    if law_key is not None:
        keys = np.ascontiguousarray(law_key, dtype=np.int64)
        if keys.shape != (L,):
            raise ValueError(f"law_key must hold one id per law ({L}), got shape {keys.shape}")
    # Laws with the same number of starts S go together, so that the best start of every
    # resample is picked where the batch runs (best_of=S; on a GPU one row per resample
    # comes back) and no law runs padded duplicate starts.
    for S in np.unique(n_used):
        laws = np.flatnonzero(n_used == S).astype(np.int64)
        starts_s = S0[laws, :S]
        per_chunk = max(1, _CHUNK_PROBLEMS // max(1, laws.size * S))
        for r0 in range(0, n_resamples, per_chunk):
            r1 = min(n_resamples, r0 + per_chunk)
            R = r1 - r0
            # Problems (resample, law, start): a law's S starts stay consecutive (best_of), and
            # the resamples of a law of many points spread over the core's chunks (threads).
            law = np.tile(np.repeat(laws, S), R)
            res = np.repeat(np.arange(r0, r1, dtype=np.int64), laws.size * S)
            p0 = np.tile(starts_s.reshape(laws.size * S, P), (R, 1))
            sol = solve_batch(data.program, data.columns, data.y, data.offsets, p0, weight=data.weight,
                              problem_law=law, problem_resample=res, seed=seed, group=gid, law_key=keys,
                              fixed=fixed_law[law].astype(np.uint8) if any_fixed else None,
                              lower=fit.lower[law], upper=fit.upper[law], want_jtj=False, best_of=int(S),
                              progress=progress, **common)
            conv = sol.n_converged > 0 if S > 1 else is_converged(sol.status) & np.isfinite(sol.cost)
            ok = conv.reshape(R, laws.size).T
            params[laws, r0:r1] = np.where(ok[:, :, None], sol.params.reshape(R, laws.size, P).transpose(1, 0, 2),
                                           np.nan)
            cost[laws, r0:r1] = np.where(ok, sol.cost.reshape(R, laws.size).T, np.nan)
            status[laws, r0:r1] = sol.status.reshape(R, laws.size).T
    n_failed = (~np.isfinite(params).all(axis=2)).sum(axis=1)

    jp = jl = None
    if jackknife:
        unit = gid if gid is not None else (np.arange(data.y.size) - np.repeat(data.offsets[:-1], data.n_points))
        jp, jl = _jackknife(fit, unit.astype(np.int64), max_jackknife, seed, common)
    reps = Replicates(fit.params.copy(), params, jp, jl, names=fit.param_names)
    return BootstrapResult(fit=fit, params=reps, status=status, cost=cost, n_failed=n_failed, seed=int(seed),
                           group=gid, law_key=keys, starts=S0, jack_params=jp, jack_law=jl)
