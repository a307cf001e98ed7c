"""Extrapolation checks: fit on smaller models (or a prefix of training), predict the largest.

The protocol of Choshen, Zhang and Andreas (2024), "A Hitchhiker's Guide to
Scaling Law Estimation" (arXiv:2410.11840, sec. 3): within a family of models
trained alike, the *target* is the largest model; a law is fitted to some of
the other models' checkpoints and scored by the absolute relative error

    ARE = mean over the target's test checkpoints of |L - L_hat| / L,

the test checkpoints being the last ``1 - test_from`` (30%) of the target's
training.  Two designs:

* ``scheme="leave_largest_out"``: fit on the ``k`` smallest models (or, with
  ``window=True``, every run of ``k`` consecutive sizes below the target),
  each truncated to the first ``f`` of its training, for every ``k`` in
  ``n_models`` and ``f`` in ``fractions`` -- the paper's "number of models x
  percentage of training" grids (its Figs. 2-4).
* ``scheme="rolling_origin"``: fit on every model of the family *including*
  the target, each cut at the origin ``f`` of its own training (``f <=
  test_from``), and predict the target's remaining training -- time-series
  cross-validation with a rolling forecast origin.
* ``scheme="rollout"``: fit on the ``k`` smallest models and predict the next
  size up, for every ``k`` -- one step of extrapolation at every scale (the
  target is model ``k + 1``, not the largest).

``overestimate`` fits every cut-off with an asymmetric least-squares penalty
(over-predictions weighted that many times, :func:`lawfit.methods.fit_asymmetric`).

Every (family, cut-off) pair is one law of a single :func:`lawfit.fit` batch.

Departures from the paper's code (ColPret ``experiments/``): training is cut
at a fraction of each model's own final token count (the paper uses the
largest count among the fitted models; they coincide when all models see the
same tokens), and checkpoints are dropped below ``min_time`` only when asked
(the paper drops those under 10^10 tokens).
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence

import numpy as np

from .engine.options import Options
from .status import LawfitWarning, summarize_status, user_stacklevel
from .api import _columns_of, _listify, _py, fit, load_table, resolve_law
from .result import _pd

__all__ = ["evaluate", "Evaluation", "absolute_relative_error"]


def absolute_relative_error(y, y_hat) -> float:
    """mean |y - y_hat| / |y| (Choshen et al. 2024's ARE).

    Examples
    --------
    >>> round(absolute_relative_error([2.0, 4.0], [2.2, 3.6]), 12)
    0.1
    """
    y = np.asarray(y, dtype=float)
    y_hat = np.asarray(y_hat, dtype=float)
    return float(np.mean(np.abs(y - y_hat) / np.abs(y)))


class Evaluation:
    """The outcome of :func:`evaluate`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (family, cut-off): the family, ``n_models`` (models
        fitted), ``fraction`` (share of each model's training used), ``first_model``
        (window start, with ``window=True``), ``target`` (the held-out
        run), ``target_size``, ``largest_train_size``, ``n_train_runs``,
        ``size_ratio`` (largest fitted size / target size), ``n_train_points``,
        ``n_test_points``, ``are``, ``status``, ``converged``, ``identified``
        (see :func:`lawfit.uncertainty.identifiability`), ``reason`` (why a
        cut-off failed or has no ARE) and the fitted parameters.
    fit : FitResult
        The batch fit of every cut-off (its groups are the cut-offs).
    skipped : list of str
        Families or cut-offs left out, and why.
    """

    def __init__(self, table, fit_result, skipped, settings):
        self.table = table
        self.fit = fit_result
        self.skipped = list(skipped)
        self.settings = dict(settings)

    def summary(self, by="n_models", converged_only: bool = True):
        """ARE per value of ``by``: families and cut-offs counted, median, mean, 75th percentile."""
        pd = _pd()
        by = _listify(by)
        t = self.table
        if converged_only:
            t = t[t["converged"]]
        g = t.groupby(by, sort=True)
        are = g["are"]
        out = pd.DataFrame({"n_families": g[self.settings["family"]].nunique(), "n_cutoffs": are.size(),
                            "median_are": are.median(), "mean_are": are.mean(), "q75_are": are.quantile(0.75)})
        return out.reset_index()

    def pivot(self, index: str = "n_models", columns: str = "fraction", stat: str = "median",
              converged_only: bool = True):
        """ARE (median or mean over families) in a grid, e.g. models used x share of training."""
        t = self.table
        if converged_only:
            t = t[t["converged"]]
        if stat not in ("median", "mean"):
            raise ValueError("stat must be 'median' or 'mean'")
        return t.pivot_table(index=index, columns=columns, values="are", aggfunc=stat)

    def plot(self, **kwargs):
        """Heat map of the ARE grid (:func:`lawfit.plot.plot_are`)."""
        from .plot import plot_are

        return plot_are(self, **kwargs)

    def __repr__(self) -> str:
        t = self.table
        fam = self.settings.get("family")
        lines = [f"Evaluation: {self.settings.get('scheme')} on {t[fam].nunique() if fam in t else 0} families, "
                 f"{len(t)} cut-offs ({self.fit.summary if self.fit is not None else 'no fit'})"]
        if len(t):
            with _pd().option_context("display.width", 120, "display.float_format", lambda v: f"{v:.4g}"):
                lines.append(self.summary().to_string(index=False))
        if self.skipped:
            lines.append(f"skipped: {len(self.skipped)} (see .skipped)")
        return "\n".join(lines)


def evaluate(data, law="chinchilla", *, x: Optional[Sequence[str]] = None, y: str = "loss",
             family: str = "family", run: str = "run", size: Optional[str] = None, time: Optional[str] = None,
             scheme: str = "leave_largest_out", n_models: Optional[Sequence[int]] = None,
             fractions: Sequence[float] = (1.0,), window: bool = False, test_from: float = 0.7,
             min_time: Optional[float] = None, min_models: int = 2, loss=None, delta=None, residual=None,
             starts=None, prune="auto", device: str = Options.device, seed: int = 0,
             progress: bool = True, nan_policy: str = "propagate",
             overestimate: Optional[float] = None) -> Evaluation:
    """Fit on smaller models (or a prefix of training) and score the prediction of the largest.

    Parameters
    ----------
    data : DataFrame or path
        One row per (run, checkpoint).
    law : str or Law
        The law (default Chinchilla's, as in the paper).
    x : list of str
        Input columns (default: the law's input names, e.g. ``N, D``).
    y : str
        The loss column.
    family, run : str
        Columns naming the family (models meant to be fitted together; ColPret's
        ``scaled_set``) and the run (one model's training).
    size, time : str, optional
        The model-size column that ranks runs (default ``x[0]``) and the
        training-progress column that orders checkpoints (default ``x[1]``;
        without it every row of the target is a test point).
    scheme : {"leave_largest_out", "rolling_origin", "rollout"}
        See the module notes.
    n_models : sequence of int, optional
        Numbers of models to fit on (default ``min_models`` up to all but the
        target; for ``"rollout"``, up to all but the largest).
    fractions : sequence of float
        Shares of each fitted model's training to use (cut-offs).
    window : bool
        Fit on every window of ``k`` consecutive sizes instead of the ``k``
        smallest.
    test_from : float
        The target's checkpoints from this share of its training on are the
        test set (0.7: the last 30%).
    min_time : float, optional
        Drop checkpoints at or below this progress (the paper: 1e10 tokens).
    loss, delta, residual, starts, prune, device, seed, progress
        Passed to :func:`lawfit.fit`.  Small cut-offs run their whole start
        grid by default; ``prune="race"`` cuts the hopeless starts short
        (about 4x faster on the Hitchhiker cut-offs, but 8% of windowed
        cut-offs then end at a worse optimum: :mod:`lawfit.engine.starts`).
    nan_policy : {"propagate", "omit", "raise"}
        Rows with missing or non-finite values in the columns used:
        ``"propagate"`` (default) keeps them -- a cut-off whose training rows
        hold one fails with BAD_INPUT and a reason naming the row and column
        (the others are fitted and scored), and a target whose test rows hold
        one gets a NaN ARE with a reason; ``"omit"`` drops those rows first;
        ``"raise"`` raises a ValueError naming the first.
    overestimate : float, optional
        Fit with asymmetric least squares instead, over-predictions weighted
        ``overestimate`` times (:func:`lawfit.methods.fit_asymmetric`; the loss
        is then least squares).

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rows = []
    >>> for N in [1e8, 2e8, 4e8, 8e8, 1.6e9]:
    ...     D = np.geomspace(1e9, 1e11, 20)
    ...     rows.append(pd.DataFrame({"family": "f", "run": f"m{N:g}", "N": N, "D": D,
    ...                               "loss": 1.7 + 400 * N**-0.34 + 410 * D**-0.28}))
    >>> ev = evaluate(pd.concat(rows), n_models=[3, 4], fractions=[0.5, 1.0], progress=False)
    >>> ev.table[["n_models", "fraction", "are"]].round(4)
       n_models  fraction  are
    0         3       0.5  0.0
    1         3       1.0  0.0
    2         4       0.5  0.0
    3         4       1.0  0.0
    """
    pd = _pd()
    if scheme not in ("leave_largest_out", "rolling_origin", "rollout"):
        raise ValueError(f"scheme must be 'leave_largest_out', 'rolling_origin' or 'rollout', got {scheme!r}")
    if not 0.0 < test_from <= 1.0:
        raise ValueError("test_from must be in (0, 1]")
    law_obj, x_cols = resolve_law(law, x, _columns_of(data))
    size = size or x_cols[0]
    time = time if time is not None else (x_cols[1] if len(x_cols) > 1 else None)
    df = load_table(data)
    need = [family, run, y, size] + x_cols + ([time] if time else [])
    missing = [c for c in dict.fromkeys(need) if c not in df.columns]
    if missing:
        raise ValueError(f"column(s) {missing} not in the data (columns: {', '.join(map(str, df.columns))})")
    if nan_policy not in ("propagate", "omit", "raise"):
        raise ValueError(f"nan_policy must be 'propagate', 'omit' or 'raise', got {nan_policy!r}")
    df = df[list(dict.fromkeys(need))].copy()
    num = [c for c in dict.fromkeys([y, size] + x_cols + ([time] if time else []))]
    for c in num:
        conv = pd.to_numeric(df[c], errors="coerce")
        text = conv.isna().to_numpy() & df[c].notna().to_numpy()
        if text.any() and (nan_policy == "raise" or not conv.notna().any()):
            pos = int(np.argmax(text))
            raise ValueError(f"column {c!r} is not numeric: row {df.index[pos]!r} holds {df[c].iloc[pos]!r}")
        df[c] = conv
    finite = np.isfinite(df[num].to_numpy(dtype=float))
    if not finite.all():
        if nan_policy == "raise":
            pos, col = np.argwhere(~finite)[0]
            raise ValueError(f"column {num[col]!r} has {int((~finite[:, col]).sum())} missing or non-finite "
                             f"value(s), first at row {df.index[pos]!r}; drop those rows, or pass "
                             "nan_policy='omit' (skip them) or 'propagate' (their cut-offs fail with BAD_INPUT)")
        if nan_policy == "omit":
            df = df[finite.all(axis=1)]
    if min_time is not None and time:
        df = df[df[time] > min_time]
    fractions = sorted({float(f) for f in fractions})
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must be one or more numbers in (0, 1], got {fractions}")
    skipped = []
    if scheme == "rolling_origin":
        late = [f for f in fractions if f > test_from]
        if late:
            skipped.append(f"fractions {late} overlap the test set (test_from={test_from}) and were dropped")
            fractions = [f for f in fractions if f <= test_from]
        if not fractions:
            raise ValueError("rolling_origin needs fractions at or below test_from")

    # Every cut-off is a list of row positions and its key values; the train and test
    # tables are gathered once at the end (no DataFrame per cut-off).
    train_rows, test_rows, cut_keys, meta = [], [], [], []
    tmax = df.groupby(run)[time].transform("max").to_numpy(dtype=float) if time else None
    labels = df.index.to_numpy()  # the caller's row labels, for the reasons of failed cut-offs
    df = df.reset_index(drop=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        tfrac = df[time].to_numpy(dtype=float) / tmax if time else np.ones(len(df))
    # A checkpoint whose progress is unknown (nan_policy='propagate') belongs to every cut-off
    # of its run, train or test, so that it fails what it touches instead of vanishing.
    unknown = ~np.isfinite(tfrac)
    run_col = df[run].to_numpy()
    for fam, pos in df.groupby(family, sort=True).indices.items():
        fd = df.iloc[pos]
        sizes = fd.groupby(run)[size].first()
        order = sorted(sizes.index, key=lambda r: (sizes[r], str(r)))
        if len(order) < (min_models + 1 if scheme in ("leave_largest_out", "rollout") else 1):
            skipped.append(f"{family}={fam!r}: {len(order)} run(s)")
            continue
        fam_runs, fam_frac, fam_unknown = run_col[pos], tfrac[pos], unknown[pos]
        if scheme == "leave_largest_out":
            smaller = order[:-1]
            ks = list(n_models) if n_models is not None else list(range(min_models, len(smaller) + 1))
            combos = []
            for k in ks:
                if k < 1 or k > len(smaller):
                    continue
                starts_ = range(len(smaller) - k + 1) if window else [0]
                combos += [(k, i, smaller[i:i + k], order[-1]) for i in starts_]
        elif scheme == "rollout":
            ks = list(n_models) if n_models is not None else list(range(min_models, len(order)))
            combos = [(k, 0, order[:k], order[k]) for k in ks if 1 <= k < len(order)]
        else:
            combos = [(len(order), 0, order, order[-1])]
        for k, first, runs, target in combos:
            test_pos = pos[(fam_runs == target) & (((fam_frac >= test_from) | fam_unknown) if time else True)]
            if test_pos.size == 0:
                skipped.append(f"{family}={fam!r}: no test checkpoints for {target!r}")
                continue
            in_runs = np.isin(fam_runs, np.asarray(runs, dtype=object))
            for f in fractions:
                part = pos[in_runs & ((fam_frac <= f + 1e-12) | fam_unknown)] if time else pos[in_runs]
                if part.size == 0:
                    skipped.append(f"{family}={fam!r}, {k} models, fraction {f}: no checkpoints")
                    continue
                key = {family: fam, "n_models": k, "fraction": f}
                if window:
                    key["first_model"] = first
                train_rows.append(part)
                test_rows.append(test_pos)
                cut_keys.append(key)
                meta.append({**key, "target": target, "target_size": float(sizes[target]),
                             "largest_train_size": float(sizes[runs[-1]]),
                             "n_train_runs": len(runs)})
    keys = [family, "n_models", "fraction"] + (["first_model"] if window else [])
    if not train_rows:
        raise ValueError("no family has enough runs to evaluate: " + "; ".join(skipped[:5]))

    def gather(rows):
        """The rows of every cut-off stacked, with the cut-off's key columns."""
        at = np.concatenate(rows)
        table = df.iloc[at].set_axis(labels[at], axis=0)
        lengths = [r.size for r in rows]
        for kk in keys[1:]:
            table[kk] = np.repeat([c[kk] for c in cut_keys], lengths)
        return table

    train, test = gather(train_rows), gather(test_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LawfitWarning)  # one warning below, about cut-offs
        if overestimate is None:
            res = fit(train, law_obj, x=x_cols, y=y, by=keys, loss=loss, delta=delta, residual=residual,
                      starts=starts, prune=prune, device=device, seed=seed, progress=progress,
                      nan_policy="propagate")
        else:
            from .methods.asymmetric import fit_asymmetric

            res = fit_asymmetric(train, law_obj, x=x_cols, y=y, by=keys, overestimate=overestimate,
                                 residual=residual, starts=starts, prune=prune, device=device, seed=seed,
                                 progress=progress, nan_policy="propagate")
    pred = res.predict(test)
    gi = res.select_groups(test)
    assert gi is not None  # the test rows carry every key column of the fit
    with np.errstate(all="ignore"):
        rel = np.abs(test[y].to_numpy(dtype=float) - pred["prediction"].to_numpy()) / \
            np.abs(test[y].to_numpy(dtype=float))
    G = res.n_groups
    n_test = np.bincount(gi, minlength=G)
    are = np.bincount(gi, weights=rel, minlength=G) / np.maximum(n_test, 1)
    table = res.keys.copy()
    info = pd.DataFrame(meta)
    table = table.merge(info, on=keys, how="left")
    table["size_ratio"] = table["largest_train_size"] / table["target_size"]
    table["n_train_points"] = res.n_points
    table["n_test_points"] = n_test
    table["are"] = np.where(res.converged, are, np.nan)
    p = res.params
    reason = p["reason"].to_numpy(dtype=object).copy()
    scored = [c for c in dict.fromkeys([y] + x_cols)]
    test_ok = np.isfinite(test[scored].to_numpy(dtype=float))
    unscored = 0
    for g in np.unique(gi[~test_ok.all(axis=1)]).tolist():  # the target's own rows cannot be scored
        k, c = np.argwhere(~test_ok & (gi == g)[:, None])[0]
        if res.converged[g]:
            unscored += 1
            reason[g] = (f"missing value in column {scored[c]!r} of the target's test rows (run "
                         f"{_py(test[run].iloc[k])!r}); its ARE is NaN")
    if unscored or not res.converged.all():
        failed = np.flatnonzero(~res.converged)
        first_reason = f"; first: {reason[failed[0]]}" if failed.size else ""
        tail = f"; {unscored} converged cut-off(s) cannot be scored (missing test values)" if unscored else ""
        warnings.warn(f"lawfit.evaluate: {int(failed.size)} of {res.n_groups} cut-offs did not converge "
                      f"({summarize_status(res.status)}){first_reason}{tail}; their ARE is NaN "
                      "(see .table['reason'])", LawfitWarning, stacklevel=user_stacklevel())
    table["status"] = p["status"].to_numpy()
    table["converged"] = p["converged"].to_numpy()
    table["identified"] = p["identified"].to_numpy()
    table["reason"] = reason
    for name in res.param_names:
        table[name] = p[name].to_numpy()
    settings = dict(scheme=scheme, family=family, run=run, size=size, time=time, test_from=test_from,
                    min_time=min_time, law=law_obj.name or law_obj.formula, overestimate=overestimate)
    return Evaluation(table, res, skipped, settings)
