"""Approach 2 (IsoFLOP profiles): the loss-minimising model size of every compute budget,
then power laws N*(C) and D*(C).

Hoffmann et al. 2022 (§3.2, Approach 2) fit, for every FLOP budget C, a parabola of the
final loss against log N and take its minimum N*(C); power laws N* = k_N C^a and D* =
k_D C^b (with D* = C/(6 N*)) across budgets give the compute-optimal allocation (their
Table 2: a = 0.49, b = 0.51).  Porian et al. 2024 (arXiv:2406.19146) interpolate each
IsoFLOP curve with an Akima spline in log N instead of a global parabola (a parabola
through points far from the minimum biases N*) and weight the power-law fit by the
inverse variance of log N*.

:func:`approach2` does both: ``method="parabola"`` (every budget's parabola in closed form,
all budgets and all bootstrap resamples at once, with the delta-method variance of the
vertex) or ``"akima"``; the power laws are weighted least squares in log space
(``weights="inverse_variance"``: 1/var(log N*), from the parabola's covariance or from the
bootstrap); bootstrap resamples of the points within each budget give percentile
intervals for the exponents and the coefficients.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import warnings

import numpy as np

from ..api import load_table
from ..uncertainty import percentile_interval
from ._resample import unit_counts

__all__ = ["approach2", "IsoflopResult", "isoflop_minima"]


def _listify(cols) -> list:
    if cols is None:
        return []
    return [cols] if isinstance(cols, str) else list(cols)


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums over the last axis within segments that begin at ``starts`` (rows sorted by segment)."""
    return np.add.reduceat(values, starts, axis=-1)


def _parabola_vertices(x, y, starts, counts=None):
    """Vertex (log N*), minimum loss and var(log N*) of a least-squares parabola per segment.

    ``x``, ``y`` (M,) sorted by segment; ``counts`` (R, M) multiplicities for R resamples
    (None: each point once).  Returns arrays (S,) or (R, S): vertex, minimum, variance,
    points used, curvature.
    """
    w = np.ones((1, x.size)) if counts is None else np.asarray(counts, float)
    X = [w * x ** k for k in range(5)]
    S = np.stack([_segment_sums(v, starts) for v in X], axis=-1)  # (R, S, 5): sum w x^k
    T = np.stack([_segment_sums(w * y * x ** k, starts) for k in range(3)], axis=-1)  # (R, S, 3)
    yy = _segment_sums(w * y * y, starts)
    A = np.stack([S[..., [0, 1, 2]], S[..., [1, 2, 3]], S[..., [2, 3, 4]]], axis=-2)  # (R, S, 3, 3)
    n = S[..., 0]
    ok = n >= 3
    A_safe = np.where(ok[..., None, None], A, np.eye(3))
    with np.errstate(all="ignore"):
        try:
            inv = np.linalg.inv(A_safe)
        except np.linalg.LinAlgError:
            inv = np.linalg.pinv(A_safe)
        c = np.einsum("...ij,...j->...i", inv, T)  # c0 + c1 x + c2 x^2
        rss = yy - np.einsum("...i,...i->...", c, T)
        dof = np.maximum(n - 3, 1)
        s2 = np.clip(rss, 0, None) / dof
        c0, c1, c2 = c[..., 0], c[..., 1], c[..., 2]
        v = -c1 / (2 * c2)
        lmin = c0 - c1 * c1 / (4 * c2)
        g1, g2 = -1 / (2 * c2), c1 / (2 * c2 * c2)  # gradient of the vertex in (c1, c2)
        var = s2 * (g1 * g1 * inv[..., 1, 1] + 2 * g1 * g2 * inv[..., 1, 2] + g2 * g2 * inv[..., 2, 2])
    bad = ~ok | ~(c2 > 0)
    v, lmin, var = (np.where(bad, np.nan, a) for a in (v, lmin, var))
    return v, lmin, var, n, c2


