"""Resampling whole fitting pipelines: the replicated table every method's bootstrap fits in one batch.

A method whose estimate is not one law fitted to fixed rows -- a chain of laws, a fit on
the Pareto front chosen from the data, a fit whose weights depend on its residuals -- is
bootstrapped by running the whole procedure on resampled data.  Here a resample is the
table with every unit's rows repeated by a Poisson(1) count (Hanley & MacGibbon 2006: the
large-n limit of the multinomial bootstrap, as :mod:`lawfit.bootstrap` draws in the core),
so any loss (Huber included) sees the multiplicities exactly; the R resamples are stacked
with a ``_replicate`` column and fitted as R groups of one :func:`lawfit.fit` call.

Counts are drawn with numpy from ``seed`` keyed by the unit's label: the same label (a run,
a model) gets the same count in every stage of a chain, so units move together through it.
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import numpy as np

__all__ = ["unit_counts", "replicate_rows", "per_replicate", "quiet_fit", "REPLICATE"]

#: The column naming the resample of a replicated table.
REPLICATE = "_replicate"


def _label_seeds(labels: np.ndarray) -> np.ndarray:
    """A 63-bit integer per label (blake2b of its text): counts follow the label, not its position."""
    return np.array([int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "little") >> 1
                     for v in labels], dtype=np.uint64)


def unit_counts(labels, n_resamples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(1) counts (R, U) for the distinct ``labels`` (U of them), keyed by (seed, label).

    Returns ``(counts, inverse)``: ``inverse`` maps every entry of ``labels`` to its unit.

    Examples
    --------
    >>> c1, _ = unit_counts(["a", "b", "c"], 4, seed=1)
    >>> c2, inv = unit_counts(["c", "a"], 4, seed=1)
    >>> bool((c1[:, [2, 0]] == c2[:, inv]).all())          # a label's counts do not depend on the others
    True
    """
    labels = np.asarray(labels).ravel()
    uniq, inverse = np.unique(labels.astype(str), return_inverse=True)
    seeds = _label_seeds(uniq)
    counts = np.empty((int(n_resamples), uniq.size), dtype=np.int64)
    for j, s in enumerate(seeds):  # one generator per unit: U small generators, not a loop over points
        counts[:, j] = np.random.default_rng([int(seed), int(s)]).poisson(1.0, int(n_resamples))
    return counts, inverse.ravel()


def replicate_rows(df, n_resamples: int, *, seed: int = 0, unit: Optional[Sequence[str]] = None,
                   keep=None, always=None):
    """The table stacked R times, each copy's units repeated by their Poisson counts.

    Parameters
    ----------
    df : pandas.DataFrame
    n_resamples : int
    seed : int
    unit : list of str, optional
        Columns whose values name a unit resampled as a whole (e.g. ``["run"]``);
        default: every row is a unit (labelled by its index).
    keep : callable, optional
        ``keep(copy) -> boolean mask``: applied to each resample after the
        repetition (e.g. the Pareto front of the resampled points).
    always : array_like of bool, optional
        Rows kept exactly once in every resample (constraints rather than data,
        e.g. an anchor point a fit adds).

    Returns
    -------
    pandas.DataFrame
        With an int column ``_replicate`` (0 .. R-1).
    """
    import pandas as pd

    if unit:
        lab = df[list(unit)].astype(str).agg("\x1f".join, axis=1).to_numpy() if len(unit) > 1 \
            else df[unit[0]].astype(str).to_numpy()
    else:
        lab = np.asarray(df.index).astype(str)
    counts, inv = unit_counts(lab, n_resamples, seed)
    fixed = None if always is None else np.asarray(always, dtype=bool).ravel()
    parts = []
    for r in range(int(n_resamples)):
        rep = counts[r, inv]
        if fixed is not None:
            rep = np.where(fixed, 1, rep)
        idx = np.repeat(np.arange(len(df)), rep)
        copy = df.iloc[idx].reset_index(drop=True)
        if keep is not None and len(copy):
            copy = copy[np.asarray(keep(copy), dtype=bool)]
        copy[REPLICATE] = r
        parts.append(copy)
    return pd.concat(parts, ignore_index=True)


def per_replicate(res, rres, by: Sequence[str], n_resamples: int) -> np.ndarray:
    """Estimates of a replicated fit as (G, R, P) in the order of the point fit ``res``'s groups.

    ``rres`` is the fit of a :func:`replicate_rows` table grouped by ``by + ["_replicate"]``;
    groups that failed (or had no rows in a resample) are NaN.
    """
    by = list(by)
    G, P = res.n_groups, len(res.param_names)
    out = np.full((G, int(n_resamples), P), np.nan)
    est = np.where(rres.converged[:, None], rres.estimates, np.nan)
    keys = rres.keys
    r = keys[REPLICATE].to_numpy(dtype=int)
    if by:
        index = {tuple(k): g for g, k in enumerate(res.keys[by].itertuples(index=False, name=None))}
        g = np.array([index.get(tuple(k), -1) for k in keys[by].itertuples(index=False, name=None)], dtype=int)
    else:
        g = np.zeros(len(keys), dtype=int)
    ok = g >= 0
    out[g[ok], r[ok]] = est[ok]
    return out


def quiet_fit(*args, **kwargs):
    """:func:`lawfit.fit` without its LawfitWarnings: a method's intervals come from its own
    resampling (the covariance caveats do not apply) and failed resamples are NaN by design."""
    import warnings

    from ..api import fit
    from ..status import LawfitWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LawfitWarning)
        return fit(*args, **kwargs)
