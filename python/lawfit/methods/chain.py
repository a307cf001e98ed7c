"""Chained fits: one law's output feeding another, bootstrapped through the whole chain.

Many published predictions are two fits in a row:

* **a prediction chain** -- a loss law, then a law from loss to a downstream metric,
  composed to predict the metric from scale: Gadre et al. 2024 (loss, then top-1 error,
  eq. 5), Bhagia et al. 2024 (task loss from (N, D), then a sigmoid to accuracy), Isik et
  al. 2024 (pretraining data to cross-entropy to translation quality);
* **a staged fit** -- a second law holding parameters a first one estimated:
  Muennighoff et al. 2023 (a Chinchilla fit on single-epoch runs, then the decay
  constants of repetition with that base fixed), Farseer's piecewise stages.

:class:`Stage` describes one fit (its law, data, inputs, which earlier stage feeds an
input when predicting, which parameters it takes from an earlier stage);
:func:`fit_chain` fits the stages in order and, with ``bootstrap=R``, refits the
**whole chain** on R resamples -- every stage on the same resample of the units it shares
with the others (``bootstrap_by``, e.g. the training run), each later stage holding the
earlier stages' *replicate* estimates -- so an interval of the final prediction includes
every stage's uncertainty.  All resamples of a stage are one batch
(:mod:`lawfit.methods._resample`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from ..api import load_table, resolve_law
from ..catalog import Law
from ..formula import Expr, Sym, parse
from ..result import FitResult
from ..uncertainty import params_as_inputs, percentile_interval
from ._resample import REPLICATE, per_replicate, quiet_fit, replicate_rows

__all__ = ["Stage", "fit_chain", "ChainFit", "with_inputs_for", "muennighoff_two_stage"]

_FIX = "fixed_"  # prefix of the input columns that carry an earlier stage's estimates


def _listify(cols) -> list:
    if cols is None:
        return []
    return [cols] if isinstance(cols, str) else list(cols)


def _rename(e: Expr, mapping: Mapping[str, str]) -> Expr:
    if isinstance(e, Sym):
        return Sym(mapping[e.name]) if e.name in mapping else e
    if not e.children:
        return e
    return e.with_children([_rename(c, mapping) for c in e.children])


def with_inputs_for(law: Law, names: Sequence[str]) -> Law:
    """``law`` with the parameters ``names`` turned into inputs (``fixed_<name>``).

    Holding a parameter at a value that differs between groups (each bootstrap
    replicate of an earlier stage) is then just a column of the data.

    Examples
    --------
    >>> from lawfit.catalog import laws
    >>> w = with_inputs_for(laws["chinchilla"], ["E", "alpha"])
    >>> w.params, w.input_names
    (('A', 'B', 'beta'), ('N', 'D', 'fixed_E', 'fixed_alpha'))
    """
    names = list(names)
    unknown = [n for n in names if n not in law.params]
    if unknown:
        raise ValueError(f"{unknown} are not parameters of {law.name or law.formula!r}")
    if not names:
        return law
    mapping = {n: _FIX + n for n in names}
    formula = _rename(parse(law.formula), mapping).to_formula()
    keep = [p for p in law.params if p not in names]
    starts = law.starts if callable(law.starts) else {k: v for k, v in law.starts.items() if k in keep}
    inputs = {**law.inputs, **{_FIX + n: f"{n} from an earlier stage" for n in names}}
    return Law(formula, inputs, params={p: law.param_help[p] for p in keep}, name=law.name,
               output=law.output, bounds={k: v for k, v in law.bounds.items() if k in keep},
               starts=starts, fixed={k: v for k, v in law.fixed.items() if k in keep},
               loss=law.loss, loss_delta=law.loss_delta, residual=law.residual, citation=law.citation,
               notes=law.notes)


@dataclass
class Stage:
    """One fit of a chain.

    Parameters
    ----------
    law : catalog name, Law or formula
    x : list of str
        Data columns of the law's inputs (law order).
    y : str
        The column fitted.
    data : DataFrame or path, optional
        This stage's rows (default: the chain's ``data``).
    by : str or list of str, optional
        Groups (one law each); stages that refer to each other share their ``by``
        (or the earlier one has none).
    feed : dict, optional
        ``{input name of this law: earlier stage}`` (index or name): when the
        chain predicts, that input is the earlier stage's prediction.  The fit
        itself uses the observed column.
    fixed_from : dict, optional
        ``{parameter: (earlier stage, its parameter)}``, or ``{parameter:
        earlier stage}`` for the same name: held at that stage's estimate (and,
        in resample r, at its replicate r).
    name : str, optional
        Default: the law's name, else ``stage<k>``.
    always : str, optional
        A boolean column: its True rows are kept once in every resample
        (anchor points, not data).
    **fit_kwargs
        Passed to :func:`lawfit.fit` (loss, starts, bounds, recipe, fixed, ...).
    """

    law: Union[str, Law]
    x: Sequence[str]
    y: str
    data: object = None
    by: object = None
    feed: Optional[Mapping[str, Union[int, str]]] = None
    fixed_from: Optional[Mapping[str, object]] = None
    name: Optional[str] = None
    always: Optional[str] = None
    fit_kwargs: dict = field(default_factory=dict)

    def __init__(self, law, x, y, data=None, *, by=None, feed=None, fixed_from=None, name=None, always=None,
                 **fit_kwargs):
        self.law, self.x, self.y, self.data, self.always = law, _listify(x), y, data, always
        self.by, self.feed, self.fixed_from, self.name = _listify(by), dict(feed or {}), dict(fixed_from or {}), name
        self.fit_kwargs = fit_kwargs


@dataclass
class ChainFit:
    """The fitted chain: every stage's :class:`~lawfit.result.FitResult` and replicates.

    Attributes
    ----------
    stages : list of Stage
    names : list of str
    results : list of FitResult
        Point fits, stage by stage (a stage with ``fixed_from`` reports its own
        parameters; the fixed ones are inputs ``fixed_<name>`` of its law).
    laws : list of Law
        The law each stage fitted (with fixed parameters as inputs).
    replicates : list of ndarray (G, R, P) or None
        Each stage's estimates on every resample of the whole chain.
    """

    stages: list
    names: list
    results: list
    laws: list
    replicates: Optional[list]
    level: float = 0.95

    def stage(self, name_or_index) -> FitResult:
        """The fit of one stage."""
        return self.results[_index(self.names, name_or_index)]

    def predict(self, *, group: int = 0, level: Optional[float] = None, **inputs):
        """Every stage's prediction at the given inputs, each fed by the stages before it.

        Inputs are named by the laws' input names (``N=13e9, D=5e12``); an input
        fed by an earlier stage is taken from that stage's prediction.  With a
        bootstrap every column has percentile ``_low``/``_high`` bounds over the
        resamples of the whole chain.  ``group`` picks the row of ``by`` groups.

        Returns
        -------
        pandas.DataFrame, one row per input point.
        """
        import pandas as pd

        level = self.level if level is None else level
        x = {k: np.atleast_1d(np.asarray(v, dtype=float)).ravel() for k, v in inputs.items()}
        n = max((v.size for v in x.values()), default=1)
        x = {k: np.broadcast_to(v, (n,)) for k, v in x.items()}
        est, reps = {}, {}
        out = pd.DataFrame(index=range(n))
        for k, (stage, law, res) in enumerate(zip(self.stages, self.laws, self.results)):
            cols = {}
            for inp in law.input_names:
                if inp.startswith(_FIX):
                    continue
                if inp in stage.feed:
                    cols[inp] = ("stage", _index(self.names, stage.feed[inp]))
                elif inp in x:
                    cols[inp] = ("given", x[inp])
                else:
                    raise ValueError(f"stage {self.names[k]!r} needs input {inp!r}")
            g = min(group, res.n_groups - 1)
            p_hat = res.estimates[g]
            est[k] = self._evaluate(stage, law, k, p_hat, cols, est, None, n)
            out[self.names[k]] = est[k]
            if self.replicates is not None:
                R = self.replicates[k].shape[1]
                rp = self.replicates[k][g]  # (R, P)
                reps[k] = self._evaluate(stage, law, k, rp, cols, reps, R, n)
                lo, hi = percentile_interval(reps[k], level, axis=0)
                out[f"{self.names[k]}_low"], out[f"{self.names[k]}_high"] = lo, hi
        return out

    def _evaluate(self, stage, law, k, params, cols, done, R, n):
        """The stage's law at the points: (n,) for one parameter row, (R, n) for replicates (each
        replicate with its own fed inputs), in one evaluation."""
        pars = np.atleast_2d(params)
        rows = pars.shape[0]
        stacked = []
        for inp in law.input_names:
            if inp.startswith(_FIX):
                src, q = _source(stage.fixed_from, inp[len(_FIX):], self.names)
                j = self.results[src].param_names.index(q)
                v = (np.full(rows, self.results[src].estimates[0, j]) if R is None
                     else self.replicates[src][0, :, j])
                stacked.append(np.repeat(v[:, None], n, axis=1))
            else:
                kind, v = cols[inp]
                arr = np.atleast_2d(done[v]) if kind == "stage" else np.atleast_2d(v)
                stacked.append(np.broadcast_to(arr, (rows, n)))
        prog = params_as_inputs(law.formula, tuple(law.params), tuple(law.input_names))
        matrix = np.vstack([np.asarray(a, float).reshape(1, -1) for a in stacked]
                           + [np.repeat(pars.T, n, axis=1)])
        with np.errstate(all="ignore"):
            value, _ = prog.evaluate_columns(np.empty(0), prog.input_matrix(matrix))
        value = value.reshape(rows, n)
        return value[0] if R is None else value


def _index(names, key) -> int:
    if isinstance(key, (int, np.integer)):
        return int(key)
    if key in names:
        return names.index(key)
    raise KeyError(f"no stage {key!r}; the stages are {names}")


def _source(fixed_from: Mapping, param: str, names) -> tuple[int, str]:
    spec = fixed_from[param]
    if isinstance(spec, tuple):
        return _index(names, spec[0]), str(spec[1])
    return _index(names, spec), param


def _fixed_columns(df, stage: Stage, names, results, laws, replicates, by_rep: bool):
    """Add ``fixed_<p>`` columns: the earlier stages' estimates (per replicate when by_rep)."""
    df = df.copy()
    for p in stage.fixed_from:
        src, q = _source(stage.fixed_from, p, names)
        res = results[src]
        j = res.param_names.index(q)
        if not by_rep:
            if res.n_groups == 1 or not stage.by:
                df[_FIX + p] = res.estimates[0, j]
            else:
                lut = {tuple(k): v for k, v in zip(res.keys[stage.by].itertuples(index=False, name=None),
                                                   res.estimates[:, j])}
                df[_FIX + p] = [lut[tuple(k)] for k in df[stage.by].itertuples(index=False, name=None)]
        else:
            reps = replicates[src][:, :, j]  # (G, R)
            r = df[REPLICATE].to_numpy(dtype=int)
            if res.n_groups == 1 or not stage.by:
                df[_FIX + p] = reps[0, r]
            else:
                index = {tuple(k): g for g, k in enumerate(res.keys[stage.by].itertuples(index=False, name=None))}
                g = np.array([index[tuple(k)] for k in df[stage.by].itertuples(index=False, name=None)])
                df[_FIX + p] = reps[g, r]
    return df