def _akima_vertices(x, y, starts, counts=None, n_grid: int = 2001):
    """Minimum of the Akima interpolant of y(log N) per segment (Porian et al.), per resample."""
    from scipy.interpolate import Akima1DInterpolator

    ends = np.r_[starts[1:], x.size]
    R = 1 if counts is None else counts.shape[0]
    v = np.full((R, starts.size), np.nan)
    lmin = np.full((R, starts.size), np.nan)
    for s, (a, b) in enumerate(zip(starts, ends)):  # budgets x resamples: scipy has no batched spline
        for r in range(R):
            keep = slice(a, b) if counts is None else np.flatnonzero(counts[r, a:b] > 0) + a
            xs, ys = x[keep], y[keep]
            if np.unique(xs).size < 3:
                continue
            order = np.argsort(xs, kind="stable")
            xs, ys = xs[order], ys[order]
            ux, idx = np.unique(xs, return_index=True)  # repeated points of a resample: the spline needs distinct x
            uy = np.array([ys[xs == u].mean() for u in ux])
            f = Akima1DInterpolator(ux, uy)
            grid = np.linspace(ux[0], ux[-1], n_grid)
            vals = f(grid)
            j = int(np.nanargmin(vals))
            v[r, s], lmin[r, s] = grid[j], vals[j]
    return v, lmin


def isoflop_minima(x_logN: np.ndarray, y: np.ndarray, starts: np.ndarray, method: str = "parabola",
                   counts: Optional[np.ndarray] = None):
    """log N* and the minimum loss of every IsoFLOP segment (and resample): (R, S) arrays, and
    for the parabola the delta-method var(log N*)."""
    if method == "parabola":
        v, lmin, var, _, _ = _parabola_vertices(x_logN, y, starts, counts)
        return v, lmin, var
    if method == "akima":
        v, lmin = _akima_vertices(x_logN, y, starts, counts)
        return v, lmin, np.full_like(v, np.nan)
    raise ValueError(f"method must be 'parabola' or 'akima', got {method!r}")


def _wls_line(u, v, w):
    """Weighted least squares v = c + s u along the last axis, NaN points ignored: (slope, intercept,
    var(slope), var(intercept), cov)."""
    ok = np.isfinite(u) & np.isfinite(v) & np.isfinite(w) & (w > 0)
    w = np.where(ok, w, 0.0)
    u0, v0 = np.where(ok, u, 0.0), np.where(ok, v, 0.0)
    sw, su, sv = w.sum(-1), (w * u0).sum(-1), (w * v0).sum(-1)
    suu, suv = (w * u0 * u0).sum(-1), (w * u0 * v0).sum(-1)
    with np.errstate(all="ignore"):
        det = sw * suu - su * su
        slope = (sw * suv - su * sv) / det
        icpt = (sv - slope * su) / sw
        res = np.where(ok, v0 - icpt[..., None] - slope[..., None] * u0, 0.0)
        n = ok.sum(-1)
        s2 = (w * res * res).sum(-1) / np.maximum(n - 2, 1)  # residual scale: the weights are relative
        var_s, var_i, cov = s2 * sw / det, s2 * suu / det, -s2 * su / det
    return slope, icpt, var_s, var_i, cov


@dataclass
class IsoflopResult:
    """Approach 2: per-budget optima and the compute-optimal power laws.

    Attributes
    ----------
    optima : pandas.DataFrame
        One row per (group, budget): ``C``, ``N_opt``, ``D_opt``, ``L_opt``,
        ``var_log_N`` (the vertex's variance), ``n_points``, ``edge`` (the
        smallest observed loss sits at the smallest or largest N: the minimum is
        extrapolated), ``used`` (in the power-law fit).
    exponents : pandas.DataFrame
        One row per group: ``a`` (N* ~ C^a), ``b`` (D* ~ C^b = 1 - a),
        ``k_N``, ``k_D`` (coefficients), each with ``_stderr`` (weighted least
        squares) and, with a bootstrap, ``_low``/``_high`` percentile bounds.
    replicates : dict of ndarray (G, R) or None
        ``a``, ``log_k_N`` per resample.
    """

    optima: object
    exponents: object
    replicates: Optional[dict]
    by: list
    flops_per_token: float
    level: float

    def predict(self, C):
        """N*(C) and D*(C) for every group at the budgets C (with intervals after a bootstrap)."""
        import pandas as pd

        C = np.atleast_1d(np.asarray(C, dtype=float))
        rows = []
        for g, row in self.exponents.reset_index(drop=True).iterrows():
            n_opt = row["k_N"] * C ** row["a"]
            part = {**{k: row[k] for k in self.by}, "C": C, "N_opt": n_opt,
                    "D_opt": C / (self.flops_per_token * n_opt)}
            if self.replicates is not None:
                logn = self.replicates["log_k_N"][g][:, None] + self.replicates["a"][g][:, None] * np.log(C)
                lo, hi = percentile_interval(logn, self.level, axis=0)
                part.update(N_opt_low=np.exp(lo), N_opt_high=np.exp(hi),
                            D_opt_low=C / (self.flops_per_token * np.exp(hi)),
                            D_opt_high=C / (self.flops_per_token * np.exp(lo)))
            rows.append(pd.DataFrame(part))
        return pd.concat(rows, ignore_index=True)


