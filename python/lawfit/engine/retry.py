"""curve_fit's second chance: a small multistart for fits that failed from their start.

Levenberg-Marquardt from one start can run out of evaluations (scipy raises
there), or stop on a plateau rather than at a minimum.  :func:`degenerate`
recognises two plateaus: a fit no better than the best constant (weighted
R^2 <= 0 to rounding: NIST's BoxBOD and MGH10 from their first starts), and a
parameter without effect (moving it by its own size, or its start's, changes
the residuals by less than 1e-8 of their norm: a term of the law switched off,
``B / D**beta`` with beta at 3 on data where D**-3 ~ 1e-30).  It also recognises a
stop in a valley: J^T J numerically singular (:func:`singular`: its Jacobi-scaled
form has an eigenvalue at most :data:`SINGULAR`, some parameter's column is a
combination of the others to float64 rounding), as when a term turned into a
constant collinear with another parameter (``E + B / D**beta`` with beta -> 0 and
E ~ -B ~ 200 on losses ~ 2: the fit slides along E + B = const, B * beta = const,
where steps stop reducing the cost long before a minimum).  :func:`retry`
then runs :data:`RETRY_STARTS` Halton points over ``p0 * 10**[-3, 3]`` (and
``p0``), ranked by their cost, Levenberg-Marquardt from the best
:data:`RETRY_PRUNE` of each problem, all problems in one batch.  Callers
finish the best start found and keep it where it converges to a lower cost.
A single fit and the same problem in a batch get the same second chance.
"""
from __future__ import annotations

import numpy as np

from .covariance import free_block_inverse, scaled_inverse
from .checks import finite_rows
from .data import Data, rows_data, segment_tss
from .options import Options
from .starts import log_box_starts, run_starts

__all__ = ["degenerate", "degenerate_one", "singular", "runaway", "at_bound", "refused", "retry", "RUNAWAY",
           "RETRY_STARTS", "RETRY_DECADES", "RETRY_PRUNE", "SINGULAR"]

RETRY_STARTS = 64
RETRY_DECADES = 3.0
RETRY_PRUNE = 16
RUNAWAY = 10.0 ** (3 * RETRY_DECADES)  # three times the decades the multistart explores
_NO_EFFECT = 1e-8  # a parameter moves the residuals by less than this share of their norm
_CONSTANT_RTOL = 1e-9  # the fit's sum of squares equals the constant's to this
SINGULAR = 1e-13  # smallest eigenvalue of the scaled J^T J at or below this: singular to float64 rounding
_BOUND_PAIRS = 3  # pairs of points in _constant_bound: 3 settle 98% of the Chinchilla demo's laws (1: 72%)
_BOUND_SLACK = 1e-7  # the bound settles a fit below this share of it: far above the rounding of either sum
_BOUND_WEIGHTS = (1e-100, 1e100)  # the bound wants weights in this range (see _constant_bound)
_BOUND_FLOOR = 1e-200  # and settles nothing below this
_add_reduce, _dot = np.add.reduce, np.dot  # without ndarray methods' Python wrappers (single fits)


