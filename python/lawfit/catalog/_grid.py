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

from ..engine.core import solve_batch
from ..engine.covariance import scaled_covariance
from .._status import Status
from ..multistart import grid_starts, reduce_best


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
    n_starts: int
    n_converged: np.ndarray  # (K,) starts that converged
    n_at_best: np.ndarray  # (K,) converged starts within 1e-6 (relative) of the best cost


def solve_starts(program, columns, y, offsets, starts, *, weight=None, lower=None, upper=None,
                 fixed=None, loss="l2", delta=1.0, residual="linear", max_nfev=0,
                 n_threads=None) -> GridResult:
    """Fit each of K laws from each of S starts in one batch; keep the best start per law.

    ``starts`` is (S, P), shared by every law.  ``fixed`` is a (P,) mask.
    ``loss``, ``delta`` and ``residual`` are the core's (see :func:`lawfit._batch.solve_batch`);
    the reduction is :func:`lawfit.multistart.reduce_best`.
    """
    starts = np.atleast_2d(np.asarray(starts, dtype=float))
    S, P = starts.shape
    K = len(offsets) - 1
    p0 = np.tile(starts, (K, 1))
    problem_law = np.repeat(np.arange(K, dtype=np.int64), S)
    sol = solve_batch(program, columns, y, np.asarray(offsets, dtype=np.int64), p0,
                      weight=weight, problem_law=problem_law, fixed=fixed, lower=lower,
                      upper=upper, loss=loss, delta=delta, residual=residual, max_nfev=max_nfev,
                      n_threads=n_threads)
    best, _, n_converged, basin = reduce_best(sol.cost.reshape(K, S), sol.status.reshape(K, S))
    rows = np.arange(K) * S + best
    return GridResult(
        params=sol.params[rows], cost=sol.cost[rows], status=sol.status[rows],
        jtj=sol.jtj[rows], n_starts=S, n_converged=n_converged, n_at_best=basin,
    )


def covariance(jtj: np.ndarray, cost: np.ndarray, n_points: np.ndarray, free: np.ndarray,
               absolute_sigma: bool = False) -> np.ndarray:
    """curve_fit's covariance (K, P, P) over the free parameters; fixed rows and columns are 0.

    The core leaves J^T J rows of held parameters at zero, so the free block is
    inverted alone and embedded back.
    """
    jtj = np.asarray(jtj, dtype=float)
    K, P, _ = jtj.shape
    idx = np.flatnonzero(free)
    out = np.zeros((K, P, P))
    if idx.size == 0:
        return out
    sub = np.ascontiguousarray(jtj[:, idx[:, None], idx[None, :]])
    pcov, _ = scaled_covariance(sub, np.asarray(cost, dtype=float), np.asarray(n_points),
                                idx.size, absolute_sigma)
    out[:, idx[:, None], idx[None, :]] = pcov
    return out


__all__ = ["cartesian_grid", "solve_starts", "GridResult", "covariance", "Status"]
