"""Start grids and the multistart batch: every (law, start) pair is one problem of one core call.

A grid is the Cartesian product of per-parameter value lists.  The batch holds
K laws (ragged point ranges given by ``offsets``) times S starts; problem
``k * S + s`` fits law ``k`` from start ``s`` (``problem_law`` tells the core),
and the reduction keeps, per law, the converged start with the lowest cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..engine.covariance import parameter_covariance
from ..engine.data import Data
from ..engine.options import Options
from ..engine.starts import run_starts
from ..status import Status
from ..multistart import grid_starts


def cartesian_grid(grid: Mapping[str, Sequence[float]], param_names: Sequence[str],
                   base: np.ndarray) -> np.ndarray:
    """Start points (S, P): the product of ``grid``'s lists; other parameters take ``base``."""
    full = {n: grid[n] if n in grid else [b] for n, b in zip(param_names, np.asarray(base, dtype=float))}
    return grid_starts(full, param_names)


@dataclass
class GridResult:
    """Best start per law, from :func:`solve_starts` (arrays indexed by law)."""

    params: np.ndarray  # (K, P)
    cost: np.ndarray  # (K,) 1/2 weighted sum of squares
    status: np.ndarray  # (K,) Status codes of the kept start
    jtj: np.ndarray  # (K, P, P)
    n_starts: int  # starts LM ran from (the most over the laws)
    n_converged: np.ndarray  # (K,) starts that converged
    n_at_best: np.ndarray  # (K,) converged starts within 1e-6 (relative) of the best cost


def solve_starts(program, columns, y, offsets, starts, *, prune="auto", weight=None, lower=None, upper=None,
                 fixed=None, loss=Options.loss, delta=Options.delta, residual=Options.residual,
                 max_nfev=Options.max_nfev,
                 n_threads=None) -> GridResult:
    """Fit each of K laws from each of S starts (the engine's :func:`~lawfit.engine.starts.run_starts`);
    keep the best start per law.

    ``starts`` is (S, P), shared by every law.  ``fixed`` is a (P,) mask.  ``prune`` as
    :func:`lawfit.fit_multistart` (default "auto"); ``GridResult.n_starts`` counts the starts run.
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    S, P = starts.shape
    data = Data(program, columns, y, offsets, weight)
    K = data.n_laws
    lo = np.broadcast_to(np.full(P, -np.inf) if lower is None else np.asarray(lower, float), (K, P))
    hi = np.broadcast_to(np.full(P, np.inf) if upper is None else np.asarray(upper, float), (K, P))
    options = Options(loss=loss, delta=delta, residual=residual, max_nfev=max_nfev, n_threads=n_threads)
    out = run_starts(data, starts, options, lower=lo, upper=hi,
                     fixed=np.zeros(P, bool) if fixed is None else np.asarray(fixed, bool), prune=prune)
    return GridResult(params=out.params, cost=out.cost, status=out.status, jtj=out.jtj,
                      n_starts=int(out.n_run.max(initial=0)),
                      n_converged=out.n_converged, n_at_best=out.basin_count)


def covariance(jtj: np.ndarray, cost: np.ndarray, n_points: np.ndarray, free: np.ndarray,
               absolute_sigma: bool = False) -> np.ndarray:
    """curve_fit's covariance (K, P, P) over the free parameters; fixed rows and columns are 0
    (:func:`lawfit.engine.covariance.parameter_covariance`)."""
    return parameter_covariance(jtj, cost, n_points, ~np.asarray(free, dtype=bool), absolute_sigma)


__all__ = ["cartesian_grid", "solve_starts", "GridResult", "covariance", "Status"]