def degenerate(cost, params, p0, jtj, y, weight, offsets, collinear: bool = True,
               inverse: tuple | None = None) -> np.ndarray:
    """Which converged fits sit on a plateau (see the module docstring), (K,) bool.

    ``cost`` (K,) is 1/2 the weighted sum of squares at ``params`` (K, P),
    ``jtj`` (K, P, P) J^T W J there, ``p0`` (K, P) the starts; problem k owns
    ``y[offsets[k]:offsets[k+1]]`` (weights ``weight`` or None).  ``collinear=False`` leaves out
    :func:`singular`'s test; ``inverse``: :func:`~lawfit.engine.covariance.free_block_inverse` of
    ``jtj`` when the caller has it (the covariance's).
    """
    cost = np.asarray(cost, dtype=float)
    K, P = np.shape(params)
    c2 = 2.0 * cost
    if K == 1:
        return np.array([degenerate_one(float(cost[0]), params[0], p0[0], jtj[0], y, weight,
                                        None if inverse is None else (inverse[0][:1], inverse[1][:1]),
                                        collinear=collinear)])
    y = np.asarray(y, dtype=float)
    weight = None if weight is None else np.asarray(weight, dtype=float)
    offsets = np.asarray(offsets, dtype=np.int64)
    # The total sum of squares only where its bound does not settle the plateau test: segment_tss's
    # passes over every point (and their temporaries: fresh pages) cost more than the rest of the test.
    flat = np.zeros(K, bool)
    rows = np.flatnonzero(~(c2 < _constant_bound(y, weight, offsets) * (1.0 - _BOUND_SLACK)))
    if rows.size:
        if 2 * rows.size >= K:  # most laws (many points a law: 3 pairs bound less): the batch as it is, no
            # gathered copy (a law's total does not depend on its neighbours: the same values)
            total = segment_tss(y, weight, offsets)[rows]
        else:
            total = segment_tss(*rows_data(y, weight, offsets, rows))
        flat[rows] = (total > 0) & (c2[rows] >= total * (1.0 - _CONSTANT_RTOL))
    scale = np.maximum(np.abs(params), np.abs(p0))
    col2 = np.diagonal(jtj, axis1=-2, axis2=-1)
    dead = _rows_any((col2 * scale * scale <= (_NO_EFFECT * _NO_EFFECT) * c2[:, None]) & (scale > 0))
    return flat | dead | (singular(jtj, inverse) if collinear else False)


