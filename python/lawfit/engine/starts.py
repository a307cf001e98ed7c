"""The one multistart driver: laws x starts in one core call, the best start per law.

Every (law, start) pair is one problem.  Large start sets are pruned by
default: the objective is evaluated at every start (one pass over the points,
no iterations) and Levenberg-Marquardt runs from the ``k`` best starts of each
law only.  A Cartesian grid is sent to the core as its axes (``start_grid``):
the core makes the start points where the problems run.

The default (``prune="auto"``): with more than :data:`AUTO_PRUNE_MIN_STARTS`
starts, LM runs from the best :data:`AUTO_PRUNE_K` of every law with more than
:data:`AUTO_PRUNE_MAX_POINTS_FULL` points; a law whose best cost fewer than
:data:`AUTO_CONFIRM` of those reach is run from the rest of the grid as well;
laws of fewer points run the whole grid.  Measured on the
released collections in ``../shared/data`` (README, "How it works"): ranking
starts by their initial cost finds the full grid's optimum for every law of the
19 Hitchhiker (ColPret) scaled sets on Chinchilla's 243-point grid and for
Epoch's Approach-3 refit on 4,500 starts, but not for small, nearly
unidentifiable extrapolation cut-offs: on the 4,375 windowed cut-offs of
``lawfit.evaluate(..., fractions=[0.1, 0.25, 0.5, 0.75, 1.0], window=True)``
the best 16 (with the confirmation) missed the optimum of 335 laws, all of
them with at most 92 points (median 27), and the best 64 still missed some
(an optimum's start ranked as low as 80th of 243).

``prune="race"`` is faster for those small laws and not exact: every start
gets :data:`RACE_NFEV` evaluations, the :data:`RACE_K` best of those still
iterating run to the end (again from their start: the same bits as the full
grid), all of them where fewer than :data:`AUTO_CONFIRM` starts agree.  It
takes a fifth of the evaluations and matches the full grid on 121 of the 122
cut-offs of ``evaluate(..., fractions=[0.25, 1.0])``, but on the 4,375 windowed
cut-offs it ends 353 (8%, all of at most 100 points) at a worse optimum
(median cost 0.35% higher, a quarter of them several times higher): there
the global optimum is usually reached by one start of 243, after a median 244
iterations, from a start whose cost after 30 evaluations ranks anywhere
(median 48th).  ``prune=k`` runs exactly the k best of every law;
``prune=None`` runs the whole grid.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..status import Status, is_converged
from .core import grid_axes, solve_batch
from .data import Data
from .options import Options

__all__ = ["StartsOutcome", "run_starts", "reduce_best", "resolve_prune", "halton", "log_box_starts", "AUTO_PRUNE_K",
           "AUTO_PRUNE_MIN_STARTS", "AUTO_CONFIRM", "AUTO_PRUNE_MAX_POINTS_FULL"]

AUTO_PRUNE_K = 16
AUTO_PRUNE_MIN_STARTS = 64
AUTO_CONFIRM = 3
AUTO_PRUNE_MAX_POINTS_FULL = 100
RACE_NFEV = 30
RACE_K = 8
_MAX_KEPT_JTJ = 1 << 23  # doubles of J^T W J kept for every start (64 MiB)


@dataclass(eq=False)
class StartsOutcome:
    """Every start's outcome (L, S, ...) and the best start per law (L, ...)."""

    params: np.ndarray  # (L, P) best converged; NaN where none converged
    cost: np.ndarray  # (L,)
    status: np.ndarray  # (L,) of the best start
    best_start: np.ndarray  # (L,)
    n_converged: np.ndarray  # (L,)
    basin_count: np.ndarray  # (L,)
    n_run: np.ndarray  # (L,) starts that LM ran from
    jtj: np.ndarray  # (L, P, P) at params
    nit: np.ndarray  # (L,)
    nfev: np.ndarray  # (L,) summed over the law's starts
    starts: np.ndarray  # (S, P) or (L, S, P), clipped into the bounds
    all_params: np.ndarray  # (L, S, P), NaN for starts not run
    all_cost: np.ndarray  # (L, S)
    all_status: np.ndarray  # (L, S), NOT_RUN for starts not run
    all_nit: np.ndarray  # (L, S)
    start_cost: np.ndarray | None  # (L, S) objective at every start (the pruning pass)