def fit_chain(stages: Sequence[Stage], data=None, *, bootstrap: int = 0, bootstrap_by=None, seed: int = 0,
              level: float = 0.95, progress: bool = False) -> ChainFit:
    """Fit the stages in order; with ``bootstrap`` refit the whole chain on each resample.

    Parameters
    ----------
    stages : list of Stage
    data : DataFrame or path, optional
        Rows of every stage that gives none of its own.
    bootstrap : int
        Resamples of the whole chain.
    bootstrap_by : str or list of str, optional
        Columns naming the unit resampled as a whole, in every stage (e.g.
        ``"run"``: a run's checkpoints and its final loss move together through
        both stages of a ladder fit).  Default: rows, independently per stage.
    seed : int
    level : float
        Interval level of :meth:`ChainFit.predict`.

    Returns
    -------
    ChainFit

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> d = pd.DataFrame({"C": np.geomspace(1e17, 1e21, 30), "M": 20.0})
    >>> d["loss"] = 1.7 + (400 * 20**0.15 + 1000 * 20**-0.15) * d.C**-0.15 + 0.002 * rng.standard_normal(30)
    >>> d["err"] = 0.85 - 6 * np.exp(-1.0 * d.loss) + 0.002 * rng.standard_normal(30)
    >>> chain = fit_chain([Stage("gadre_overtraining", ["C", "M"], "loss"),
    ...                    Stage("gadre_error", ["loss"], "err", feed={"L": 0})], d, bootstrap=50)
    >>> p = chain.predict(C=1e22, M=20.0)
    >>> bool(p.gadre_error_low[0] < p.gadre_error[0] < p.gadre_error_high[0])
    True
    """
    stages = list(stages)
    names = []
    for k, s in enumerate(stages):
        base = s.name or (s.law if isinstance(s.law, str) and s.law.isidentifier() else
                          getattr(s.law, "name", "") or f"stage{k}")
        names.append(base if base not in names else f"{base}_{k}")
    default = None if data is None else load_table(data)
    results, laws_used, frames = [], [], []
    for k, s in enumerate(stages):
        law_obj, x_cols = resolve_law(s.law, s.x)
        law_k = with_inputs_for(law_obj, list(s.fixed_from))
        df = default if s.data is None else load_table(s.data)
        if df is None:
            raise ValueError(f"stage {names[k]!r} has no data")
        df = _fixed_columns(df, s, names, results, laws_used, None, False)
        x_k = list(x_cols) + [_FIX + p for p in s.fixed_from]
        res = quiet_fit(df, law_k, x=x_k, y=s.y, by=s.by or None, progress=progress, **s.fit_kwargs)
        results.append(res)
        laws_used.append(law_k)
        frames.append(df)
    reps = None
    if bootstrap:
        R = int(bootstrap)
        reps = []
        for k, s in enumerate(stages):
            df = frames[k].drop(columns=[c for c in frames[k].columns if c.startswith(_FIX)])
            rep = replicate_rows(df, R, seed=seed, unit=_listify(bootstrap_by) or None,
                                 always=None if s.always is None else df[s.always].to_numpy(dtype=bool))
            rep = _fixed_columns(rep, s, names, results, laws_used, reps, True)
            law_obj, x_cols = resolve_law(s.law, s.x)
            x_k = list(x_cols) + [_FIX + p for p in s.fixed_from]
            rres = quiet_fit(rep, laws_used[k], x=x_k, y=s.y, by=s.by + [REPLICATE], progress=progress,
                       nan_policy="omit", **s.fit_kwargs)
            reps.append(per_replicate(results[k], rres, s.by, R))
    return ChainFit(stages=stages, names=names, results=results, laws=laws_used, replicates=reps, level=level)


