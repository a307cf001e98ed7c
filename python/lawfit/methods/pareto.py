"""Fits on the Pareto front: the best runs at each cost, chosen again in every resample.

Cherti et al. (2023, arXiv:2212.07143) and Nezhurina et al. (2025, arXiv:2506.04598, the
CLIP/MaMMUT comparison) fit their laws to the *lower envelope* of error against compute
over many hyper-parameter settings: only the runs no cheaper run beats.  Which runs form
the front is itself estimated from the data, so :func:`fit_pareto` re-selects the front in
every bootstrap resample (the authors' code resamples the front's points only, which
leaves that choice out of the intervals).  :func:`kinetics_frontier` is the same envelope
for test-time configurations (Sadhukhan et al. 2025): the most accurate configuration at
each effective cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..api import load_table, resolve_law
from ..catalog.testtime import kinetics_cost
from ..result import FitResult
from ..uncertainty import percentile_interval
from ._resample import REPLICATE, per_replicate, quiet_fit, replicate_rows

__all__ = ["pareto_front", "fit_pareto", "ParetoFit", "kinetics_frontier"]


def _listify(cols) -> list:
    if cols is None:
        return []
    return [cols] if isinstance(cols, str) else list(cols)


def pareto_front(df, x: str, y: str, *, by=None, minimize: bool = True, bins: Optional[int] = None) -> np.ndarray:
    """Boolean mask of the rows on the front of ``y`` against ``x`` within each ``by`` group.

    ``minimize=True`` (error, loss): a row is on the front when no row of its group with
    ``x`` at most its own has a lower ``y`` (the lower envelope); ``minimize=False``
    (accuracy): the upper envelope.  With ``bins``, the best row of each of ``bins``
    equal-width bins of log x (LAION's ``pareto_bin``) that also lies on the envelope.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"C": [1, 2, 2, 4, 8], "err": [0.9, 0.7, 0.8, 0.75, 0.5]})
    >>> pareto_front(d, "C", "err").tolist()
    [True, True, False, False, True]
    """
    by = _listify(by)
    sign = 1.0 if minimize else -1.0
    xv = df[x].to_numpy(dtype=float)
    yv = sign * df[y].to_numpy(dtype=float)
    codes = (df.groupby(by, sort=False, dropna=False).ngroup().to_numpy() if by else np.zeros(len(df), int))
    # sort by group, then x, then y: a row is on the front when its y is below the running
    # minimum of every earlier (cheaper, or as cheap and better) row of the group
    order = np.lexsort((yv, xv, codes))
    ys, cs = yv[order], codes[order]
    mask = np.zeros(len(df), dtype=bool)
    starts = np.flatnonzero(np.r_[True, cs[1:] != cs[:-1]])
    bounds = np.r_[starts, len(cs)]
    run_min = np.empty_like(ys)
    for a, b in zip(bounds[:-1], bounds[1:]):  # one accumulate per group (groups are few)
        run_min[a:b] = np.minimum.accumulate(ys[a:b])
    prev = np.r_[np.inf, run_min[:-1]]
    prev[starts] = np.inf
    mask[order] = ys < prev
    if bins:
        lx = np.log(xv)
        edges = np.linspace(np.nanmin(lx), np.nanmax(lx), int(bins) + 1)
        b = np.clip(np.searchsorted(edges, lx, side="right") - 1, 0, int(bins) - 1)
        best = np.zeros(len(df), dtype=bool)
        key = codes * (int(bins) + 1) + b
        cand = np.flatnonzero(mask)
        o = cand[np.lexsort((yv[cand], key[cand]))]
        first = np.r_[True, key[o][1:] != key[o][:-1]]
        best[o[first]] = True
        mask = best
    return mask


@dataclass
class ParetoFit:
    """A law fitted to the Pareto front, with intervals from fronts chosen per resample.

    Attributes
    ----------
    result : FitResult
        The fit to the full data's front (estimates, status, predictions).
    front : ndarray of bool
        The full data's front (rows of the table given).
    replicates : ndarray (G, R, P) or None
        Estimates on each resample's own front (NaN where a fit failed).
    """

    result: FitResult
    front: np.ndarray
    replicates: Optional[np.ndarray]
    level: float = 0.95

    @property
    def params(self):
        """``result.params`` with percentile intervals and stderr from the front-resampling bootstrap."""
        df = self.result.params
        if self.replicates is None:
            return df
        lo, hi = self.interval(self.level)
        with np.errstate(invalid="ignore"):
            se = np.nanstd(self.replicates, axis=1, ddof=1)
        for j, p in enumerate(self.result.param_names):
            df[f"{p}_low"], df[f"{p}_high"], df[f"{p}_stderr"] = lo[:, j], hi[:, j], se[:, j]
        df["n_resamples"] = self.replicates.shape[1]
        df["n_failed_resamples"] = (~np.isfinite(self.replicates).all(axis=2)).sum(axis=1)
        return df

    def interval(self, level: float = 0.95):
        """Percentile interval (G, P) of every parameter over the resamples' front fits."""
        if self.replicates is None:
            raise ValueError("fit_pareto(..., bootstrap=R) gives intervals")
        reps = np.moveaxis(self.replicates, 1, 0)  # (R, G, P)
        return percentile_interval(reps, level, axis=0)


def fit_pareto(data, law, *, x, y: str, by=None, minimize: bool = True, bins: Optional[int] = None,
               bootstrap: int = 0, bootstrap_by=None, seed: int = 0, level: float = 0.95,
               progress: bool = False, **fit_kwargs) -> ParetoFit:
    """Fit ``law`` to the Pareto front of ``y`` against ``x[0]`` (e.g. error against compute).

    Parameters
    ----------
    data : DataFrame or path
    law : catalog name, Law or formula
    x : str or list of str
        The law's inputs; the front is taken along the first (the cost).
    y : str
    by : str or list of str, optional
        One front and one law per group (e.g. model family and dataset).
    minimize, bins
        As :func:`pareto_front`.
    bootstrap : int
        Resamples: each resample's points (rows, or whole ``bootstrap_by`` units,
        repeated by Poisson(1) counts) get their own front and fit; all resamples
        are one batch.
    seed, level, progress
    **fit_kwargs
        Passed to :func:`lawfit.fit` (loss, starts, bounds, recipe, ...).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> C = np.repeat(np.geomspace(1e8, 1e12, 12), 5)
    >>> err = 30 * C**-0.15 + 0.1 + rng.uniform(0, 0.1, C.size)    # hyper-parameters only add error
    >>> pf = fit_pareto(pd.DataFrame({"C": C, "err": err}), "cherti_clip", x="C", y="err")
    >>> int(pf.front.sum()) <= 12
    True
    """
    df = load_table(data).reset_index(drop=True)
    xs = _listify(x)
    law_obj, x_cols = resolve_law(law, xs)
    by = _listify(by)
    front = pareto_front(df, x_cols[0], y, by=by, minimize=minimize, bins=bins)
    res = quiet_fit(df[front], law_obj, x=x_cols, y=y, by=by or None, progress=progress, **fit_kwargs)
    reps = None
    if bootstrap:
        def keep(copy):
            return pareto_front(copy, x_cols[0], y, by=by, minimize=minimize, bins=bins)

        rep = replicate_rows(df, int(bootstrap), seed=seed, unit=_listify(bootstrap_by) or None, keep=keep)
        rres = quiet_fit(rep, law_obj, x=x_cols, y=y, by=by + [REPLICATE], progress=progress, nan_policy="omit",
                   **fit_kwargs)
        reps = per_replicate(res, rres, by, int(bootstrap))
    return ParetoFit(result=res, front=front, replicates=reps, level=level)


def kinetics_frontier(data, *, accuracy: str = "accuracy", N: str = "N", kv: str = "kv", L_out: str = "L_out",
                      L_in: Optional[str] = None, r: Optional[str] = None, k: Optional[str] = None,
                      batch: Optional[str] = None, intensity: float = 562.5, by=None):
    """The accuracy frontier of test-time configurations under the Kinetics cost model.

    Adds ``eflops`` (:func:`lawfit.catalog.kinetics_cost`: compute + intensity x memory
    bytes, per problem) to the table and returns the configurations on the upper
    envelope of ``accuracy`` against it (per ``by`` group), sorted by cost: for every
    budget, the model size x samples x generation length that reaches the highest
    accuracy (Sadhukhan et al. 2025, §4).  Columns not given default to L_in = 0,
    r = 1, k = 1, batch = 1.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"N": [1e9, 1e9, 8e9], "kv": [2 * 16 * 8 * 64] * 2 + [2 * 32 * 8 * 128],
    ...                   "L_out": [1000, 8000, 1000], "accuracy": [0.2, 0.3, 0.25]})
    >>> kinetics_frontier(d)[["N", "L_out", "accuracy"]].to_numpy().tolist()
    [[1000000000.0, 1000.0, 0.2], [8000000000.0, 1000.0, 0.25], [1000000000.0, 8000.0, 0.3]]
    """
    df = load_table(data).copy()

    def col(name, default):
        return df[name].to_numpy(dtype=float) if name else np.full(len(df), float(default))

    df["eflops"] = kinetics_cost(df[N].to_numpy(dtype=float), df[kv].to_numpy(dtype=float),
                                 df[L_out].to_numpy(dtype=float), L_in=col(L_in, 0.0), r=col(r, 1.0),
                                 k=col(k, 1.0), batch=col(batch, 1.0), intensity=intensity)
    on = pareto_front(df, "eflops", accuracy, by=by, minimize=False)
    return df[on].sort_values(_listify(by) + ["eflops"]).reset_index(drop=True)