_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53)


def halton(n: int, d: int) -> np.ndarray:
    """The first ``n`` points of the Halton sequence in [0, 1)^d (d <= 16; radical inverses of 1..n)."""
    return _halton(int(n), int(d)).copy()


_HALTON_CACHED = 4096  # points: sets up to this size are kept (the second chance's 64 starts are)


def _halton(n: int, d: int) -> np.ndarray:
    """:func:`halton`'s points, read-only; small sets computed once per (n, d) (every retried problem of a
    batch asks for the same points)."""
    return _halton_cached(n, d) if n <= _HALTON_CACHED else _halton_points(n, d)


def _halton_points(n: int, d: int) -> np.ndarray:
    if d > len(_PRIMES):
        raise ValueError(f"halton: at most {len(_PRIMES)} dimensions")
    k = np.arange(1, n + 1, dtype=np.int64)
    out = np.zeros((n, d))
    for j, base in enumerate(_PRIMES[:d]):
        rest, scale = k.copy(), 1.0
        while np.any(rest):
            scale /= base
            out[:, j] += scale * (rest % base)
            rest //= base
    out.flags.writeable = False
    return out


_halton_cached = functools.lru_cache(maxsize=32)(_halton_points)


def log_box_starts(center, n: int, decades: float = 3.0, lower=None, upper=None) -> np.ndarray:
    """``n`` starts spread over ``center * 10**[-decades, decades]`` per parameter (Halton points).

    Each parameter keeps the sign of its centre value (a zero centre spreads
    over +-10**[-decades, decades] of 1); starts are clipped into the bounds.
    Scaling laws and the NIST StRD problems start one to three orders of
    magnitude from their optimum when a start is wrong, in either direction:
    spread in the logarithm, a few dozen starts cover that box.

    ``center`` (P,) gives (n, P) starts; centres (R, P), with bounds (P,) or
    (R, P), give (R, n, P): each row's starts, the same values as one call per row.
    """
    center = np.asarray(center, dtype=np.float64)
    u = 2.0 * _halton(int(n), center.size if center.ndim < 2 else center.shape[-1]) - 1.0
    if center.ndim == 2:  # rows: (R, 1, P) against the (n, P) points; bounds (R, P) likewise
        center = center[:, None, :]
        lower, upper = (None if b is None else _rows_axis(np.asarray(b, dtype=np.float64)) for b in (lower, upper))
    magnitude = np.where(center != 0, np.abs(center), 1.0)
    sign = np.where(center < 0, -1.0, 1.0)
    if np.any(center == 0):  # alternate signs for zero centres
        sign = np.where(center == 0, np.where(np.arange(n)[:, None] % 2 == 0, 1.0, -1.0), sign)
    starts = sign * magnitude * 10.0 ** (decades * u)
    if lower is not None or upper is not None:
        starts = np.clip(starts, -np.inf if lower is None else lower, np.inf if upper is None else upper)
    return starts


def _rows_axis(bound: np.ndarray) -> np.ndarray:
    """A bound per row (R, P) as (R, 1, P); (P,) or scalar bounds broadcast as they are."""
    return bound[:, None, :] if bound.ndim == 2 else bound


def resolve_prune(prune, n_starts: int):
    """The number of starts LM runs from per law, or None for all of them."""
    if isinstance(prune, str):
        if prune not in ("auto", "race"):
            raise ValueError(f"prune must be 'auto', 'race', None or a positive number of starts, got {prune!r}")
        return AUTO_PRUNE_K if n_starts > AUTO_PRUNE_MIN_STARTS else None
    if prune is None or prune is False:
        return None
    if isinstance(prune, bool) or int(prune) < 1:
        raise ValueError("prune must be 'auto', None or a positive number of starts")
    return min(int(prune), n_starts)  # asked for: the cost pass runs even when k covers every start