def approach2(data, *, N: str = "N", C: str = "C", y: str = "loss", by=None, method: str = "parabola",
              weights: str = "inverse_variance", drop_edge: bool = False, flops_per_token: float = 6.0,
              bootstrap: int = 0, bootstrap_by=None, seed: int = 0, level: float = 0.95,
              min_points: int = 3) -> IsoflopResult:
    """Chinchilla's Approach 2 on IsoFLOP data: minima per budget, then N*(C) and D*(C).

    Parameters
    ----------
    data : DataFrame or path
        One row per run: model size, FLOP budget, loss.
    N, C, y : str
        Columns of parameters, budget (runs of one budget share its value) and loss.
    by : str or list of str, optional
        Separate analyses (e.g. ``"experiment"``).
    method : {"parabola", "akima"}
        Parabola in log N (Hoffmann et al.) or the minimum of an Akima spline
        (Porian et al.).
    weights : {"inverse_variance", "equal"}
        Weights of the power-law fit: 1/var(log N*) -- from the parabola's
        covariance, or with ``method="akima"`` from the bootstrap (``bootstrap``
        > 0 required) -- or equal.
    drop_edge : bool
        Leave out budgets whose smallest loss is at the smallest or largest N
        (their minimum is an extrapolation).
    flops_per_token : float
        D* = C / (flops_per_token N*).
    bootstrap : int
        Resamples of the points within each budget (or of ``bootstrap_by``
        units); every resample repeats the whole analysis.
    seed, level, min_points

    Returns
    -------
    IsoflopResult

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rows = []
    >>> for C in np.geomspace(1e18, 1e21, 6):
    ...     N = np.geomspace(0.2, 5, 9) * 0.09 * C**0.5          # around N* = 0.09 C^0.5
    ...     rows.append(pd.DataFrame({"C": C, "N": N, "loss": 2 + 0.05 * np.log(N / (0.09 * C**0.5))**2}))
    >>> res = approach2(pd.concat(rows))
    >>> round(float(res.exponents.a[0]), 6), round(float(res.exponents.b[0]), 6)
    (0.5, 0.5)
    """
    import pandas as pd

    by = _listify(by)
    df = load_table(data)
    need = [N, C, y] + by + _listify(bootstrap_by)
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} are not in the data")
    d = df[need].copy()
    for c in (N, C, y):
        d[c] = pd.to_numeric(d[c], errors="coerce")
    d = d[np.isfinite(d[[N, C, y]].to_numpy(float)).all(axis=1) & (d[N] > 0) & (d[C] > 0)]
    d = d.sort_values(by + [C, N], kind="stable").reset_index(drop=True)
    seg = d.groupby(by + [C], sort=False).ngroup().to_numpy()
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    x = np.log(d[N].to_numpy(float))
    yv = d[y].to_numpy(float)
    seg_rows = d.iloc[starts]
    n_pts = np.diff(np.r_[starts, len(d)])
    # the smallest observed loss at either end of the budget's range of N
    argmin = np.array([a + int(np.argmin(yv[a:b])) for a, b in zip(starts, np.r_[starts[1:], len(d)])])
    edge = (argmin == starts) | (argmin == np.r_[starts[1:], len(d)] - 1)

    v, lmin, var = (a[0] for a in isoflop_minima(x, yv, starts, method))
    used = np.isfinite(v) & (n_pts >= min_points) & ~(edge & drop_edge)
    logC = np.log(seg_rows[C].to_numpy(float))
    group = (seg_rows.groupby(by, sort=False).ngroup().to_numpy() if by else np.zeros(len(starts), int))
    G = int(group.max()) + 1 if len(group) else 0

    reps_v = None
    if bootstrap:
        unit = _listify(bootstrap_by)
        lab = (d[unit].astype(str).agg("\x1f".join, axis=1).to_numpy() if unit
               else np.char.add(np.char.add(seg.astype(str), ":"), np.arange(len(d)).astype(str)))
        counts, inv = unit_counts(lab, int(bootstrap), seed)
        reps_v = isoflop_minima(x, yv, starts, method, counts[:, inv])[0]  # (R, S)
    if weights == "inverse_variance":
        if method == "parabola":
            wvar = var.copy()
        elif reps_v is not None:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                wvar = np.nanvar(reps_v, axis=0, ddof=1)
        else:
            raise ValueError("weights='inverse_variance' with method='akima' needs bootstrap > 0 "
                             "(the variance of each minimum comes from the resamples)")
    elif weights == "equal":
        wvar = np.ones_like(v)
    else:
        raise ValueError(f"weights must be 'inverse_variance' or 'equal', got {weights!r}")
    # a budget of exactly three points (or a degenerate resample) has no variance estimate: it
    # gets the median variance of the others rather than an infinite weight
    good = np.isfinite(wvar) & (wvar > 0) & used
    wvar = np.where(np.isfinite(wvar) & (wvar > 0), wvar, np.median(wvar[good]) if good.any() else 1.0)
    w = 1.0 / wvar
    w = np.where(used, w, 0.0)

    def lines(vv):  # (..., S) -> per group
        U = np.full(vv.shape[:-1] + (G, len(starts)), np.nan)
        V = np.full_like(U, np.nan)
        W = np.zeros_like(U)
        for g in range(G):  # groups are the separate analyses (few)
            m = group == g
            U[..., g, :][..., m] = logC[m]
            V[..., g, :][..., m] = vv[..., m]
            W[..., g, :][..., m] = w[m]
        return _wls_line(U, V, W)

    a, icpt, var_a, var_i, cov = lines(v)
    optima = seg_rows[by + [C]].reset_index(drop=True).copy()
    optima["N_opt"] = np.exp(v)
    optima["D_opt"] = optima[C].to_numpy(float) / (flops_per_token * optima["N_opt"])
    optima["L_opt"] = lmin
    optima["var_log_N"] = var if method == "parabola" else (np.nanvar(reps_v, axis=0, ddof=1)
                                                            if reps_v is not None else np.nan)
    optima["n_points"] = n_pts
    optima["edge"] = edge
    optima["used"] = used
    keys = (seg_rows[by].drop_duplicates().reset_index(drop=True) if by else pd.DataFrame(index=range(max(G, 1))))
    ex = keys.copy()
    ex["a"], ex["a_stderr"] = a, np.sqrt(var_a)
    ex["b"], ex["b_stderr"] = 1.0 - a, np.sqrt(var_a)
    ex["k_N"] = np.exp(icpt)
    ex["k_N_stderr"] = np.exp(icpt) * np.sqrt(var_i)
    ex["k_D"] = 1.0 / (flops_per_token * np.exp(icpt))
    ex["k_D_stderr"] = ex["k_D"] * np.sqrt(var_i)
    ex["n_budgets"] = [int(np.sum(used & (group == g))) for g in range(G)]
    replicates = None
    if reps_v is not None:
        ra, ri, _, _, _ = lines(reps_v)  # (R, G)
        replicates = {"a": ra.T, "log_k_N": ri.T}
        lo, hi = percentile_interval(ra, level, axis=0)
        ex["a_low"], ex["a_high"] = lo, hi
        ex["b_low"], ex["b_high"] = 1.0 - hi, 1.0 - lo
        klo, khi = percentile_interval(np.exp(ri), level, axis=0)
        ex["k_N_low"], ex["k_N_high"] = klo, khi
    return IsoflopResult(optima=optima, exponents=ex, replicates=replicates, by=by,
                         flops_per_token=float(flops_per_token), level=float(level))