_BASE = ("E", "A", "alpha", "B", "beta")


def muennighoff_two_stage(data, *, N: str = "N", D: str = "D", U_D: str = "U_D", y: str = "loss", by=None,
                          bootstrap: int = 0, bootstrap_by=None, seed: int = 0, level: float = 0.95,
                          progress: bool = False) -> ChainFit:
    """Muennighoff et al.'s two stages (App. A), bootstrapped together.

    Stage ``chinchilla``: Hoffmann et al.'s Approach 3 (the published recipe: Huber
    with delta = 1e-3 on log residuals from the 4,500-point grid, LM from its 16 best
    points) on the single-epoch runs (D <= U_D; they should not have excess
    parameters either, N <= N_opt(U_D), as in the paper's base fit).  Stage
    ``muennighoff_raw``: R_N_star and R_D_star on every run with
    E, A, alpha, B, beta held at stage one's estimates (in each resample, at that
    resample's), the same Huber objective, starts R* in {0, 4, ..., 20}.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from lawfit.catalog import laws
    >>> rng = np.random.default_rng(0)
    >>> U = 10 ** rng.uniform(8, 10, 120); N = 10 ** rng.uniform(7, 9, 120)
    >>> D = U * np.where(rng.uniform(size=120) < 0.4, 1.0, rng.uniform(1, 40, 120))
    >>> p = {"E": 1.87, "A": 520.8, "alpha": 0.35, "B": 1487.7, "beta": 0.35, "R_N_star": 5.3, "R_D_star": 15.4}
    >>> d = pd.DataFrame({"N": N, "D": D, "U_D": U})
    >>> d["loss"] = laws["muennighoff_raw"].predict(p, d) * np.exp(0.002 * rng.standard_normal(120))
    >>> two = muennighoff_two_stage(d)
    >>> round(float(two.stage(1).params.R_D_star[0]), 0)
    15.0
    """
    df = load_table(data)
    single = df[df[D].to_numpy(float) <= df[U_D].to_numpy(float) * (1 + 1e-9)]
    grid = {"R_N_star": [0.0, 4.0, 8.0, 12.0, 16.0, 20.0], "R_D_star": [0.0, 4.0, 8.0, 12.0, 16.0, 20.0]}
    # the recipe's 4,500-point grid, LM from its 16 best starts (lawfit's pruning; a small table
    # would otherwise run LM from every start of every resample)
    stages = [Stage("chinchilla", [N, D], y, data=single, by=by, recipe="published", prune=16),
              Stage("muennighoff_raw", [N, D, U_D], y, data=df, by=by, fixed_from={p: 0 for p in _BASE},
                    loss="huber", delta=1e-3, residual="log", starts=grid)]
    return fit_chain(stages, bootstrap=bootstrap, bootstrap_by=bootstrap_by, seed=seed, level=level,
                     progress=progress)