def reduce_best(cost: np.ndarray, status: np.ndarray, basin_rtol: float = 1e-6):
    """Best converged start along the last axis of (..., S) cost and status arrays.

    Returns ``(best, ok, n_converged, basin_count)``: the index of the lowest
    converged cost (or, where none converged, of the lowest finite cost, else
    0), whether a converged start exists, the number of converged starts, and
    the number of converged starts with ``cost <= best * (1 + basin_rtol)``.
    The core's ``best_of`` reduction applies the same rule.
    """
    conv = is_converged(status) & np.isfinite(cost)
    masked = np.where(conv, cost, np.inf)
    best = np.argmin(masked, axis=-1)
    ok = conv.any(axis=-1)
    fallback = np.argmin(np.where(np.isfinite(cost), cost, np.inf), axis=-1)
    best = np.where(ok, best, fallback)
    best_cost = np.take_along_axis(masked, best[..., None], axis=-1)
    basin = (conv & (masked <= best_cost + basin_rtol * np.abs(best_cost))).sum(axis=-1)
    return best, ok, conv.sum(axis=-1), basin


def _grid_points(axes: list[np.ndarray], index: np.ndarray) -> np.ndarray:
    """Grid points (n, P) at flat indices (the last axis varying fastest)."""
    sizes = [a.size for a in axes]
    sub = np.unravel_index(index, sizes)
    return np.stack([a[s] for a, s in zip(axes, sub)], axis=-1) if axes else np.empty((index.size, 0))