def _rows_any(mask: np.ndarray) -> np.ndarray:
    """``mask.any(axis=1)`` of a (K, P) bool array: numpy's reduction over short rows costs 0.2 ms on
    (10,000, 5), finding the few True entries 3 us."""
    out = np.zeros(mask.shape[0], bool)
    out[np.flatnonzero(mask) // mask.shape[1]] = True
    return out


def _constant_bound(y, weight, offsets) -> np.ndarray:
    """A lower bound on every problem's total sum of squares, (K,), from :data:`_BOUND_PAIRS` pairs of its
    points (first and last, second and last but one, ...); 0 where it would not be exact to a few ulps.

    A subset's (weighted) sum of squares about its own mean is at most the whole's, and that of disjoint
    pairs adds up: the pair (a, b) with weights (wa, wb) gives ``(a - b)**2 * wa * wb / (wa + wb)``.
    Weights within :data:`_BOUND_WEIGHTS` keep every intermediate normal; bounds from
    :data:`_BOUND_FLOOR` on leave underflow (in the pairs or ``segment_tss``) out of the last 20 digits,
    and the total's rounding stays far below ``_BOUND_SLACK`` (up to ~1e8 points a problem).  NaN or
    infinite bounds settle nothing.
    """
    K = len(offsets) - 1
    bound = np.zeros(K)
    lo, hi = _BOUND_WEIGHTS
    if not y.size or (weight is not None and not (np.minimum.reduce(weight) >= lo and np.maximum.reduce(weight) <= hi)):
        return bound
    first, last = offsets[:-1], offsets[1:] - 1
    short = not (last - first >= 2 * _BOUND_PAIRS - 1).all()  # some problem has fewer than all pairs
    size = int(offsets[1] - offsets[0]) if K else 0
    one_size = offsets[0] == 0 and offsets[-1] == K * size == y.size and (last - first == size - 1).all()
    # K unweighted problems of one size (curve_fit's rectangular batch): the pairs as column views of
    # (K, size) instead of gathers by index, the same values (0.27 -> 0.06 ms at 10,000 x 40)
    Y = y.reshape(K, size) if weight is None and not short and one_size else None
    with np.errstate(all="ignore"):
        for j in range(_BOUND_PAIRS):
            if Y is not None:
                d = Y[:, j] - Y[:, size - 1 - j]
            else:
                a, b = first + j, last - j
                if short:  # no pair: point 0 twice (0, or NaN that settles nothing)
                    pair = a < b
                    a, b = np.where(pair, a, 0), np.where(pair, b, 0)
                d = y[a] - y[b]
            d *= d
            d *= 0.5 if weight is None else (weight[a] * weight[b]) / (weight[a] + weight[b])
            bound += d
    bound[~((bound >= _BOUND_FLOOR) & (bound < np.inf))] = 0.0
    return bound


def singular(jtj, inverse: tuple | None = None) -> np.ndarray:
    """Which J^T J (K, P, P) are numerically singular, (K,) bool: the smallest eigenvalue of the
    Jacobi-scaled matrix ``D^-1 J^T J D^-1`` (``D = sqrt(diag)``, a correlation-like matrix with unit
    diagonal) at most :data:`SINGULAR`.

    Parameters without any effect (a zero column, :func:`degenerate`'s other test) are left out.
    Fast path: where the core's scaled Cholesky succeeds, ``lambda_min >= 1 / trace(C^-1)`` and
    ``trace(C^-1) = sum(inv_ii * jtj_ii)`` settles most matrices without an eigen-decomposition.
    ``inverse``: :func:`~lawfit.engine.covariance.free_block_inverse` of ``jtj`` when the caller has it
    (that of a non-finite matrix is not read).
    """
    jtj = np.ascontiguousarray(jtj, dtype=float)
    K, P = jtj.shape[0], jtj.shape[-1]
    out = np.zeros(K, bool)
    if K == 0:
        return out
    finite = finite_rows(jtj)
    inv, ok = free_block_inverse(np.where(finite[:, None, None], jtj, 0.0)) if inverse is None else inverse
    # sum(inv_ii * jtj_ii); where the inversion failed the core leaves the output unwritten: that trace
    # is not read.  Below 8 parameters column by column, which is numpy's order for sum(axis=1) there
    # (a plain running sum) and skips its 0.2 ms on (10,000, 5); from 8 on numpy sums pairwise.
    with np.errstate(all="ignore"):
        if P < 8:
            trace = np.zeros(K)
            for i in range(P):
                trace += inv[:, i, i] * jtj[:, i, i]
        else:
            trace = (np.diagonal(inv, axis1=-2, axis2=-1) * np.diagonal(jtj, axis1=-2, axis2=-1)).sum(axis=1)
    doubt = finite & ~(ok & (trace * SINGULAR < 1.0))
    for k in np.flatnonzero(doubt):
        keep = np.diagonal(jtj[k]) > 0
        if keep.sum() < 2:
            continue
        a = jtj[k][np.ix_(keep, keep)]
        d = np.sqrt(np.diagonal(a))
        out[k] = bool(np.linalg.eigvalsh(a / np.outer(d, d))[0] <= SINGULAR)
    return out


def degenerate_one(cost: float, params: np.ndarray, p0: np.ndarray, jtj: np.ndarray, y: np.ndarray,
                   weight: np.ndarray | None, inverse: tuple | None = None, collinear: bool = True) -> bool:
    """:func:`degenerate` of one fit with scalars (a single fit's per-call cost matters).

    ``inverse``: :func:`lawfit.engine.covariance.scaled_inverse` of ``jtj`` if the caller has it (the
    covariance reuses it).
    """
    s = 2.0 * cost
    floor = (_NO_EFFECT * _NO_EFFECT) * s
    diag = []  # of J^T J, read in Python from one conversion
    for i, (a, b, row) in enumerate(zip(params.tolist(), p0.tolist(), jtj.tolist())):
        col2 = row[i]
        diag.append(col2)
        a, b = abs(a), abs(b)
        scale = b if b > a else a  # max(a, b)
        if scale > 0 and col2 * scale * scale <= floor:
            return True
    if collinear:  # singular(), settled by the scaled inverse's trace where it can be
        inv, ok = scaled_inverse(jtj) if inverse is None else inverse
        settled = False
        if ok[0]:
            rows = inv.tolist()[0]  # one conversion; the diagonal read in Python
            trace = 0
            for i, d in enumerate(diag):
                trace += rows[i][i] * d
            settled = trace * SINGULAR < 1.0
        if not settled and singular(jtj.reshape(1, len(diag), len(diag)))[0]:
            return True
    # The first and last points alone bound the constant's sum of squares from below (a subset's
    # about its own mean is at most the whole's): most fits are told apart from a constant here.
    if y.size > 1:
        a, b = y.item(0), y.item(-1)
        wa, wb = (1.0, 1.0) if weight is None else (float(weight[0]), float(weight[-1]))
        if wa > 0 and wb > 0 and s < (a - b) * (a - b) * (wa * wb / (wa + wb)) * (1.0 - 1e-7):
            return False
    if weight is None:
        s1, s2, sw = float(_add_reduce(y, None)), float(_dot(y, y)), float(y.size)
    else:
        s1, s2, sw = float(_dot(weight, y)), float(_dot(weight, y * y)), float(_add_reduce(weight, None))
    total = s2 - s1 * s1 / sw
    if total > 0 and s >= total * (1.0 - 1e-7):  # cancellation in total: confirm exactly
        w = np.ones_like(y) if weight is None else weight
        d = y - float(w @ y) / float(w.sum())
        total = float(w @ (d * d))
        if total > 0 and s >= total * (1.0 - _CONSTANT_RTOL):
            return True
    return False


def runaway(params, p0, lower=None, upper=None) -> np.ndarray:
    """Which fits (rows of ``params`` (K, P) from starts ``p0``), if :func:`degenerate`, the second
    chance refuses: a term switched off by its parameters running away, not by a bound.

    Refused: a parameter beyond :data:`RUNAWAY` times its start (1 for a start at 0;
    ``B = -1.9e82, beta = 5.5e78``: ``B / D**beta`` underflows to 0), or no parameter at a finite bound
    (``beta = 34``: ``D**-34`` underflows on D ~ 1e10).  Kept: a term switched off at a bound (``A = 0``
    with ``A >= 0``: the bound holds it there, and the fit may be the best the bounds allow).
    """
    params, p0 = np.atleast_2d(params), np.atleast_2d(p0)
    scale = np.where(p0 != 0, np.abs(p0), 1.0)
    away = ~(np.abs(params) <= RUNAWAY * scale).all(axis=1)
    return away | ~at_bound(params, lower, upper)


def at_bound(params, lower=None, upper=None) -> np.ndarray:
    """Which rows of ``params`` (K, P) hold a parameter at a finite bound, (K,) bool."""
    params = np.atleast_2d(params)
    out = np.zeros(params.shape[0], bool)
    for b in (lower, upper):
        if b is not None:
            b = np.broadcast_to(np.asarray(b, dtype=float), params.shape)
            out |= (np.isfinite(b) & (params == b)).any(axis=1)
    return out


def refused(cost, params, p0, start, jtj, y, weight, offsets, lower=None, upper=None) -> np.ndarray:
    """Which second-chance candidates (converged from ``start``, the problems' first starts ``p0``) are
    no answer, (K,) bool: a plateau reached by running away or without a bound (:func:`runaway`), or a
    numerically singular J^T J with no parameter at a bound (a valley that a bound does not explain;
    ``alpha = 0`` at its bound makes ``A / N**alpha`` a constant beside E, the best the bounds allow)."""
    plateau = runaway(params, p0, lower, upper) & degenerate(cost, params, start, jtj, y, weight, offsets,
                                                             collinear=False)
    return plateau | (~at_bound(params, lower, upper) & singular(jtj))


def retry(program, columns, y, offsets, weight, p0, lower, upper, rows, options: Options) -> tuple:
    """Best start of each problem ``rows`` from a multistart around its ``p0``.

    ``columns``, ``y``, ``offsets``, ``weight`` are the batch's (every
    problem k owns the points ``offsets[k]:offsets[k+1]``); ``p0``, ``lower``,
    ``upper`` are (K, P).  Returns ``(params (n, P), converged (n,), starts
    tried per problem)``: the best converged point (not yet finished: with
    the caller's tolerances), NaN where none converged.
    """
    rows = np.asarray(rows, dtype=np.int64)
    P = p0.shape[1]
    lo, hi = np.asarray(lower, dtype=float)[rows], np.asarray(upper, dtype=float)[rows]
    centers = np.asarray(p0, dtype=float)[rows]
    starts = np.concatenate([centers[:, None, :], log_box_starts(centers, RETRY_STARTS, RETRY_DECADES, lo, hi)],
                            axis=1)
    pieces = [np.arange(offsets[k], offsets[k + 1]) for k in rows]
    index = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
    sub_offsets = np.concatenate([[0], np.cumsum([p.size for p in pieces])])
    data = Data(program, np.ascontiguousarray(columns[:, index]), y[index], sub_offsets,
                None if weight is None else np.asarray(weight)[index])
    with np.errstate(all="ignore"):
        out = run_starts(data, starts, options, lower=lo, upper=hi, fixed=np.zeros(P, bool),
                         prune=RETRY_PRUNE, want_jtj=False)
    converged = np.isfinite(out.cost)
    return out.params, converged, starts.shape[1]