def run_starts(data: Data, starts, options: Options, *, lower: np.ndarray, upper: np.ndarray,
               fixed: np.ndarray, prune="auto", basin_rtol: float = 1e-6, want_jtj: bool = True,
               progress=None) -> StartsOutcome:
    """Fit every law of ``data`` from every start; keep the best start per law.

    ``starts`` is an (S, P) array shared by every law, an (L, S, P) array, or
    a list of P grid axes (a Cartesian grid, made by the core).  ``lower``,
    ``upper`` are (L, P); ``fixed`` is a (P,) or (L, P) mask (fixed
    parameters stay at their start values).
    """
    L, P = data.n_laws, len(data.program.param_names)
    if L == 0:
        return _empty_outcome(starts, data.program.param_names)
    axes = None
    if isinstance(starts, (list, tuple)):
        axes = grid_axes(starts, data.program.param_names)
        S = int(np.prod([a.size for a in axes]))
        start_set = None
    else:
        start_set = np.asarray(starts, dtype=np.float64)
        S = start_set.shape[-2]
    fixed_law = np.broadcast_to(np.asarray(fixed, dtype=bool), (L, P))
    any_fixed = bool(fixed_law.any())
    common = dict(weight=data.weight, **options.solver_kwargs())
    k = resolve_prune(prune, S)
    # Starts LM runs from, per law: "auto" and "race" keep every start for laws of few points.
    k_law = None if k is None else np.full(L, k, dtype=np.int64)
    # Laws of few points run every start ("race": raced, see _race); the rest run their k best.
    race = np.zeros(L, dtype=bool)
    if k is not None and prune in ("auto", "race"):
        small = data.n_points <= AUTO_PRUNE_MAX_POINTS_FULL
        k_law[small] = S
        if prune == "race":
            race = small
        if np.all(k_law == S):
            k, k_law = None, None

    every_law = np.arange(L, dtype=np.int64)

    def in_order(law_idx):
        """Whether problems ``law_idx`` are every law once, in order: their bounds are the laws'
        own arrays (no gathers), and the core's default problem -> law map."""
        return law_idx.size == L and np.array_equal(law_idx, every_law)

    def rows(law_idx, start_idx):
        """Start points (n, P) for problems (law_idx, start_idx), clipped into their law's bounds."""
        if axes is not None:
            p = _grid_points(axes, start_idx)
        elif start_set.ndim == 2:
            p = start_set[start_idx]
        else:
            p = start_set[law_idx, start_idx]
        if in_order(law_idx):
            return np.clip(p, lower, upper)
        return np.clip(p, lower[law_idx], upper[law_idx])

    uniform: list = []

    def uniform_bounds() -> bool:
        """Whether every law has the same bounds (checked once)."""
        if not uniform:
            uniform.append(_uniform(lower) and _uniform(upper))
        return uniform[0]

    def fixed_rows(law_idx):
        return np.ascontiguousarray(fixed_law[law_idx], dtype=np.uint8) if any_fixed else None

    def evaluate_at(law_i, start_i, full: bool, progress=None):
        return evaluate_once(data, rows(law_i, start_i), law_i, common, lower=lower, upper=upper,
                             fixed=fixed_law if any_fixed else None, full=full, progress=progress)

    start_cost = None
    if k is None:
        # Start-major: the core hands out problems in chunks of consecutive ones, and a law of many
        # points must not land in one chunk (one thread) with all its starts.
        law_idx = np.tile(np.arange(L, dtype=np.int64), S)
        start_idx = np.repeat(np.arange(S, dtype=np.int64), L)
    else:
        # Pruning pass: the objective at every start (no iterations).
        if axes is not None and not any_fixed and uniform_bounds():
            ev = solve_batch(data.program, data.columns, data.y, data.offsets, start_grid=axes,
                             lower=lower[0], upper=upper[0], want_jtj=False, evaluate_only=True,
                             progress=progress, **common)
        else:
            ev = evaluate_at(np.repeat(np.arange(L, dtype=np.int64), S), np.tile(np.arange(S, dtype=np.int64), L),
                             full=False, progress=progress)
        start_cost = np.where(ev.status == int(Status.NOT_RUN), ev.cost, np.nan).reshape(L, S)

        def lm_can_start(law_i, start_i):
            """Whether LM can start at these starts: the full evaluation is finite."""
            return evaluate_at(law_i, start_i, full=True).status == int(Status.NOT_RUN)

        order, excluded = _confirmed_order(start_cost, k_law, lm_can_start)
        rank, law_idx = np.nonzero((np.arange(S)[None, :] < k_law[:, None]).T)  # start-major, as above
        start_idx = order[law_idx, rank].astype(np.int64)
        law_idx = law_idx.astype(np.int64)
    # J^T W J at each start's solution comes with the LM run when it is small enough to keep
    # for every start; otherwise one more evaluation at the best starts.
    keep_jtj = want_jtj and L * S * P * P <= _MAX_KEPT_JTJ
    kept: dict = {"jtj": None}  # J^T W J of every (law, start), (L * S, P, P); made on first use

    def keep(flat_idx, values):
        if kept["jtj"] is None:
            if flat_idx.size == L * S and np.array_equal(flat_idx, np.arange(L * S)):
                kept["jtj"] = values  # one run of every start in order (one start per law): no copy
                return
            kept["jtj"] = np.full((L * S, P, P), np.nan)
        kept["jtj"][flat_idx] = values
    all_params = np.full((L, S, P), np.nan)
    all_cost = np.full((L, S), np.nan)
    all_status = np.full((L, S), int(Status.NOT_RUN), dtype=np.int32)
    all_nit = np.zeros((L, S), dtype=np.int32)
    all_nfev = np.zeros((L, S), dtype=np.int32)

    # Laws identical to an earlier one (same points, y, weights, bounds, held parameters and
    # starts: evaluate's windowed cut-offs repeat a quarter of theirs) are not run again: the
    # core is deterministic per problem, so a copy of the first one's outcomes is exact.
    dup, rep = duplicate_laws(data, lower, upper, fixed_law, start_set) if S > 1 else (None, None)

    def run(law_i, start_i, p, max_nfev=None):
        """LM on problems (law_i, start_i) from ``p``; results stored (evaluations added to earlier
        runs of the same start), and copied to the laws that duplicate theirs."""
        if dup is not None:
            first = ~np.isin(law_i, dup)
            law_i, start_i, p = law_i[first], start_i[first], p[first]
        if not law_i.size:
            return
        kw = common if max_nfev is None else {**common, "max_nfev": int(max_nfev)}
        ordered = in_order(law_i)
        sol = solve_batch(data.program, data.columns, data.y, data.offsets, p,
                          problem_law=None if ordered else law_i, fixed=fixed_rows(law_i),
                          lower=lower if ordered else lower[law_i], upper=upper if ordered else upper[law_i],
                          want_jtj=keep_jtj, progress=progress, **kw)
        if keep_jtj:
            keep(law_i * S + start_i, sol.jtj)
        # Every law once (one start each, the common batch of many laws): column views, not scatters.
        at = (slice(None), start_i[0]) if ordered and np.all(start_i == start_i[0]) else (law_i, start_i)
        all_params[at], all_cost[at] = sol.params, sol.cost
        all_status[at] = sol.status
        all_nit[at] = sol.nit
        all_nfev[at] += sol.nfev
        if dup is not None:
            for a in (all_params, all_cost, all_status, all_nit, all_nfev):
                a[dup] = a[rep]
            if keep_jtj and kept["jtj"] is not None:
                s_all = np.arange(S)
                kept["jtj"][(dup[:, None] * S + s_all).ravel()] = kept["jtj"][(rep[:, None] * S + s_all).ravel()]

    raced = race[law_idx]
    run(law_idx[~raced], start_idx[~raced], rows(law_idx[~raced], start_idx[~raced]))
    if race.any():
        _race(run, rows, law_idx[raced], start_idx[raced], all_cost, all_status, options.max_nfev, basin_rtol)

    best, ok, n_conv, basin = reduce_best(all_cost, all_status, basin_rtol)
    if k is not None and prune in ("auto", "race"):
        # Laws whose optimum only one or two of the k starts reached: run the rest of the grid too.
        evaluable = (np.isfinite(start_cost) & ~excluded).any(axis=1)  # not for laws no start can be evaluated on
        redo = np.flatnonzero((basin < min(AUTO_CONFIRM, k)) & (k_law < S) & evaluable)
        if redo.size:
            not_run = all_status[redo] == int(Status.NOT_RUN)
            law_r = np.repeat(redo, not_run.sum(axis=1)).astype(np.int64)
            start_r = np.nonzero(not_run)[1].astype(np.int64)
            spread = np.argsort(start_r, kind="stable")  # start-major, as above
            law_r, start_r = law_r[spread], start_r[spread]
            run(law_r, start_r, rows(law_r, start_r))
            best, ok, n_conv, basin = reduce_best(all_cost, all_status, basin_rtol)
    n_run = (all_status != int(Status.NOT_RUN)).sum(axis=1)
    law = np.arange(L)
    params = all_params[law, best].copy()
    params[~ok] = np.nan
    cost = np.where(ok, all_cost[law, best], np.nan)
    status = all_status[law, best].copy()
    if keep_jtj and S == 1 and ok.all() and kept["jtj"] is not None:
        jtj = kept["jtj"]
    else:
        jtj = np.full((L, P, P), np.nan)
    if keep_jtj and kept["jtj"] is not None:
        if jtj is not kept["jtj"]:
            jtj[ok] = kept["jtj"][(law * S + best)[ok]]
    elif want_jtj and ok.any():
        jtj[ok] = jtj_at(data, params[ok], np.flatnonzero(ok), options, lower=lower, upper=upper,
                         fixed=fixed_law if any_fixed else None)
    # The start set as run: shared (S, P) when every law has the same bounds, else (L, S, P).
    points = _grid_points(axes, np.arange(S)) if start_set is None else start_set
    if points.ndim == 2 and uniform_bounds():
        start_set = np.clip(points, lower[0], upper[0])
    else:
        start_set = np.clip(np.broadcast_to(points, (L, S, P)), lower[:, None], upper[:, None])
    return StartsOutcome(params=params, cost=cost, status=status, best_start=best, n_converged=n_conv,
                         basin_count=basin, n_run=n_run, jtj=jtj, nit=all_nit[law, best],
                         nfev=all_nfev.sum(axis=1), starts=start_set, all_params=all_params, all_cost=all_cost,
                         all_status=all_status, all_nit=all_nit, start_cost=start_cost)


def _confirmed_order(start_cost: np.ndarray, k_law: np.ndarray, evaluable) -> tuple[np.ndarray, np.ndarray]:
    """Every law's starts by their cost (L, S), the ``k_law`` first confirmed as LM starts; and which
    starts were found not to be, (L, S) bool.

    The pruning pass evaluates the cost alone (the core's cost-only evaluation).  A start whose cost
    is finite while its Jacobian or J^T W J is not (a power of 0, a square that overflows) is no start
    for LM: the full evaluation, ``evaluable(law_idx, start_idx) -> (n,) bool``, tells.  The chosen
    starts of laws that run fewer than all of theirs get it; those failing go last, behind the starts
    of non-finite cost (stable order), and the next ones take their place until every chosen start
    passes -- the starts that ranking every start by a full evaluation chooses, at the price of k full
    evaluations per law instead of S.
    """
    L, S = start_cost.shape
    excluded = np.zeros((L, S), bool)
    confirmed = np.zeros((L, S), bool)
    choosing = (k_law < S)[:, None] & (np.arange(S)[None, :] < k_law[:, None])  # (law, rank) chosen
    while True:
        key = np.where(np.isfinite(start_cost) & ~excluded, start_cost, np.inf)
        order = np.argsort(key, axis=1, kind="stable")
        law_i, rank = np.nonzero(choosing)
        start_i = order[law_i, rank]
        todo = np.isfinite(key[law_i, start_i]) & ~confirmed[law_i, start_i]
        if not todo.any():
            return order, excluded
        law_i, start_i = law_i[todo].astype(np.int64), start_i[todo].astype(np.int64)
        ok = evaluable(law_i, start_i)
        confirmed[law_i, start_i] = True
        excluded[law_i[~ok], start_i[~ok]] = True


def _race(run, rows, law_idx, start_idx, cost, status, max_nfev: int, basin_rtol: float):
    """Every start of laws of few points, without running hopeless ones to the evaluation cap.

    All starts get :data:`RACE_NFEV` evaluations; the ones still iterating then run again
    from their start with the whole cap (so each gives exactly what the full grid gives it)
    if they are among the :data:`RACE_K` lowest costs of their law, or if the law's best
    optimum is then not confirmed by :data:`AUTO_CONFIRM` converged starts (then all of them).
    On the Hitchhiker cut-offs of ``lawfit.evaluate`` the full grid spends most of its
    evaluations in starts that wander along flat valleys of 10-100-point laws until the cap;
    racing takes a fifth of the evaluations and gives the same optimum except where the full
    grid's answer is itself arbitrary (README, "How it works").
    """
    if 0 < max_nfev <= RACE_NFEV:  # a cap this low leaves nothing to race (MINPACK's default is >= 200)
        run(law_idx, start_idx, rows(law_idx, start_idx))
        return
    run(law_idx, start_idx, rows(law_idx, start_idx), RACE_NFEV)
    laws = np.unique(law_idx)
    going = status[laws] == int(Status.MAX_EVALUATIONS)
    # Ranked among the starts still iterating: starts already converged (often many, to a
    # local optimum) must not crowd out the ones still descending towards a lower one.
    c = np.where(going & np.isfinite(cost[laws]), cost[laws], np.inf)
    rank = np.argsort(np.argsort(c, axis=1, kind="stable"), axis=1, kind="stable")
    best = going & (rank < RACE_K)

    def rerun(mask):
        li, si = np.nonzero(mask)
        order = np.argsort(si, kind="stable")  # start-major, as run_starts
        li, si = laws[li[order]], si[order]
        run(li, si, rows(li, si))  # the options' own evaluation cap

    rerun(best)
    _, _, _, basin = reduce_best(cost[laws], status[laws], basin_rtol)
    rerun((basin < AUTO_CONFIRM)[:, None] & going & ~best)


def duplicate_laws(data: Data, lower: np.ndarray, upper: np.ndarray, fixed: np.ndarray,
                   starts: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Laws that repeat an earlier law of the batch exactly, and that earlier law:
    ``(duplicates (D,), first (D,))``, or ``(None, None)`` when there are none.

    Exactly: the same points (every input column, hoisted ones included), y, weights,
    bounds, held parameters and, for per-law starts ``(L, S, P)``, starts.  Candidates
    come from per-law sums (one pass over the data); each is then compared element by
    element with the first law of its candidate set.  A law with a NaN never matches.
    """
    L = data.n_laws
    if L < 2:
        return None, None
    n = data.n_points
    nonempty = n > 0
    cols = [data.y] + list(data.columns) + ([] if data.weight is None else [data.weight])
    sums = np.zeros((L, len(cols)))
    starts_at = data.offsets[:-1][nonempty]
    with np.errstate(all="ignore"):
        for j, c in enumerate(cols):
            sums[nonempty, j] = np.add.reduceat(c, starts_at)
    key = np.column_stack([n, sums, lower, upper, fixed] +
                          ([starts.reshape(L, -1)] if starts is not None and starts.ndim == 3 else []))
    _, first_of, which = np.unique(key, axis=0, return_index=True, return_inverse=True)
    first = first_of[which.ravel()]  # the earliest law with each law's key
    cand = np.flatnonzero(first != np.arange(L))
    if not cand.size:
        return None, None
    dup, rep = [], []
    o = data.offsets
    for d in cand.tolist():
        r = int(first[d])
        a, b, ra, rb = o[d], o[d + 1], o[r], o[r + 1]
        same = np.array_equal(key[d], key[r]) and np.array_equal(data.columns[:, a:b], data.columns[:, ra:rb]) \
            and np.array_equal(data.y[a:b], data.y[ra:rb]) \
            and (data.weight is None or np.array_equal(data.weight[a:b], data.weight[ra:rb]))
        if same:
            dup.append(d)
            rep.append(r)
    if not dup:
        return None, None
    return np.array(dup, dtype=np.int64), np.array(rep, dtype=np.int64)


def _empty_outcome(starts, names) -> StartsOutcome:
    """The outcome of a batch of no laws (every array with 0 rows)."""
    P = len(names)
    S = int(np.prod([np.size(a) for a in starts])) if isinstance(starts, (list, tuple)) \
        else np.shape(starts)[-2]
    z = np.zeros(0, dtype=np.int64)
    return StartsOutcome(params=np.empty((0, P)), cost=np.empty(0), status=np.empty(0, np.int32), best_start=z,
                         n_converged=z, basin_count=z, n_run=z, jtj=np.empty((0, P, P)), nit=z, nfev=z,
                         starts=np.empty((S, P)) if not isinstance(starts, np.ndarray) or starts.ndim == 2
                         else np.empty((0, S, P)), all_params=np.empty((0, S, P)), all_cost=np.empty((0, S)),
                         all_status=np.empty((0, S), np.int32), all_nit=np.empty((0, S), np.int32),
                         start_cost=None)


def evaluate_once(data: Data, params: np.ndarray, laws: np.ndarray, solver_kwargs: dict, *, lower, upper,
                  fixed=None, full: bool = True, progress=None):
    """One evaluation of laws ``laws`` at ``params`` (n, P), no iterations: the cost alone, or with
    ``full`` also the Jacobian's J^T W J (whose status says whether LM can start there).  ``lower``,
    ``upper`` and ``fixed`` are per law, (L, P)."""
    laws = np.asarray(laws, dtype=np.int64)
    return solve_batch(data.program, data.columns, data.y, data.offsets, params, problem_law=laws,
                       fixed=None if fixed is None else np.ascontiguousarray(fixed[laws], dtype=np.uint8),
                       lower=lower[laws], upper=upper[laws], want_jtj=full, evaluate_only=True,
                       progress=progress, **solver_kwargs)


def jtj_at(data: Data, params: np.ndarray, laws: np.ndarray, options: Options, *, lower, upper,
           fixed=None) -> np.ndarray:
    """J^T W J (n, P, P) of laws ``laws`` at ``params`` (one evaluation each, no iterations)."""
    return evaluate_once(data, params, laws, dict(weight=data.weight, **options.solver_kwargs()), lower=lower,
                         upper=upper, fixed=fixed).jtj


def _uniform(a: np.ndarray) -> bool:
    """Whether every row of an (L, P) array is the same."""
    a = np.asarray(a)
    if a.shape[0] <= 1 or bool(np.all(a == a[:1])):  # the usual answer, without the NaN pass
        return True
    return bool(np.all((a == a[:1]) | (np.isnan(a) & np.isnan(a[:1]))))
